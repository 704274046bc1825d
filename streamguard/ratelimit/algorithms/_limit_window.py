"""The policy shared by the fixed window and both sliding windows: *limit* per *window*.

The three differ in their state and in the bound they guarantee (:meth:`max_admitted`), not in
their parameters, so those and their validation live here once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._base import Algorithm


@dataclass(frozen=True, kw_only=True, slots=True)
class LimitWindow(Algorithm):
    """Base of :class:`FixedWindow`, :class:`SlidingWindowLog` and
    :class:`SlidingWindowCounter`: *limit* per *window* seconds."""

    limit: float
    """Cost admitted per window. Must be >= 1."""
    window: float = 1.0
    """Length of a window in seconds. Must be > 0."""

    def __post_init__(self) -> None:
        from streamguard.core._errors import require

        require(math.isfinite(self.limit) and self.limit >= 1,
                "limit must be >= 1 and finite", self.limit)
        require(math.isfinite(self.window) and self.window > 0,
                "window must be > 0 and finite", self.window)

    @property
    def quota(self) -> float:
        """``limit`` per ``window``."""
        return self.limit

    def lua_params(self) -> tuple[float, float]:
        """``(limit, window)``."""
        return (self.limit, self.window)
