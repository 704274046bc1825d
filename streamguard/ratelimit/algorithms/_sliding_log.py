"""Sliding-window log: every admission is logged; strictly at most ``limit`` in any window.

A cost passes if the costs logged in the last ``window`` seconds, ``(now - window, now]``, plus
it stay within ``limit``: an entry logged at ``t`` counts until ``t + window``, exclusive.
Exact, and memory grows with the limit (one entry per admission).

**Burst**: ``limit``, at once, after a quiet window.
**Worst case**: ``limit`` in every window ``(t - window, t]``; ``limit * ceil(w / window)`` in any
half-open window of ``w`` seconds.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from itertools import islice
from typing import ClassVar

from ._base import EPSILON, INF, Decision, State, new_decision, until
from ._limit_window import LimitWindow


@dataclass(frozen=True, kw_only=True, slots=True)
class SlidingWindowLog(LimitWindow):
    """At most *limit* in any *window* seconds, exactly.

    Example::

        SlidingWindowLog(limit=10, window=1)   # never 11 within one second
    """

    kind: ClassVar[str] = "sliding_log"

    def max_admitted(self, window: float, max_cost: float = 1.0) -> float:
        """``limit * ceil(window / self.window)`` (half-open windows)."""
        return self.limit * max(1, math.ceil(window / self.window))

    def new_state(self, limiter: str) -> State:
        """An empty log."""
        return SlidingLogState(self, limiter)


class SlidingLogState(State):
    """The admissions of the last window, oldest first, and their total."""

    __slots__ = ("_limit", "_window", "log", "total")

    def __init__(self, policy: SlidingWindowLog, limiter: str) -> None:
        super().__init__(policy, limiter)
        self._limit = policy.limit
        self._window = policy.window
        self.log: deque[tuple[float, float]] = deque()
        self.total = 0.0

    def decide(self, now: float, cost: float, commit: bool = True) -> Decision:
        """Admit *cost* if the last window's total leaves room for it."""
        if now < self.blocked_until:
            return self._blocked(now, cost)
        if commit:
            self._expire(now)
            total, first = self.total, 0
        else:
            # A peek must change nothing, not even drop expired entries: it may look ahead.
            total, first = self._live(now)
        limit = self._limit
        if total + cost <= limit + EPSILON:
            left = limit - total - cost
            if commit:
                self.log.append((now, cost))
                self.total += cost
            return new_decision(Decision, (True, limit, left if left > 0.0 else 0.0, 0.0,
                                           self._window, self.policy, self.limiter, ()))
        retry = self._retry(now, cost, total, first) if cost <= limit + EPSILON else INF
        reset = until(now, self.log[-1][0] + self._window) if first < len(self.log) else 0.0
        return new_decision(Decision, (False, limit, limit - total, retry, reset, self.policy,
                                       self.limiter, ()))

    def _expire(self, now: float) -> None:
        log = self.log
        window = self._window
        while log and log[0][0] + window <= now:
            self.total -= log.popleft()[1]
        if not log:
            self.total = 0.0  # forget the rounding of a long run of float subtractions

    def _live(self, now: float) -> tuple[float, int]:
        total = self.total
        first = 0
        window = self._window
        for stamp, spent in self.log:
            if stamp + window > now:
                break
            total -= spent
            first += 1
        return (total if first < len(self.log) else 0.0), first

    def _retry(self, now: float, cost: float, total: float, first: int) -> float:
        # The oldest entries leave first; wait until enough of them have.
        need = total + cost - self._limit - EPSILON
        freed = 0.0
        for stamp, spent in islice(self.log, first, None):
            freed += spent
            if freed >= need:
                return until(now, stamp + self._window)
        return until(now, self.log[-1][0] + self._window)

    def idle_at(self) -> float:
        """When the newest entry leaves the window."""
        return self.log[-1][0] + self._window if self.log else -INF
