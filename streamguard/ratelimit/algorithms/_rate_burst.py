"""The policy shared by the token bucket and GCRA: a long-run *rate* and a separate *burst*.

The two algorithms admit exactly the same costs (a property test checks it); only their state
differs, so their parameters, validation and bounds live here once.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._base import MAX_AMOUNT, MAX_RATE, MIN_RATE, Algorithm, require_number


def require_rate_burst(owner: str, rate: float, burst: float, burst_name: str) -> None:
    """Validate a rate and a burst or capacity (see the ranges in ``_base.py``)."""
    require_number(owner, "rate", rate, MIN_RATE, MAX_RATE)
    require_number(owner, burst_name, burst, 1.0, MAX_AMOUNT)


@dataclass(frozen=True, kw_only=True, slots=True)
class RateBurst(Algorithm):
    """Base of :class:`TokenBucket` and :class:`GCRA`: *rate* per second, *burst* at once."""

    rate: float
    """Units per second in the long run. Must be > 0."""
    burst: float = 1.0
    """Units admitted back to back after a quiet spell. Must be >= 1."""

    def __post_init__(self) -> None:
        require_rate_burst(type(self).__name__, self.rate, self.burst, "burst")

    @property
    def limit(self) -> float:
        """``burst``: the most admitted at once."""
        return self.burst

    @property
    def quota(self) -> float:
        """``burst`` units ..."""
        return self.burst

    @property
    def window(self) -> float:
        """... per ``burst / rate`` seconds (the time an empty bucket takes to fill)."""
        return self.burst / self.rate

    def max_admitted(self, window: float, max_cost: float = 1.0) -> float:
        """``burst + rate * window``."""
        return self.burst + self.rate * window

    def lua_params(self) -> tuple[float, float]:
        """``(rate, burst)``."""
        return (self.rate, self.burst)
