"""The lag-aware throttle in virtual time (no broker)."""

from __future__ import annotations

import asyncio

import pytest

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core import ConfigError, EventBus
from streamguard.kafka import LagThrottleConfig, ThrottleRateChanged, throttle_by_lag
from streamguard.kafka._throttle import AdaptiveRate
from streamguard.testing import VirtualClock


def test_rate_halves_above_threshold_and_doubles_back_to_max() -> None:
    rate = AdaptiveRate(LagThrottleConfig(max_rate=100, threshold=10, min_rate=20))
    seen = []
    for lag in (50, 50, 50, 5, 5, 5):
        assert rate.update(lag)
        seen.append(rate.rate)
    assert seen == [50, 25, 20, 40, 80, 100]
    assert not rate.update(0)


async def test_throttle_slows_while_the_group_lags_and_recovers() -> None:
    clock = VirtualClock()
    lags = iter([5000, 5000, 5000, 0, 0, 0])

    async def probe() -> int:
        return next(lags, 0)

    bus = EventBus()
    events: list[ThrottleRateChanged] = []
    bus.subscribe(events.append)
    cfg = LagThrottleConfig(max_rate=100, threshold=1000, interval=1.0)
    out: list[int] = []
    task = asyncio.create_task(from_iterable(range(400)).pipe(
        throttle_by_lag(probe, cfg, clock=clock, bus=bus, name="throttle"),
        op.sink(out.append),
    ).run())
    per_second: list[int] = []
    while not task.done():
        before = len(out)
        await clock.advance(1.0, settle=50)
        per_second.append(len(out) - before)
    await task
    assert out == list(range(400))
    assert [e.rate for e in events] == [50, 25, 12.5, 25, 50, 100]
    assert all(e.threshold == 1000 for e in events)
    # Seconds 2-4 run at the lowered rates, the last ones at full rate again.
    assert max(per_second[1:4]) <= 51
    assert max(per_second) >= 99


def test_bad_throttle_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"decrease must be in \(0, 1\), got 1.5"):
        LagThrottleConfig(max_rate=10, threshold=1, decrease=1.5)
    with pytest.raises(ConfigError, match="max_rate must be > 0 items/s, got 0"):
        LagThrottleConfig(max_rate=0, threshold=1)
