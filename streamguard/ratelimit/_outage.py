"""What a limiter does while its storage is down: fail open or closed, count, log once."""

from __future__ import annotations

import logging
from typing import Literal

from streamguard.core._events import EventBus

from ._events import StorageOutageBegan, StorageOutageEnded
from .algorithms._base import Decision, new_decision
from .storage._base import TierSpec

_log = logging.getLogger("streamguard.ratelimit")

FailureMode = Literal["open", "closed"]


class OutageGuard:
    """Tracks one limiter's view of its storage.

    After a failure the storage is not asked again for ``probe`` seconds: every decision in
    between follows the failure mode at once, so a dead Redis costs no timeouts per item.
    The first failure of an outage logs a warning and publishes :class:`StorageOutageBegan`;
    the first success after it logs (at info level) and publishes :class:`StorageOutageEnded`.
    """

    __slots__ = ("_bus", "_limiter", "_storage", "_tiers", "began", "decisions", "down",
                 "mode", "next_probe", "outages", "probe", "total_decisions")

    def __init__(self, *, limiter: str, storage: str, tiers: tuple[TierSpec, ...],
                 mode: FailureMode, probe: float, bus: EventBus) -> None:
        self._limiter = limiter
        self._storage = storage
        self._tiers = tiers
        self._bus = bus
        self.mode = mode
        self.probe = probe
        self.down = False
        self.began = 0.0
        self.next_probe = 0.0
        self.decisions = 0
        self.outages = 0
        self.total_decisions = 0

    def skip(self, now: float) -> bool:
        """True while the storage is known down and the next probe is not yet due."""
        return self.down and now < self.next_probe

    def failed(self, now: float, error: BaseException) -> None:
        """The storage failed at *now*."""
        self.next_probe = now + self.probe
        if self.down:
            return
        self.down = True
        self.began = now
        self.decisions = 0
        self.outages += 1
        verb = "admitting everything" if self.mode == "open" else "refusing everything"
        _log.warning("rate limiter %r: storage %s is down (%s); failing %s (%s) until it "
                     "answers again", self._limiter, self._storage, error, self.mode, verb)
        if self._bus.active:
            self._bus.publish(StorageOutageBegan(
                source=self._limiter, limiter=self._limiter, storage=self._storage,
                failure_mode=self.mode, error=str(error)))

    def recovered(self, now: float) -> None:
        """The storage answered at *now*."""
        if not self.down:
            return
        self.down = False
        duration = now - self.began
        _log.info("rate limiter %r: storage %s answers again after %.3f s; %d decisions "
                     "were made failing %s", self._limiter, self._storage, duration,
                     self.decisions, self.mode)
        if self._bus.active:
            self._bus.publish(StorageOutageEnded(
                source=self._limiter, limiter=self._limiter, storage=self._storage,
                duration=duration, decisions=self.decisions))

    def decide(self, now: float) -> list[Decision]:
        """One decision per tier by the failure mode (counted)."""
        self.decisions += 1
        self.total_decisions += 1
        allowed = self.mode == "open"
        retry = 0.0 if allowed else max(0.0, self.next_probe - now)
        return [new_decision(Decision, (allowed, algorithm.limit, algorithm.limit if allowed
                                        else 0.0, retry, retry, algorithm, name, ()))
                for name, algorithm in self._tiers]
