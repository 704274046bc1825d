"""GCRA, the generic cell rate algorithm: a token bucket kept as one timestamp.

The state is the *theoretical arrival time* (TAT): when the next unit would be due if
everything admitted so far had been spaced exactly ``1 / rate`` apart. A cost passes if it
would not push the TAT more than ``burst / rate`` ahead of now. Decision by decision it agrees
with :class:`~streamguard.ratelimit.TokenBucket` of the same rate and burst (a property test
checks it); it stores one number instead of two, which is what the Redis script keeps.

**Burst**: up to ``burst`` cost back to back after a quiet spell.
**Worst case** in any window of ``w`` seconds: ``burst + rate * w``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._base import EPSILON, INF, ROUNDING, Decision, State, new_decision
from ._rate_burst import RateBurst


@dataclass(frozen=True, kw_only=True, slots=True)
class GCRA(RateBurst):
    """GCRA with *rate* (per second) and *burst* (units admitted back to back).

    Example::

        GCRA(rate=10, burst=5)
    """

    kind: ClassVar[str] = "gcra"

    def new_state(self, limiter: str) -> State:
        """TAT in the past: a full allowance."""
        return GCRAState(self, limiter)


class GCRAState(State):
    """The theoretical arrival time ``tat``."""

    __slots__ = ("_burst", "_interval", "_rate", "_reach", "_tau", "tat")

    def __init__(self, policy: GCRA, limiter: str) -> None:
        super().__init__(policy, limiter)
        self._rate = policy.rate
        self._burst = policy.burst
        self._interval = 1.0 / policy.rate
        self._tau = policy.burst / policy.rate
        self._reach = self._tau + EPSILON * self._interval  # how far ahead the TAT may run
        self.tat = -INF

    def decide(self, now: float, cost: float, commit: bool = True) -> Decision:
        """Admit *cost* if the new TAT stays within ``burst / rate`` of now."""
        if now < self.blocked_until:
            return self._blocked(now, cost)
        tat = self.tat if self.tat > now else now
        new_tat = tat + cost * self._interval
        ahead = new_tat - now
        if ahead <= self._reach + ROUNDING * (now if now > 0.0 else -now):
            if commit:
                self.tat = new_tat
            left = self._burst - ahead * self._rate
            return new_decision(Decision, (True, self._burst, left if left > 0.0 else 0.0, 0.0,
                                           ahead, self.policy, self.limiter, ()))
        left = self._burst - (tat - now) * self._rate
        retry = ahead - self._tau if cost <= self._burst + EPSILON else INF
        return new_decision(Decision, (False, self._burst, left if left > 0.0 else 0.0, retry,
                                       tat - now, self.policy, self.limiter, ()))

    def take(self, now: float, cost: float) -> bool:
        """:meth:`decide` without reporting; building the report is most of its cost."""
        if now < self.blocked_until:
            return False
        tat = self.tat if self.tat > now else now
        new_tat = tat + cost * self._interval
        if new_tat - now <= self._reach + ROUNDING * (now if now > 0.0 else -now):
            self.tat = new_tat
            return True
        return False

    def idle_at(self) -> float:
        """The TAT: from then on the allowance is full."""
        return self.tat
