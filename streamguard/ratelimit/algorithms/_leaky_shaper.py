"""Leaky bucket as a shaper: a queue drained at a constant ``rate``.

Items leave one after another, each taking ``cost / rate`` seconds of the outflow, so the
output never bursts. Deciding "now" admits a cost only when the outflow is free; waiting
(``acquire``, the stage's shape mode) puts the item in the limiter's queue, which holds at
most ``capacity`` cost; a full queue refuses at once.

**Burst**: none at the output. ``capacity`` is how much may *wait*, not pass at once.
**Worst case** in any window of ``w`` seconds: ``rate * w + max_cost`` (the item that starts the
window plus everything the outflow carries during it). Timer lateness of the event loop only
ever lengthens the gaps, so at high rates the achieved rate can fall slightly short: use
:class:`~streamguard.ratelimit.GCRA` with a small burst when the rate must be exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .._decision import Decision
from ._base import EPSILON, INF, ROUNDING, State, new_decision
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
        """``rate * window + max_cost``."""
        return self.rate * window + max_cost

    def new_state(self, limiter: str) -> State:
        """A free outflow."""
        return LeakyShaperState(self, limiter)


class LeakyShaperState(State):
    """``free_at``: when the outflow has carried everything admitted so far."""

    __slots__ = ("_capacity", "_interval", "free_at")

    def __init__(self, policy: LeakyBucketShaper, limiter: str) -> None:
        super().__init__(policy, limiter)
        self._interval = 1.0 / policy.rate
        self._capacity = policy.capacity
        self.free_at = -INF

    def decide(self, now: float, cost: float, commit: bool = True) -> Decision:
        """Admit *cost* if the outflow is free now."""
        if now < self.blocked_until:
            return self._blocked(now, cost)
        capacity = self._capacity
        slack = EPSILON * self._interval + ROUNDING * (now if now > 0.0 else -now)
        if self.free_at <= now + slack and cost <= capacity + EPSILON:
            start = self.free_at if self.free_at > now else now
            busy = start + cost * self._interval - now
            if commit:
                self.free_at = start + cost * self._interval
            return new_decision(Decision, (True, capacity, capacity - cost, 0.0, busy,
                                           self.policy, self.limiter, ()))
        busy = self.free_at - now if self.free_at > now else 0.0
        retry = busy if cost <= capacity + EPSILON else INF
        left = capacity - busy / self._interval
        return new_decision(Decision, (False, capacity, left if left > 0.0 else 0.0, retry, busy,
                                       self.policy, self.limiter, ()))

    def idle_at(self) -> float:
        """When the outflow is free."""
        return self.free_at
