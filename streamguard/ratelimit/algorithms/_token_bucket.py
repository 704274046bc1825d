"""Token bucket: a bucket of ``burst`` tokens refilled at ``rate`` tokens per second.

**Burst** is the bucket's capacity: after a quiet spell, up to ``burst`` cost passes at once.
**Worst case** in any window of ``w`` seconds: ``burst + rate * w`` (a full bucket emptied at
the window's start, then every token that drips in). The long-run rate is ``rate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._base import EPSILON, INF, ROUNDING, Decision, State, new_decision
from ._rate_burst import RateBurst


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenBucket(RateBurst):
    """Token bucket with *rate* (tokens per second) and *burst* (capacity) set separately.

    Example::

        TokenBucket(rate=100, burst=20)   # 100/s on average, at most 20 back to back
    """

    kind: ClassVar[str] = "token_bucket"

    def new_state(self, limiter: str) -> State:
        """A full bucket."""
        return TokenBucketState(self, limiter)


class TokenBucketState(State):
    """Tokens left at ``stamp``; the refill since then is added lazily on each decision."""

    __slots__ = ("_burst", "_rate", "_rounding", "stamp", "tokens")

    def __init__(self, policy: TokenBucket, limiter: str) -> None:
        super().__init__(policy, limiter)
        self._rate = policy.rate
        self._burst = policy.burst
        self._rounding = policy.rate * ROUNDING
        self.tokens = policy.burst
        self.stamp = -INF

    def decide(self, now: float, cost: float, commit: bool = True) -> Decision:
        """Admit *cost* if the bucket holds that many tokens now."""
        if now < self.blocked_until:
            return self._blocked(now, cost)
        rate = self._rate
        burst = self._burst
        tokens = self.tokens + (now - self.stamp) * rate if now > self.stamp else self.tokens
        if tokens > burst:
            tokens = burst
        if cost <= tokens + EPSILON + self._rounding * (now if now > 0.0 else -now):
            tokens -= cost
            if commit:
                self.tokens = tokens
                if now > self.stamp:
                    self.stamp = now
            return new_decision(Decision, (True, burst, tokens if tokens > 0.0 else 0.0, 0.0,
                                           (burst - tokens) / rate, self.policy, self.limiter, ()))
        retry = (cost - tokens) / rate if cost <= burst + EPSILON else INF
        return new_decision(Decision, (False, burst, tokens if tokens > 0.0 else 0.0, retry,
                                       (burst - tokens) / rate, self.policy, self.limiter, ()))

    def take(self, now: float, cost: float) -> bool:
        """:meth:`decide` without reporting; building the report is most of its cost."""
        if now < self.blocked_until:
            return False
        stamp = self.stamp
        if now > stamp:
            tokens = self.tokens + (now - stamp) * self._rate
            if tokens > self._burst:
                tokens = self._burst
        else:
            tokens = self.tokens
        if cost <= tokens + EPSILON + self._rounding * (now if now > 0.0 else -now):
            self.tokens = tokens - cost
            if now > stamp:
                self.stamp = now
            return True
        return False

    def idle_at(self) -> float:
        """When the bucket is full again."""
        return self.stamp + (self._burst - self.tokens) / self._rate
