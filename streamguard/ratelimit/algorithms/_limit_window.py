"""The policy shared by the fixed window and both sliding windows: *limit* per *window*.

The three differ in their state and in the bound they guarantee (:meth:`max_admitted`), not in
their parameters, so those and their validation live here once.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._base import MAX_AMOUNT, MAX_WINDOW, MIN_WINDOW, Algorithm, require_number


@dataclass(frozen=True, kw_only=True, slots=True)
class LimitWindow(Algorithm):
    """Base of :class:`FixedWindow`, :class:`SlidingWindowLog` and
    :class:`SlidingWindowCounter`: *limit* per *window* seconds."""

    limit: float
    """Cost admitted per window. Must be >= 1."""
    window: float = 1.0
    """Length of a window in seconds. Must be > 0."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        require_number(owner, "limit", self.limit, 1.0, MAX_AMOUNT)
        require_number(owner, "window", self.window, MIN_WINDOW, MAX_WINDOW)

    @property
    def quota(self) -> float:
        """``limit`` per ``window``."""
        return self.limit

    def lua_params(self) -> tuple[float, float]:
        """``(limit, window)``."""
        return (self.limit, self.window)
