"""CircuitBreaker behaviour, one rule per test, on a virtual clock (nothing sleeps)."""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

import pytest

from streamguard.breaker import (
    BreakerConfig,
    BreakerEvent,
    CallFailed,
    CallIgnored,
    CallNotPermitted,
    CallSucceeded,
    CircuitBreaker,
    CircuitOpenError,
    ProbeExpired,
    StaleResultIgnored,
    State,
    StateTransition,
)
from streamguard.core import ConfigError, EventBus, TooManyRequests
from streamguard.testing import VirtualClock


class Recorder:
    def __init__(self, bus: EventBus) -> None:
        self.events: list[BreakerEvent] = []
        bus.subscribe(self.events.append)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def states(self) -> list[State]:
        return [e.to_state for e in self.of(StateTransition)]


def make(config: BreakerConfig | None = None, name: str = "payments",
         **kwargs: Any) -> tuple[CircuitBreaker, VirtualClock, Recorder]:
    clock, bus = VirtualClock(), EventBus()
    return CircuitBreaker(name, config, clock=clock, bus=bus, **kwargs), clock, Recorder(bus)


def fail(b: CircuitBreaker, n: int = 1, error: BaseException | None = None) -> None:
    for _ in range(n):
        permit = b.try_acquire()
        assert permit is not None
        b.on_failure(permit, error or ConnectionError("down"))


def succeed(b: CircuitBreaker, n: int = 1, duration: float = 0.0) -> None:
    for _ in range(n):
        permit = b.try_acquire()
        assert permit is not None
        b.on_success(permit, duration)


def now(b: CircuitBreaker) -> State:
    """The breaker's state (a call, so that mypy does not narrow it across statements)."""
    return b.state


SMALL = BreakerConfig(window_size=4, minimum_calls=4, open_duration=10)


# ---------------------------------------------------------------------------- closed → open
def test_defaults_judge_only_after_twenty_calls() -> None:
    b, _, rec = make()
    fail(b, 19)  # 100% failures, but too few calls to judge
    assert now(b) is State.CLOSED
    fail(b)
    assert now(b) is State.OPEN
    assert rec.of(StateTransition)[0].reason == "failure rate 100% >= 50% over 20 calls"


def test_one_failure_at_low_volume_does_not_trip() -> None:
    b, _, _ = make()
    fail(b)
    assert now(b) is State.CLOSED


def test_opens_at_exactly_the_threshold() -> None:
    b, _, _ = make(SMALL)
    succeed(b, 2)
    fail(b)
    assert now(b) is State.CLOSED  # 3 calls: too few to judge
    fail(b)
    assert now(b) is State.OPEN  # 2 of 4 = 50% >= 50%


def test_below_the_threshold_stays_closed() -> None:
    b, _, _ = make(SMALL)
    for _ in range(5):
        succeed(b, 3)
        fail(b)
    assert now(b) is State.CLOSED
    assert b.statistics().failure_rate == 0.25


def test_failure_rate_over_the_count_window() -> None:
    b, _, _ = make(SMALL)
    for outcome in "ssfsf":
        (succeed if outcome == "s" else fail)(b)
    assert now(b) is State.OPEN  # last four: s f s f = 50%


def test_old_failures_leave_the_count_window() -> None:
    b, _, _ = make(SMALL)
    fail(b)
    succeed(b, 4)
    fail(b)
    assert now(b) is State.CLOSED
    assert b.statistics().failures == 1


def test_time_window_judges_the_last_seconds() -> None:
    b, clock, _ = make(BreakerConfig(window="time", window_size=2, minimum_calls=3))
    fail(b, 2)
    clock.tick(2.0)  # those two left the window
    fail(b)
    succeed(b)
    assert now(b) is State.CLOSED
    fail(b)
    assert now(b) is State.OPEN  # 2 of 3 in the last 2 s


def test_slow_calls_open_it() -> None:
    b, _, rec = make(BreakerConfig(window_size=4, minimum_calls=4, slow_call_duration=1.0,
                                   slow_call_rate_threshold=0.5))
    succeed(b, 2, duration=0.1)
    succeed(b, 1, duration=1.0)
    assert now(b) is State.CLOSED
    succeed(b, 1, duration=5.0)
    assert now(b) is State.OPEN
    assert rec.of(StateTransition)[0].reason == "slow call rate 50% >= 50% over 4 calls"
    assert [e.slow for e in rec.of(CallSucceeded)] == [False, False, True, True]


# ---------------------------------------------------------------------------- the error
async def test_open_error_names_breaker_state_and_wait() -> None:
    b, clock, _ = make(SMALL)
    fail(b, 4)
    clock.tick(2.5)
    with pytest.raises(CircuitOpenError) as info:
        await b.acquire()
    assert str(info.value) == (
        "CircuitBreaker 'payments' is OPEN and does not permit further calls "
        "(next probe in 7.5 s)")
    assert (info.value.breaker, info.value.state, info.value.retry_after) == (
        "payments", State.OPEN, 7.5)
    assert info.value.retryable is False


async def test_half_open_error_when_probes_are_busy() -> None:
    b, clock, _ = make(SMALL)
    fail(b, 4)
    clock.tick(10)
    assert b.try_acquire() is not None
    with pytest.raises(CircuitOpenError, match=re.escape(
            "CircuitBreaker 'payments' is HALF_OPEN and does not permit further calls (its "
            "probe calls are all in flight; wait for their results)")):
        await b.acquire()


async def test_forced_open_error_says_how_to_get_out() -> None:
    b, _, _ = make()
    b.force_open()
    with pytest.raises(CircuitOpenError, match=re.escape(
            "CircuitBreaker 'payments' is FORCED_OPEN and does not permit further calls "
            "(forced open: call reset() or disable() to let calls through)")):
        await b.acquire()
    assert b.open_error().retry_after is None


def test_name_must_be_given() -> None:
    with pytest.raises(ConfigError, match=r"^name must be a non-empty string, got ''$"):
        CircuitBreaker("")


# ---------------------------------------------------------------------------- open → half-open
async def test_half_open_is_driven_by_the_timer_not_by_a_call() -> None:
    b, clock, rec = make(SMALL)
    fail(b, 4)
    await clock.advance(9.9)
    assert rec.states() == [State.OPEN]
    await clock.advance(0.1)
    assert rec.states() == [State.OPEN, State.HALF_OPEN]  # no call was made


def test_without_any_timer_the_deadline_is_noticed_when_asked() -> None:
    class SleepOnlyClock:  # a Clock with no call_later, used outside an event loop
        t = 0.0

        def now(self) -> float:
            return self.t

        async def sleep(self, delay: float) -> None:
            raise AssertionError("not used")

    clock = SleepOnlyClock()
    b = CircuitBreaker("lazy", SMALL, clock=clock, bus=EventBus())
    fail(b, 4)
    clock.t = 10.0
    assert now(b) is State.HALF_OPEN


async def test_a_clock_without_call_later_gets_a_sleeping_task() -> None:
    class SleepClock:
        def __init__(self) -> None:
            self.t = 0.0
            self.sleepers: list[asyncio.Future[None]] = []

        def now(self) -> float:
            return self.t

        async def sleep(self, delay: float) -> None:
            fut = asyncio.get_running_loop().create_future()
            self.sleepers.append(fut)
            await fut

    clock = SleepClock()
    bus = EventBus()
    rec = Recorder(bus)
    b = CircuitBreaker("task", SMALL, clock=clock, bus=bus)
    fail(b, 4)
    await asyncio.sleep(0)
    assert len(clock.sleepers) == 1
    clock.t = 10.0
    clock.sleepers[0].set_result(None)
    for _ in range(3):
        await asyncio.sleep(0)
    assert rec.states() == [State.OPEN, State.HALF_OPEN]


async def test_system_clock_uses_a_loop_timer() -> None:
    b = CircuitBreaker("sys", SMALL, bus=EventBus())
    fail(b, 4)
    timer = b._timer
    assert isinstance(timer, asyncio.TimerHandle)
    assert timer.when() == pytest.approx(asyncio.get_running_loop().time() + 10, abs=0.5)
    await b.aclose()
    assert timer.cancelled()
    await b.aclose()  # idempotent
    assert b.state is State.OPEN  # the breaker still answers


async def test_wait_permitted_returns_when_the_timer_fires() -> None:
    b, clock, _ = make(SMALL)
    fail(b, 4)
    waiter = asyncio.create_task(b.wait_permitted())
    await clock.advance(5)
    assert not waiter.done()
    await clock.advance(5)
    assert waiter.done()
    assert b.try_acquire() is not None


# ---------------------------------------------------------------------------- half-open
def open_then_half_open(b: CircuitBreaker, clock: VirtualClock) -> None:
    fail(b, b.config.minimum_calls)
    clock.tick(b.statistics().open_remaining)
    assert now(b) is State.HALF_OPEN


def test_one_probe_at_a_time_then_close() -> None:
    b, clock, rec = make(SMALL)
    open_then_half_open(b, clock)
    probe = b.try_acquire()
    assert probe is not None
    assert b.try_acquire() is None
    assert rec.of(CallNotPermitted)[-1].state is State.HALF_OPEN
    b.on_success(probe)
    assert now(b) is State.CLOSED
    assert rec.of(StateTransition)[-1].reason == "1 probe(s) succeeded"


def test_several_probes_and_successes_needed() -> None:
    b, clock, _ = make(BreakerConfig(window_size=2, minimum_calls=2, half_open_probes=2,
                                     half_open_successes=3))
    open_then_half_open(b, clock)
    p1, p2 = b.try_acquire(), b.try_acquire()
    assert p1 is not None
    assert p2 is not None
    assert b.try_acquire() is None
    b.on_success(p1)
    b.on_success(p2)
    assert now(b) is State.HALF_OPEN
    succeed(b)
    assert now(b) is State.CLOSED


def test_failed_probe_reopens_for_longer() -> None:
    b, clock, rec = make(BreakerConfig(window_size=2, minimum_calls=2, open_duration=1,
                                       open_duration_multiplier=3, max_open_duration=5))
    open_then_half_open(b, clock)
    fail(b)
    assert [e.open_for for e in rec.of(StateTransition) if e.to_state is State.OPEN] == [1, 3]
    clock.tick(3)
    fail(b)
    clock.tick(5)
    succeed(b)
    assert b.statistics().consecutive_reopens == 0
    fail(b, 2)
    opens = [e.open_for for e in rec.of(StateTransition) if e.to_state is State.OPEN]
    assert opens == [1, 3, 5, 1]  # closing resets the growth


def test_a_slow_probe_reopens() -> None:
    b, clock, rec = make(BreakerConfig(window_size=1, minimum_calls=1, slow_call_duration=1.0))
    open_then_half_open(b, clock)
    probe = b.try_acquire()
    assert probe is not None
    b.on_success(probe, 1.5)
    assert now(b) is State.OPEN
    assert rec.of(StateTransition)[-1].reason == "probe was slow"


def test_jitter_comes_from_the_injected_rng() -> None:
    config = BreakerConfig(window_size=1, minimum_calls=1, open_duration=10,
                           open_duration_jitter=0.5)
    durations = []
    for seed in (1, 2):
        b, _, rec = make(config, rng=random.Random(seed))
        fail(b)
        durations.append(rec.of(StateTransition)[0].open_for)
    assert durations == [10 * (1 - 0.5 * random.Random(s).random()) for s in (1, 2)]
    assert all(5 < d <= 10 for d in durations)


def test_a_lost_probe_expires_and_reopens() -> None:
    b, clock, rec = make(BreakerConfig(window_size=1, minimum_calls=1, open_duration=1,
                                       probe_timeout=5))
    open_then_half_open(b, clock)
    lost = b.try_acquire()
    assert lost is not None
    clock.tick(4.9)
    assert b.try_acquire() is None
    clock.tick(0.1)
    assert rec.of(ProbeExpired) == [ProbeExpired("payments", 2, 5.0)]
    assert rec.states()[-1] is State.OPEN
    b.on_success(lost)  # far too late: ignored
    assert rec.of(StaleResultIgnored)[-1].permit == lost
    assert now(b) is State.OPEN


def test_a_cancelled_probe_frees_its_slot_without_a_verdict() -> None:
    b, clock, rec = make(SMALL)
    open_then_half_open(b, clock)
    probe = b.try_acquire()
    assert probe is not None
    b.on_failure(probe, asyncio.CancelledError())
    assert now(b) is State.HALF_OPEN
    assert rec.of(CallIgnored)[-1].reason == "cancelled"
    assert b.try_acquire() is not None


def test_released_permit_frees_the_probe_slot() -> None:
    b, clock, rec = make(SMALL)
    open_then_half_open(b, clock)
    probe = b.try_acquire()
    assert probe is not None
    b.release(probe)
    assert rec.of(CallIgnored)[-1] == CallIgnored("payments", b.generation, None, "released")
    assert b.try_acquire() is not None


# ---------------------------------------------------------------------------- generations
def test_late_result_from_before_the_opening_is_ignored() -> None:
    b, clock, rec = make(SMALL)
    slow_call = b.try_acquire()
    assert slow_call is not None
    fail(b, 4)
    clock.tick(10)
    assert now(b) is State.HALF_OPEN
    b.on_failure(slow_call, TimeoutError())  # from generation 0: must not re-open
    assert now(b) is State.HALF_OPEN
    assert rec.of(StaleResultIgnored) == [StaleResultIgnored("payments", 2, 0, False)]
    assert b.generation == 2


# ---------------------------------------------------------------------------- classification
def test_cancellation_never_counts() -> None:
    b, _, rec = make(BreakerConfig(window_size=1, minimum_calls=1))
    fail(b, 3, asyncio.CancelledError())
    fail(b, 1, KeyboardInterrupt())
    assert now(b) is State.CLOSED
    assert b.statistics().calls == 0
    assert [e.reason for e in rec.of(CallIgnored)] == ["cancelled"] * 4


def test_too_many_requests_does_not_trip() -> None:
    b, _, rec = make(BreakerConfig(window_size=1, minimum_calls=1))
    fail(b, 3, TooManyRequests(retry_after=2))
    assert now(b) is State.CLOSED
    assert [e.reason for e in rec.of(CallIgnored)] == ["throttled"] * 3


def test_any_exception_marked_throttled_does_not_trip() -> None:
    class Http429(Exception):
        throttled = True

    b, _, _ = make(BreakerConfig(window_size=1, minimum_calls=1))
    fail(b, 2, Http429())
    assert now(b) is State.CLOSED


def test_ignored_exceptions_count_as_nothing() -> None:
    b, _, rec = make(BreakerConfig(window_size=1, minimum_calls=1,
                                   ignore_exceptions=(KeyError,)))
    fail(b, 2, KeyError("k"))
    assert b.statistics().calls == 0
    assert rec.of(CallIgnored)[-1].reason == "ignored"


def test_unrecorded_exceptions_count_as_success() -> None:
    b, _, rec = make(BreakerConfig(window_size=2, minimum_calls=2,
                                   record_exceptions=(ConnectionError,)))
    fail(b, 2, ValueError("bad input"))
    assert now(b) is State.CLOSED
    assert b.statistics().calls == 2
    assert len(rec.of(CallSucceeded)) == 2


def test_is_failure_predicate_decides() -> None:
    b, _, _ = make(BreakerConfig(window_size=1, minimum_calls=1,
                                 is_failure=lambda e: "5xx" in str(e)))
    fail(b, 1, RuntimeError("4xx"))
    assert now(b) is State.CLOSED
    fail(b, 1, RuntimeError("5xx"))
    assert now(b) is State.OPEN


# ---------------------------------------------------------------------------- manual control
def test_force_open_refuses_until_closed_by_hand() -> None:
    b, clock, rec = make(SMALL)
    b.force_open()
    clock.tick(10_000)
    assert b.try_acquire() is None
    b.reset()
    assert b.try_acquire() is not None
    assert rec.of(StateTransition) == [
        StateTransition("payments", 1, State.CLOSED, State.FORCED_OPEN, "forced open by hand"),
        StateTransition("payments", 2, State.FORCED_OPEN, State.CLOSED, "reset by hand"),
    ]


def test_disabled_permits_everything_and_records_nothing() -> None:
    b, _, rec = make(BreakerConfig(window_size=1, minimum_calls=1))
    b.disable()
    fail(b, 5)
    assert now(b) is State.DISABLED
    assert b.statistics().calls == 0
    assert len(rec.of(CallFailed)) == 5


def test_reset_resets_the_window_and_growth() -> None:
    b, clock, _ = make(BreakerConfig(window_size=2, minimum_calls=2, open_duration=1,
                                     open_duration_multiplier=2, max_open_duration=8))
    open_then_half_open(b, clock)
    fail(b)
    b.reset()
    stats = b.statistics()
    assert (stats.state, stats.calls, stats.consecutive_reopens) == (State.CLOSED, 0, 0)


# ---------------------------------------------------------------------------- events
def test_every_outcome_has_an_event() -> None:
    b, _, rec = make(BreakerConfig(window_size=3, minimum_calls=3))
    succeed(b, duration=0.25)
    fail(b)
    fail(b)
    assert b.try_acquire() is None
    kinds = [type(e).__name__ for e in rec.events]
    assert kinds == ["CallSucceeded", "CallFailed", "CallFailed", "StateTransition",
                     "CallNotPermitted"]
    assert rec.events[0] == CallSucceeded("payments", 0, 0.25, False)
    assert all(e.source == "payments" for e in rec.events)


def test_listeners_run_outside_the_state_change_and_may_call_back() -> None:
    b, _, rec = make(SMALL)
    seen: list[tuple[State, int, int | None]] = []

    def listener(event: object) -> None:
        if isinstance(event, StateTransition) and event.to_state is State.OPEN:
            # The state is already consistent when the listener runs.
            seen.append((b.state, b.generation, b.try_acquire()))
            b.reset()

    b._bus.subscribe(listener)
    fail(b, 4)
    assert seen == [(State.OPEN, 1, None)]
    assert rec.states() == [State.OPEN, State.CLOSED]
    assert now(b) is State.CLOSED
    # events reach every listener in the order the state changed
    assert [type(e).__name__ for e in rec.events[-3:]] == [
        "StateTransition", "CallNotPermitted", "StateTransition"]


def test_a_failing_listener_does_not_disturb_the_breaker(caplog: pytest.LogCaptureFixture) -> None:
    b, _, _ = make(SMALL)

    def broken(event: object) -> None:
        raise RuntimeError("listener bug")

    b._bus.subscribe(broken)
    fail(b, 4)
    assert now(b) is State.OPEN
    assert "listener" in caplog.text


def test_statistics_snapshot() -> None:
    b, clock, _ = make(SMALL)
    fail(b, 1)
    succeed(b, 1)
    stats = b.statistics()
    assert (stats.name, stats.state, stats.calls, stats.failures, stats.failure_rate) == (
        "payments", State.CLOSED, 2, 1, 0.5)
    fail(b, 2)
    clock.tick(4)
    assert b.statistics().open_remaining == 6
    assert repr(b) == "<CircuitBreaker 'payments' OPEN generation=1>"
