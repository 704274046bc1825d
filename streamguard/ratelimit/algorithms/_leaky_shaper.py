"""Leaky bucket as a shaper: a queue drained at a constant ``rate``.

Items leave one after another, each taking ``cost / rate`` seconds of the outflow, so the
output never bursts. Deciding "now" admits a cost only when the outflow is free; waiting
(``acquire``, the stage's backpressure mode) puts the item in the limiter's queue, which holds at
most ``capacity`` cost; a full queue refuses at once.

**Lateness is made up.** A caller refused now is told to come back when the outflow is free;
when the event loop wakes it late, its item keeps the slot it was promised instead of starting
a new one at the late moment, so the timers' lateness is not lost for good (on a busy machine
that lost ~39% of 2,000/s). Only slots promised to a refused caller (and the
slots right after them, while the outflow is still behind) are reused, and at most
``capacity / rate`` seconds of them (the time the queue the shaper admits takes to leave): idle
time never turns into credit.

**Burst**: none on schedule: slots start ``cost / rate`` apart and no item leaves before its
slot. ``capacity`` is how much may *wait*, not pass at once.
**Worst case** in any window of ``w`` seconds: ``rate * w + max_cost`` while timers are on time;
after a late wake, items catching up on at most ``capacity / rate`` seconds of owed slots leave
back to back, so in general ``rate * w + capacity + max_cost``. Never more than
``rate * (t - t0) + max_cost`` since any idle moment ``t0``: the long-run rate is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._base import EPSILON, INF, ROUNDING, Decision, State, new_decision
from ._rate_capacity import RateCapacity


@dataclass(frozen=True, kw_only=True, slots=True)
class LeakyBucketShaper(RateCapacity):
    """Leaky bucket used as a shaper: constant outflow, a bounded queue in front of it.

    Example::

        LeakyBucketShaper(rate=50, capacity=100)   # one item every 20 ms, up to 100 waiting
    """

    kind: ClassVar[str] = "leaky_shaper"

    @property
    def max_queued(self) -> float:
        """``capacity``: a full queue refuses at once."""
        return self.capacity

    @property
    def quota(self) -> float:
        """One unit ..."""
        return 1.0

    @property
    def window(self) -> float:
        """... every ``1 / rate`` seconds."""
        return 1.0 / self.rate

    def max_admitted(self, window: float, max_cost: float = 1.0) -> float:
        """``rate * window + capacity + max_cost`` (``rate * window + max_cost`` while timers
        are on time; see the module's docstring)."""
        return self.rate * window + self.capacity + max_cost

    def new_state(self, limiter: str) -> State:
        """A free outflow."""
        return LeakyShaperState(self, limiter)


class LeakyShaperState(State):
    """``free_at``: when the outflow has carried everything admitted so far; ``owed``: the
    slot promised to the first caller refused since the last admission (``-inf``: none)."""

    __slots__ = ("_capacity", "_horizon", "_interval", "free_at", "owed")

    def __init__(self, policy: LeakyBucketShaper, limiter: str) -> None:
        super().__init__(policy, limiter)
        self._interval = 1.0 / policy.rate
        self._capacity = policy.capacity
        self._horizon = policy.capacity / policy.rate
        self.free_at = -INF
        self.owed = -INF

    def decide(self, now: float, cost: float, commit: bool = True) -> Decision:
        """Admit *cost* if the outflow is free now."""
        if now < self.blocked_until:
            return self._blocked(now, cost)
        capacity = self._capacity
        slack = EPSILON * self._interval + ROUNDING * (now if now > 0.0 else -now)
        free_at = self.free_at
        if free_at <= now + slack and cost <= capacity + EPSILON:
            if free_at > now:
                start = free_at
            elif self.owed > -INF:
                # A refused caller was promised the slot at free_at: it keeps it (up to the
                # horizon) however late the loop woke it.
                start = max(free_at, now - self._horizon)
            else:
                start = now
            busy = start + cost * self._interval - now
            if commit:
                self.free_at = start + cost * self._interval
                if start >= now:
                    self.owed = -INF  # on schedule again; while behind, the debt stands
            return new_decision(Decision, (True, capacity, capacity - cost, 0.0,
                                           busy if busy > 0.0 else 0.0, self.policy,
                                           self.limiter, ()))
        busy = free_at - now if free_at > now else 0.0
        retry = busy if cost <= capacity + EPSILON else INF
        if commit and self.owed == -INF and retry < INF:
            self.owed = free_at
        left = capacity - busy / self._interval
        return new_decision(Decision, (False, capacity, left if left > 0.0 else 0.0, retry, busy,
                                       self.policy, self.limiter, ()))

    def idle_at(self) -> float:
        """When the outflow is free."""
        return self.free_at
