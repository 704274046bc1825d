"""Fixed window: at most ``limit`` per window of ``window`` seconds, windows aligned to the
clock's zero (the epoch of the Redis server's clock, or of the local monotonic clock).

**Burst**: ``limit``, all of it at the start of a window.
**Worst case**: ``limit`` in every aligned window, but ``2 * limit`` in a window of the same
length that straddles a boundary (``limit`` just before it, ``limit`` just after). In general
a window of ``w`` seconds sees at most ``limit * (ceil(w / window) + 1)``. This is the
algorithm of many HTTP frameworks, and also what aiolimiter's leaky bucket amounts to: its
whole rate at once, and about twice its rate within one period.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ._base import EPSILON, INF, Decision, State, new_decision, until, window_index
from ._limit_window import LimitWindow


@dataclass(frozen=True, kw_only=True, slots=True)
class FixedWindow(LimitWindow):
    """At most *limit* per aligned window of *window* seconds.

    Example::

        FixedWindow(limit=100, window=60)   # 100 per clock minute
    """

    kind: ClassVar[str] = "fixed_window"

    def max_admitted(self, window: float, max_cost: float = 1.0) -> float:
        """``limit * (ceil(window / self.window) + 1)``: 2 * limit for one window's length."""
        return self.limit * (math.ceil(window / self.window) + 1)

    def new_state(self, limiter: str) -> State:
        """An empty window."""
        return FixedWindowState(self, limiter)


class FixedWindowState(State):
    """The index of the current window and the cost admitted in it."""

    __slots__ = ("_limit", "_window", "count", "index")

    def __init__(self, policy: FixedWindow, limiter: str) -> None:
        super().__init__(policy, limiter)
        self._limit = policy.limit
        self._window = policy.window
        self.index = -INF
        self.count = 0.0

    def decide(self, now: float, cost: float, commit: bool = True) -> Decision:
        """Admit *cost* if the current window has room for it."""
        if now < self.blocked_until:
            return self._blocked(now, cost)
        limit = self._limit
        index = window_index(now, self._window)
        count = self.count if index == self.index else 0.0
        reset = until(now, (index + 1.0) * self._window)
        if count + cost <= limit + EPSILON:
            if commit:
                self.index = index
                self.count = count + cost
            left = limit - count - cost
            return new_decision(Decision, (True, limit, left if left > 0.0 else 0.0, 0.0, reset,
                                           self.policy, self.limiter, ()))
        retry = reset if cost <= limit + EPSILON else INF
        return new_decision(Decision, (False, limit, limit - count, retry, reset, self.policy,
                                       self.limiter, ()))

    def take(self, now: float, cost: float) -> bool:
        """:meth:`decide` without reporting; building the report is most of its cost."""
        if now < self.blocked_until:
            return False
        index = window_index(now, self._window)
        count = self.count if index == self.index else 0.0
        if count + cost <= self._limit + EPSILON:
            self.index = index
            self.count = count + cost
            return True
        return False

    def idle_at(self) -> float:
        """The end of the window last used."""
        return (self.index + 1.0) * self._window
