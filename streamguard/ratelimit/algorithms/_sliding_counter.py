"""Sliding-window counter: two fixed-window counters, the previous one weighted by how much
of it the sliding window still covers.

The estimate at a fraction ``f`` into the current window is ``previous * (1 - f) + current``; a
cost passes if the estimate plus it stays within ``limit``. Two numbers per key, like a fixed
window, but no boundary burst: right after a boundary the previous window still counts fully.

**Burst**: ``limit``, at once, after a quiet window.
**Worst case**: ``limit`` in every aligned window; in any window of ``w <= window`` seconds,
``limit * (1 + w / window)`` (reached only when the previous window's traffic sat at its very
end); for longer windows ``limit * (ceil(w / window) + 1)``. Under saturation it admits up to
one item less than ``limit`` per window, because the estimate assumes the previous window's
traffic was spread evenly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ._base import (
    EPSILON,
    INF,
    ROUNDING,
    Decision,
    State,
    new_decision,
    until,
    window_index,
)
from ._limit_window import LimitWindow


@dataclass(frozen=True, kw_only=True, slots=True)
class SlidingWindowCounter(LimitWindow):
    """About *limit* per sliding *window* seconds, in constant memory.

    Example::

        SlidingWindowCounter(limit=600, window=60)
    """

    kind: ClassVar[str] = "sliding_counter"

    def max_admitted(self, window: float, max_cost: float = 1.0) -> float:
        """``limit * (1 + w / window)`` up to one window's length, then
        ``limit * (ceil(w / window) + 1)``."""
        if window <= self.window:
            return self.limit * (1.0 + window / self.window)
        return self.limit * (math.ceil(window / self.window) + 1)

    def new_state(self, limiter: str) -> State:
        """Both counters at zero."""
        return SlidingCounterState(self, limiter)


class SlidingCounterState(State):
    """The current window's index, its count, and the previous window's count."""

    __slots__ = ("_limit", "_window", "current", "index", "previous")

    def __init__(self, policy: SlidingWindowCounter, limiter: str) -> None:
        super().__init__(policy, limiter)
        self._limit = policy.limit
        self._window = policy.window
        self.index = -INF
        self.current = 0.0
        self.previous = 0.0

    def decide(self, now: float, cost: float, commit: bool = True) -> Decision:
        """Admit *cost* if the weighted estimate leaves room for it."""
        if now < self.blocked_until:
            return self._blocked(now, cost)
        limit = self._limit
        window = self._window
        index = window_index(now, window)
        if index == self.index:
            previous, current = self.previous, self.current
        elif index == self.index + 1.0:
            previous, current = self.current, 0.0
        else:
            previous, current = 0.0, 0.0
        start = index * window
        weight = 1.0 - (now - start) / window
        estimate = previous * weight + current
        slack = EPSILON + previous / window * ROUNDING * (now if now > 0.0 else -now)
        if estimate + cost <= limit + slack:
            if commit:
                self.index, self.previous, self.current = index, previous, current + cost
            left = limit - estimate - cost
            reset = until(now, start + 2.0 * window)
            return new_decision(Decision, (True, limit, left if left > 0.0 else 0.0, 0.0, reset,
                                           self.policy, self.limiter, ()))
        if cost > limit + EPSILON:
            retry = INF
        elif current + cost <= limit + EPSILON:
            # Later in this window the previous window weighs less.
            retry = until(now, start + (1.0 - (limit - current - cost) / previous) * window)
        else:
            # Next window: this window's count becomes the weighted one.
            retry = until(now, start + window + max(0.0, 1.0 - (limit - cost) / current) * window)
        reset = until(now, start + (2.0 if current > 0.0 else 1.0) * window)
        left = limit - estimate
        return new_decision(Decision, (False, limit, left if left > 0.0 else 0.0, retry, reset,
                                       self.policy, self.limiter, ()))

    def idle_at(self) -> float:
        """When both counters have rolled out of the window."""
        if self.current > 0.0:
            return (self.index + 2.0) * self._window
        if self.previous > 0.0:
            return (self.index + 1.0) * self._window
        return -INF
