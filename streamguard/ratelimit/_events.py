"""What a limiter reports: typed events, published on an :class:`~streamguard.core.EventBus`,
and :class:`LimiterStatistics`, the frozen snapshot of its counters.

Metrics count ``streamguard_ratelimit_decisions_total{limiter,result}`` from
:class:`RateLimitDecided`; nothing here imports a metrics library. Events are built only when
the bus has a listener, so an unobserved limiter pays one attribute check per decision.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Literal

from streamguard.core._events import Event

from .algorithms._base import Decision

DecisionResult = Literal["allowed", "delayed", "rejected"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitEvent(Event):
    """Base of rate-limit events; ``source`` and ``limiter`` are the limiter's name."""

    limiter: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitDecided(RateLimitEvent):
    """A limiter decided on a cost.

    ``result`` is ``"allowed"`` (passed at once), ``"delayed"`` (passed after waiting
    ``waited`` seconds) or ``"rejected"`` (refused: police mode, a timeout, a full queue, or
    storage down in fail-closed mode).
    """

    result: DecisionResult
    key: Hashable
    cost: float
    waited: float
    decision: Decision


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageOutageBegan(RateLimitEvent):
    """The limiter's storage stopped answering; decisions now follow ``failure_mode``."""

    storage: str
    failure_mode: Literal["open", "closed"]
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageOutageEnded(RateLimitEvent):
    """The storage answers again after ``duration`` seconds; ``decisions`` were made by the
    failure mode meanwhile."""

    storage: str
    duration: float
    decisions: int


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
