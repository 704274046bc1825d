"""Reactive Streams rules for every operator of this package (and ``interval``), in virtual
time: 1.1 (never more than requested), 1.7 / 2.4 (one terminal signal, nothing after it),
3.5 / 3.12 (cancel is idempotent and stops emission), 3.9 (non-positive request fails the
stream), 3.17 (demand saturates)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streamguard import DemandError
from streamguard.core import UNBOUNDED, Stream
from streamguard.testing import TestSubscriber, VirtualClock

from ._publishers import OPERATORS, Build, interval_source

N = 60

Make = Callable[[VirtualClock], Stream[Any]]

def _without_acks(build: Build) -> Make:
    return lambda clock: build(N, None, clock)


PUBLISHERS: dict[str, Make] = {name: _without_acks(build) for name, build in OPERATORS.items()}
PUBLISHERS["interval"] = lambda clock: interval_source(N, clock)


@pytest.fixture(params=sorted(PUBLISHERS))
def make(request: pytest.FixtureRequest) -> Make:
    return PUBLISHERS[request.param]


async def _pump(clock: VirtualClock, seconds: float = 0.2) -> None:
    for _ in range(int(seconds / 0.01)):
        await clock.advance(0.01, settle=3)


async def _until_terminated(sub: TestSubscriber[Any], clock: VirtualClock) -> None:
    for _ in range(200):
        if sub.terminated:
            return
        await _pump(clock, 0.1)
    raise AssertionError("the publisher did not terminate")


async def test_rule_1_1_never_more_than_requested(make: Make) -> None:
    clock = VirtualClock()
    sub: TestSubscriber[Any] = TestSubscriber()
    make(clock).subscribe(sub)
    total = 0
    for n in (1, 3, 7, 2):
        sub.request(n)
        total += n
        await _pump(clock)
        assert len(sub.items) <= total
    assert sub.violations == []
    sub.request(UNBOUNDED)
    await _until_terminated(sub, clock)
    assert sub.violations == []
    assert sub.errors == []
    assert sub.completions == 1


@pytest.mark.parametrize("bad", [0, -1, -(2**63)])
async def test_rule_3_9_non_positive_request_signals_error(make: Make, bad: int) -> None:
    clock = VirtualClock()
    sub: TestSubscriber[Any] = TestSubscriber()
    make(clock).subscribe(sub)
    sub.request(bad)
    await _pump(clock)
    assert len(sub.errors) == 1
    assert isinstance(sub.errors[0], DemandError)
    assert "rule 3.9" in str(sub.errors[0])
    assert f"got {bad}" in str(sub.errors[0])
    assert sub.violations == []
    assert clock.pending_timers == 0


async def test_rule_3_17_demand_accumulates_and_saturates(make: Make) -> None:
    clock = VirtualClock()
    sub: TestSubscriber[Any] = TestSubscriber()
    make(clock).subscribe(sub)
    sub.request(UNBOUNDED)
    sub.request(UNBOUNDED)
    sub.request(5)
    await _until_terminated(sub, clock)
    assert sub.errors == []
    assert sub.completions == 1
    assert sub.violations == []


async def test_rules_1_7_and_2_4_one_terminal_signal_and_nothing_after(make: Make) -> None:
    clock = VirtualClock()
    sub: TestSubscriber[Any] = TestSubscriber(initial_request=10_000)
    make(clock).subscribe(sub)
    await _until_terminated(sub, clock)
    received = len(sub.items)
    sub.request(10)
    await _pump(clock)
    assert len(sub.items) == received
    assert sub.completions == 1
    assert sub.errors == []
    assert sub.violations == []
    assert clock.pending_timers == 0  # no timer outlives the stream


async def test_rules_3_5_and_3_12_cancel_is_idempotent_and_stops_emission(make: Make) -> None:
    clock = VirtualClock()
    sub: TestSubscriber[Any] = TestSubscriber()
    make(clock).subscribe(sub)
    sub.request(2)
    await _pump(clock, 0.05)
    sub.cancel()
    sub.cancel()
    received = len(sub.items)
    sub.request(10)
    await _pump(clock)
    assert len(sub.items) == received <= 2
    assert sub.errors == []
    assert sub.violations == []
    assert clock.pending_timers == 0  # cancel stops every timer
