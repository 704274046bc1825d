"""When ``streamguard run --workers N`` restarts a worker that died, and when it gives up.

A pure planner (state in, decisions out, as :class:`~streamguard.kafka._pause.PauseController`
is): the supervisor tells it how long the process ran before it died and applies the answer.
A worker is restarted after a backoff that doubles with each failure in a row (0.5 s, 1 s,
2 s, … up to 10 s); one that ran for :attr:`RestartPolicy.stable_after` seconds before it died
counts afresh, so a long-running worker killed now and then is always restarted, while a
target that crashes on start ends the run after :attr:`RestartPolicy.max_restarts` restarts
with a clear error instead of looping for ever.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core._errors import require


@dataclass(frozen=True, kw_only=True, slots=True)
class RestartPolicy:
    """How the supervisor restarts a worker that died unexpectedly.

    Attributes:
        max_restarts: restarts in a row before giving up (default 5; 0 never restarts).
        backoff: seconds before the first restart (default 0.5); doubled for each further
            failure in a row.
        max_backoff: the longest wait between restarts (default 10).
        stable_after: a worker that ran this many seconds before it died starts a new count
            (default 30).
    """

    max_restarts: int = 5
    backoff: float = 0.5
    max_backoff: float = 10.0
    stable_after: float = 30.0

    def __post_init__(self) -> None:
        require(self.max_restarts >= 0, "max_restarts must be >= 0", self.max_restarts)
        for name in ("backoff", "max_backoff", "stable_after"):
            value = getattr(self, name)
            require(value > 0 and math.isfinite(value), f"{name} must be > 0 and finite",
                    value)


class Restarts:
    """One worker's failures in a row, and what to do about the next one."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self.in_a_row = 0
        self.total = 0

    def died(self, ran_for: float) -> float | None:
        """The worker died after *ran_for* seconds: the seconds to wait before restarting
        it, or ``None`` when it has failed too many times in a row."""
        if ran_for >= self.policy.stable_after:
            self.in_a_row = 0
        self.in_a_row += 1
        if self.in_a_row > self.policy.max_restarts:
            return None
        self.total += 1
        delay: float = self.policy.backoff * 2 ** (self.in_a_row - 1)
        return min(self.policy.max_backoff, delay)
