"""`LimiterStatistics`: a frozen snapshot of a limiter's counters."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class LimiterStatistics:
    """Counters of one limiter since it was created.

    Attributes:
        limiter: the limiter's name.
        allowed: decisions that passed at once.
        delayed: costs that passed after waiting.
        rejected: decisions that refused (including waits that gave up).
        waiting: callers waiting right now.
        waiting_cost: the cost they wait for.
        keys: keys held in local storage (``-1`` for remote storage).
        outages: storage outages seen.
        outage_decisions: decisions made by the failure mode because storage was down.
        storage_down: the storage is down right now.
    """

    limiter: str
    allowed: int
    delayed: int
    rejected: int
    waiting: int
    waiting_cost: float
    keys: int
    outages: int
    outage_decisions: int
    storage_down: bool
