"""A lag-aware throttle for producers: consumer lag drives throttling upstream.

The stage passes items through at most at its current rate. Every ``interval`` seconds it
asks a *probe* for the lag of the consumer group that reads the topic being fed: while the
lag is above ``threshold`` the rate is multiplied by ``decrease`` (down to ``min_rate``);
once it is at or below the threshold again the rate is multiplied by ``increase`` (up to
``max_rate``). Each change is published as :class:`~streamguard.kafka.ThrottleRateChanged`.

Example::

    probe = GroupLagProbe(bootstrap, group="billing", topic="orders")
    await orders.pipe(
        throttle_by_lag(probe, LagThrottleConfig(max_rate=5_000, threshold=10_000)),
        sink.sink(),
    ).run()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from streamguard.core._clock import SYSTEM_CLOCK, Clock
from streamguard.core._concurrent import ConcurrentStage
from streamguard.core._errors import require
from streamguard.core._events import EventBus, default_bus
from streamguard.core._protocol import ChunkSubscriber
from streamguard.core._stream import Operator, lift

from ._config import check_int, check_number
from ._events import ThrottleRateChanged
from ._lag import LagProbe

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True, slots=True)
class LagThrottleConfig:
    """How a lag-aware throttle reacts.

    Attributes:
        max_rate: items per second at full speed.
        threshold: the lag (records) above which the rate goes down.
        min_rate: the lowest rate (default 1 % of max_rate).
        decrease: factor applied per check while the lag is above the threshold (0.5).
        increase: factor applied per check while it is not (2.0), up to max_rate.
        interval: seconds between two lag checks (default 1.0).
    """

    max_rate: float
    threshold: int
    min_rate: float | None = None
    decrease: float = 0.5
    increase: float = 2.0
    interval: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_rate", "decrease", "increase", "interval"):
            check_number(getattr(self, name), name)
        check_int(self.threshold, "threshold")
        if self.min_rate is not None:
            check_number(self.min_rate, "min_rate")
        require(self.max_rate > 0, "max_rate must be > 0 items/s", self.max_rate)
        require(self.threshold >= 0, "threshold must be >= 0 records", self.threshold)
        require(self.min_rate is None or 0 < self.min_rate <= self.max_rate,
                f"min_rate must be > 0 and <= max_rate={self.max_rate}", self.min_rate)
        require(0 < self.decrease < 1, "decrease must be in (0, 1)", self.decrease)
        require(self.increase > 1, "increase must be > 1", self.increase)
        require(self.interval > 0, "interval must be > 0 seconds", self.interval)

    @property
    def floor(self) -> float:
        """The lowest rate."""
        return self.min_rate if self.min_rate is not None else self.max_rate / 100


class AdaptiveRate:
    """The rate arithmetic of the throttle (pure; internal)."""

    def __init__(self, config: LagThrottleConfig) -> None:
        self.config = config
        self.rate = config.max_rate

    def update(self, lag: int) -> bool:
        """Adjust the rate to *lag*; True if it changed."""
        cfg = self.config
        old = self.rate
        if lag > cfg.threshold:
            self.rate = max(cfg.floor, self.rate * cfg.decrease)
        else:
            self.rate = min(cfg.max_rate, self.rate * cfg.increase)
        return self.rate != old


class LagThrottleStage(ConcurrentStage[T, T]):
    """Lets items through at the adaptive rate, one at a time, in order."""

    kind = "lag_throttle"

    def __init__(
        self, downstream: ChunkSubscriber[T], probe: LagProbe, config: LagThrottleConfig,
        clock: Clock, bus: EventBus, name: str | None,
    ) -> None:
        super().__init__(downstream, concurrency=1, ordered=True, on_error="fail", name=name)
        self._probe = probe
        self._cfg = config
        self._clock = clock
        self._bus = bus
        self.adaptive = AdaptiveRate(config)
        self._next_check = clock.now()
        self._next_slot = clock.now()

    async def process(self, item: T) -> T:
        now = self._clock.now()
        if now >= self._next_check:
            await self._check()
        slot = max(self._next_slot, now)
        self._next_slot = slot + 1.0 / self.adaptive.rate
        if slot > now:
            await self._clock.sleep(slot - now)
        return item

    async def _check(self) -> None:
        self._next_check = self._clock.now() + self._cfg.interval
        lag = await self._probe()
        if self.adaptive.update(lag) and self._bus.active:
            self._bus.publish(ThrottleRateChanged(
                source=f"{self.pipeline}/{self.name}", rate=self.adaptive.rate, lag=lag,
                threshold=self._cfg.threshold,
            ))


def throttle_by_lag(
    probe: LagProbe, config: LagThrottleConfig, *, clock: Clock = SYSTEM_CLOCK,
    bus: EventBus | None = None, name: str | None = None,
) -> Operator[T, T]:
    """Pass items at a rate that falls while *probe* reports a lag above the threshold and
    rises again as it falls (see :class:`LagThrottleConfig`)."""
    require(callable(probe), "throttle_by_lag: probe must be an async function () -> lag",
            probe)
    require(isinstance(config, LagThrottleConfig),
            "throttle_by_lag: config must be a LagThrottleConfig", config)
    require(name is None or isinstance(name, str), "throttle_by_lag: name must be a str or None",
            name)
    return lift(lambda down: LagThrottleStage(down, probe, config, clock,
                                              bus or default_bus(), name))
