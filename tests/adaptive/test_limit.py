"""Adaptive limits against a simulated downstream: capacity C concurrent calls, each taking
S seconds; with L calls in flight the ones above C queue, so a call takes S × max(1, L / C)
and fails ("503") once that exceeds a deadline. Pure math, no clock needed."""

from __future__ import annotations

import pytest

from streamguard.adaptive import AIMD, AdaptiveLimit, LimitChanged, Vegas
from streamguard.core import ConfigError, EventBus
from streamguard.testing import VirtualClock

S = 0.05
DEADLINE = 0.5


def _round(limit: AdaptiveLimit, capacity: int) -> None:
    """Every call in flight (as many as the limit allows) starts now and finishes together."""
    in_flight = limit.limit
    rtt = S * max(1.0, in_flight / capacity)
    dropped = rtt > DEADLINE
    assert isinstance(limit.clock, VirtualClock)
    limit.clock.tick(min(rtt, DEADLINE))
    for _ in range(in_flight):
        limit.record(min(rtt, DEADLINE), in_flight=in_flight, dropped=dropped)


def _rounds_to_settle(limit: AdaptiveLimit, capacity: int, rounds: int) -> tuple[int, list[int]]:
    history = []
    for _ in range(rounds):
        _round(limit, capacity)
        history.append(limit.limit)
    lo, hi = 0.75 * capacity, 1.25 * capacity
    settled = len(history)
    for i in range(len(history) - 1, -1, -1):
        if not lo <= history[i] <= hi:
            break
        settled = i
    return settled, history


def test_vegas_finds_the_capacity_from_latency_alone() -> None:
    limit = AdaptiveLimit("api", Vegas(initial=4, max_limit=1000), clock=VirtualClock())
    settled, history = _rounds_to_settle(limit, capacity=32, rounds=60)
    assert settled < 20, history
    assert 24 <= limit.limit <= 40


def test_vegas_follows_a_capacity_drop() -> None:
    limit = AdaptiveLimit("api", Vegas(initial=20), clock=VirtualClock())
    _rounds_to_settle(limit, capacity=32, rounds=40)
    settled, history = _rounds_to_settle(limit, capacity=8, rounds=60)
    assert settled < 30, history
    assert 6 <= limit.limit <= 10


def test_vegas_does_not_grow_a_limit_nobody_uses() -> None:
    limit = AdaptiveLimit("api", Vegas(initial=20))
    for _ in range(500):
        limit.record(S, in_flight=2)
    assert limit.limit == 20


def _window(limit: AdaptiveLimit, clock: VirtualClock, rtt: float, *, in_flight: int,
            dropped: bool = False) -> None:
    """One round trip later, a window's worth of calls finish: a quarter of the limit, and at
    least the limit itself up to 8 (see test_a_small_limit_averages_a_whole_round_trip)."""
    clock.tick(1.0)
    for _ in range(max(-(-limit.limit // 4), min(limit.limit, 8))):
        limit.record(rtt, in_flight=in_flight, dropped=dropped)


def test_aimd_backs_off_on_drops_and_grows_while_used() -> None:
    clock = VirtualClock()
    limit = AdaptiveLimit("api", AIMD(initial=10, backoff=0.5), clock=clock)
    _window(limit, clock, 0.01, in_flight=10)
    assert limit.limit == 11
    limit.record(2.0, in_flight=11, dropped=True)  # started before the change: not counted
    assert limit.limit == 11
    _window(limit, clock, 0.01, in_flight=11, dropped=True)
    assert limit.limit == 5
    _window(limit, clock, 0.01, in_flight=1)  # not in use: no growth
    assert limit.limit == 5


def test_one_window_is_one_step() -> None:
    clock = VirtualClock()
    limit = AdaptiveLimit("api", AIMD(initial=40), clock=clock)
    clock.tick(1.0)
    for _ in range(9):  # a quarter of 40 is 10: not yet a window
        limit.record(0.01, in_flight=40)
    assert limit.limit == 40
    limit.record(0.01, in_flight=40)
    assert limit.limit == 41


@pytest.mark.parametrize(("initial", "window"), [(4, 4), (12, 8), (20, 8)])
def test_a_small_limit_averages_a_whole_round_trip(initial: int, window: int) -> None:
    # A quarter of a small limit is one or two calls: too noisy to steer by. The window is
    # the limit itself up to MIN_WINDOW (8) samples, a quarter of it above 32.
    clock = VirtualClock()
    limit = AdaptiveLimit("api", AIMD(initial=initial), clock=clock)
    clock.tick(1.0)
    for _ in range(window - 1):
        limit.record(0.01, in_flight=initial)
    assert limit.limit == initial
    limit.record(0.01, in_flight=initial)
    assert limit.limit == initial + 1


def test_aimd_counts_a_slow_call_as_a_drop() -> None:
    clock = VirtualClock()
    limit = AdaptiveLimit("api", AIMD(initial=10, backoff=0.9, timeout=0.2), clock=clock)
    _window(limit, clock, 0.3, in_flight=10)
    assert limit.limit == 9


def test_aimd_stays_within_bounds() -> None:
    clock = VirtualClock()
    limit = AdaptiveLimit("api", AIMD(initial=2, min_limit=2, max_limit=3), clock=clock)
    for _ in range(10):
        _window(limit, clock, 0.01, in_flight=3)
    assert limit.limit == 3
    for _ in range(10):
        _window(limit, clock, 0.01, in_flight=3, dropped=True)
    assert limit.limit == 2


def test_changes_reach_instance_listeners_and_the_bus() -> None:
    bus = EventBus()
    on_bus: list[object] = []
    bus.subscribe(on_bus.append)
    clock = VirtualClock()
    limit = AdaptiveLimit("api", AIMD(initial=10), bus=bus, clock=clock)
    seen: list[LimitChanged] = []
    unsubscribe = limit.on_event(seen.append)
    _window(limit, clock, 0.01, in_flight=10)
    assert seen == [LimitChanged(source="api", limit=11, previous=10, rtt=0.01, dropped=False)]
    assert on_bus == seen
    unsubscribe()
    _window(limit, clock, 0.01, in_flight=11)
    assert len(seen) == 1
    assert limit.statistics().changes == 2


@pytest.mark.parametrize(("make", "message"), [
    (lambda: AIMD(initial=0), "initial must be an int >= 1, got 0"),
    (lambda: AIMD(initial=True), "initial must be an int >= 1, got True"),
    (lambda: AIMD(initial=5, max_limit=4),
     "initial must lie in [min_limit, max_limit] = [1, 4], got 5"),
    (lambda: Vegas(initial=2000),
     "initial must lie in [min_limit, max_limit] = [1, 1000], got 2000"),
    (lambda: AIMD(min_limit=10, max_limit=5),
     "min_limit must be <= max_limit (max_limit=5), got 10"),
    (lambda: Vegas(min_limit=10, max_limit=5),
     "min_limit must be <= max_limit (max_limit=5), got 10"),
    (lambda: AIMD(backoff=1.0), "backoff must be a number in [0.5, 1), got 1.0"),
    (lambda: AIMD(timeout="1"), "timeout must be None or a number > 0, got '1'"),  # type: ignore[arg-type]
    (lambda: Vegas(smoothing=0), "smoothing must be a number in (0, 1], got 0"),
    (lambda: Vegas(probe_every=0), "probe_every must be None or an int >= 1, got 0"),
    (lambda: Vegas(alpha=3, beta=2), "alpha and beta must be numbers with 0 < alpha < beta"),
    (lambda: AdaptiveLimit(""), "name must be a non-empty str, got ''"),
    (lambda: AdaptiveLimit("x", 5), "algorithm must be AIMD(...) or Vegas(...), got 5"),  # type: ignore[arg-type]
])
def test_bad_configuration_names_the_field(make: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        make()  # type: ignore[operator]
    assert message in str(info.value)
