"""Per-instance, typed subscriptions (`on_state_change`, `on_event`) and the waiting
`acquire(timeout)` of the #10 vocabulary, on a virtual clock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamguard.breaker import (
    BreakerConfig,
    BreakerEvent,
    CallFailed,
    CallNotPermitted,
    CallSucceeded,
    CircuitBreaker,
    CircuitOpenError,
    State,
    StateTransition,
)
from streamguard.core import ConfigError, EventBus
from streamguard.testing import VirtualClock

CONFIG = BreakerConfig(window_size=2, minimum_calls=2, open_duration=5)


def make(name: str = "payments") -> tuple[CircuitBreaker, VirtualClock, EventBus]:
    clock, bus = VirtualClock(), EventBus()
    return CircuitBreaker(name, CONFIG, clock=clock, bus=bus), clock, bus


def trip(b: CircuitBreaker) -> None:
    for _ in range(2):
        permit = b.try_acquire()
        assert permit is not None
        b.on_failure(permit, ConnectionError("down"))


def test_on_state_change_receives_each_transition_typed_and_in_order() -> None:
    b, clock, _ = make()
    seen: list[StateTransition] = []
    b.on_state_change(seen.append)
    trip(b)
    clock.tick(5)
    permit = b.try_acquire()
    assert permit is not None
    b.on_success(permit)
    assert [(e.from_state, e.to_state) for e in seen] == [
        (State.CLOSED, State.OPEN), (State.OPEN, State.HALF_OPEN), (State.HALF_OPEN, State.CLOSED)]
    assert all(type(e) is StateTransition and e.source == "payments" for e in seen)
    assert [e.generation for e in seen] == [1, 2, 3]


def test_on_state_change_sees_no_call_events() -> None:
    b, _, _ = make()
    seen: list[Any] = []
    b.on_state_change(seen.append)
    permit = b.try_acquire()
    assert permit is not None
    b.on_success(permit)
    assert seen == []


def test_unsubscribe_stops_delivery_and_is_idempotent() -> None:
    b, _, _ = make()
    seen: list[StateTransition] = []
    unsubscribe = b.on_state_change(seen.append)
    unsubscribe()
    unsubscribe()
    trip(b)
    assert seen == []
    assert b.state is State.OPEN


def test_subscriptions_are_per_instance() -> None:
    clock, bus = VirtualClock(), EventBus()
    a = CircuitBreaker("a", CONFIG, clock=clock, bus=bus)
    b = CircuitBreaker("b", CONFIG, clock=clock, bus=bus)
    seen_a: list[StateTransition] = []
    a.on_state_change(seen_a.append)
    trip(b)
    assert seen_a == []
    trip(a)
    assert [e.source for e in seen_a] == ["a"]


def test_on_event_receives_call_outcomes_and_transitions_without_a_bus_listener() -> None:
    b, _, bus = make()
    assert not bus.active
    seen: list[BreakerEvent] = []
    b.on_event(seen.append)
    for _ in range(3):  # the quiet fast path must still report to an instance listener
        permit = b.try_acquire()
        assert permit is not None
        b.on_success(permit)
    permit = b.try_acquire()
    assert permit is not None
    b.on_failure(permit, ConnectionError("down"))  # 1 of the last 2 failed: opens
    assert b.try_acquire() is None
    kinds = [type(e) for e in seen]
    assert kinds == [CallSucceeded] * 3 + [CallFailed, StateTransition, CallNotPermitted]


def test_the_bus_and_instance_listeners_get_the_same_events() -> None:
    b, _, bus = make()
    on_bus: list[Any] = []
    bus.subscribe(on_bus.append)
    mine: list[BreakerEvent] = []
    b.on_event(mine.append)
    trip(b)
    assert len(mine) == 3
    assert mine == on_bus


def test_a_listener_may_call_back_into_the_breaker() -> None:
    b, clock, _ = make()
    states: list[tuple[State, State]] = []
    b.on_state_change(lambda e: states.append((e.to_state, b.state)))
    trip(b)
    clock.tick(5)
    assert states == [(State.OPEN, State.OPEN), (State.HALF_OPEN, State.HALF_OPEN)]


def test_a_failing_listener_is_logged_and_others_still_run(caplog: Any) -> None:
    b, _, _ = make()

    def broken(event: StateTransition) -> None:
        raise RuntimeError("listener bug")

    seen: list[StateTransition] = []
    b.on_state_change(broken)
    b.on_state_change(seen.append)
    trip(b)
    assert len(seen) == 1
    assert "listener bug" in caplog.text
    assert b.state is State.OPEN


def test_manual_changes_are_reported() -> None:
    b, _, _ = make()
    seen: list[StateTransition] = []
    b.on_state_change(seen.append)
    b.force_open()
    b.disable()
    assert [e.to_state for e in seen] == [State.FORCED_OPEN, State.DISABLED]


# ---------------------------------------------------------------------------- acquire(timeout)
# (here because it, too, is new with the #10 vocabulary)
async def test_acquire_refuses_at_once_by_default() -> None:
    b, clock, _ = make()
    trip(b)
    with pytest.raises(CircuitOpenError, match="is OPEN"):
        await b.acquire()
    assert clock.now() == 0


async def test_acquire_waits_for_the_half_open_probe_slot() -> None:
    b, clock, _ = make()  # open_duration=5
    trip(b)
    waiting = asyncio.create_task(b.acquire(timeout=6))
    await clock.advance(4.9)
    assert not waiting.done()
    await clock.advance(0.1)
    assert await waiting == b.generation  # a probe permit of the HALF_OPEN generation
    assert b.state is State.HALF_OPEN


async def test_acquire_raises_at_once_when_the_breaker_stays_open_past_the_timeout() -> None:
    b, clock, _ = make()
    trip(b)
    with pytest.raises(CircuitOpenError, match=r"next probe in 5 s"):
        await b.acquire(timeout=4.9)
    assert clock.now() == 0
    b.force_open()
    with pytest.raises(CircuitOpenError, match="FORCED_OPEN"):
        await b.acquire(timeout=1000)


async def test_acquire_without_a_timeout_waits_as_long_as_it_takes() -> None:
    b, clock, _ = make()
    b.force_open()
    waiting = asyncio.create_task(b.acquire(timeout=None))
    await clock.advance(3600)
    assert not waiting.done()
    b.reset()
    await asyncio.sleep(0)
    assert await waiting == b.generation


async def test_acquire_times_out_while_the_probe_slot_stays_busy() -> None:
    b, clock, _ = make()
    trip(b)
    clock.tick(5)
    assert b.try_acquire() is not None  # the only probe is in flight
    waiting = asyncio.create_task(b.acquire(timeout=2))
    await clock.advance(1.9)
    assert not waiting.done()
    await clock.advance(0.1)
    with pytest.raises(CircuitOpenError, match="HALF_OPEN"):
        await waiting
    assert b.statistics().not_permitted == 1  # the refusal counted once, not per wake-up


@pytest.mark.parametrize("bad", [-1, "1", True, False, float("nan")])
async def test_acquire_names_a_bad_timeout(bad: Any) -> None:
    b, _, _ = make()
    with pytest.raises(ConfigError, match=r"^timeout must be a number >= 0 \(seconds\) or None"):
        await b.acquire(timeout=bad)
