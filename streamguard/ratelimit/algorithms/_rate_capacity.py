"""The policy shared by both leaky buckets: a *rate* and a *capacity*.

The meter and the shaper read ``capacity`` differently (what may pass at once, what may wait),
but validate and hand to Lua the same two numbers, so those live here once.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._base import Algorithm
from ._rate_burst import require_rate_burst


@dataclass(frozen=True, kw_only=True, slots=True)
class RateCapacity(Algorithm):
    """Base of :class:`LeakyBucketMeter` and :class:`LeakyBucketShaper`."""

    rate: float
    """Leak rate (the meter) or outflow (the shaper), units per second. Must be > 0."""
    capacity: float = 1.0
    """Size of the bucket (the meter: the most admitted at once) or of the queue (the shaper:
    the most cost that may wait, per key and process). Must be >= 1."""

    def __post_init__(self) -> None:
        require_rate_burst(type(self).__name__, self.rate, self.capacity, "capacity")

    @property
    def limit(self) -> float:
        """``capacity``: no larger cost is ever admitted."""
        return self.capacity

    def lua_params(self) -> tuple[float, float]:
        """``(rate, capacity)``."""
        return (self.rate, self.capacity)
