"""Leaky bucket as a meter: a bucket of ``capacity`` that leaks at ``rate`` per second.

Every admitted cost is poured in; a cost that would overflow the bucket is refused and
nothing is poured. It is the mirror image of the token bucket (the level is the tokens
already spent), so it admits exactly what a ``TokenBucket(rate, burst=capacity)`` admits;
use it when "level" is the vocabulary your users know (ATM, traffic policing).

**Burst**: ``capacity``, what an empty bucket takes at once.
**Worst case** in any window of ``w`` seconds: ``capacity + rate * w``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._base import EPSILON, INF, ROUNDING, Decision, State, new_decision
from ._rate_capacity import RateCapacity


@dataclass(frozen=True, kw_only=True, slots=True)
class LeakyBucketMeter(RateCapacity):
    """Leaky bucket used as a meter: refuse what would overflow.

    Example::

        LeakyBucketMeter(rate=5, capacity=10)
    """

    kind: ClassVar[str] = "leaky_meter"

    @property
    def quota(self) -> float:
        """``capacity`` units ..."""
        return self.capacity

    @property
    def window(self) -> float:
        """... per the time a full bucket takes to drain."""
        return self.capacity / self.rate

    def max_admitted(self, window: float, max_cost: float = 1.0) -> float:
        """``capacity + rate * window``."""
        return self.capacity + self.rate * window

    def new_state(self, limiter: str) -> State:
        """An empty bucket."""
        return LeakyMeterState(self, limiter)


class LeakyMeterState(State):
    """The water ``level`` at time ``stamp``."""

    __slots__ = ("_capacity", "_rate", "_rounding", "level", "stamp")

    def __init__(self, policy: LeakyBucketMeter, limiter: str) -> None:
        super().__init__(policy, limiter)
        self._rate = policy.rate
        self._capacity = policy.capacity
        self._rounding = policy.rate * ROUNDING
        self.level = 0.0
        self.stamp = -INF

    def decide(self, now: float, cost: float, commit: bool = True) -> Decision:
        """Pour *cost* in unless it would overflow."""
        if now < self.blocked_until:
            return self._blocked(now, cost)
        rate = self._rate
        capacity = self._capacity
        level = self.level - (now - self.stamp) * rate if now > self.stamp else self.level
        if level < 0.0:
            level = 0.0
        if level + cost <= capacity + EPSILON + self._rounding * (now if now > 0.0 else -now):
            level += cost
            if commit:
                self.level = level
                if now > self.stamp:
                    self.stamp = now
            left = capacity - level
            return new_decision(Decision, (True, capacity, left if left > 0.0 else 0.0, 0.0,
                                           level / rate, self.policy, self.limiter, ()))
        retry = (level + cost - capacity) / rate if cost <= capacity + EPSILON else INF
        return new_decision(Decision, (False, capacity, capacity - level, retry, level / rate,
                                       self.policy, self.limiter, ()))

    def take(self, now: float, cost: float) -> bool:
        """:meth:`decide` without reporting; building the report is most of its cost."""
        if now < self.blocked_until:
            return False
        stamp = self.stamp
        level = self.level - (now - stamp) * self._rate if now > stamp else self.level
        if level < 0.0:
            level = 0.0
        if level + cost <= (self._capacity + EPSILON
                            + self._rounding * (now if now > 0.0 else -now)):
            self.level = level + cost
            if now > stamp:
                self.stamp = now
            return True
        return False

    def idle_at(self) -> float:
        """When the bucket has drained."""
        return self.stamp + self.level / self._rate
