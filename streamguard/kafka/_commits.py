"""At-least-once commits: the completed prefix of each partition, batched by count and time.

Commits are serialised by a lock, so a revoke's final commit never races a periodic one. A
commit that fails because the group rebalanced meanwhile is reported and skipped: the
partitions' new owner starts from the last committed offset and delivers the rest again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka.errors import KafkaError

from streamguard.core._clock import Clock
from streamguard.core._events import EventBus

from ._events import CommitFailed, OffsetsCommitted
from ._partition import PartitionState

_log = logging.getLogger("streamguard.kafka")


class Committer:
    """Commits the committable offsets of a source's partitions."""

    def __init__(
        self, *, consumer: Any, name: str, bus: EventBus, clock: Clock, every: int,
        interval: float,
    ) -> None:
        self._consumer = consumer
        self._name = name
        self._bus = bus
        self._clock = clock
        self._every = every
        self._interval = interval
        self._lock = asyncio.Lock()
        self._last = clock.now()
        self.since_last = 0  # records completed since the last commit
        self.commits = 0
        self.failures = 0

    def due(self) -> str | None:
        """Why a commit is due now: ``"count"`` (enough records completed), ``"interval"``
        (enough time passed with some completed), or ``None``."""
        if self.since_last >= self._every:
            return "count"
        if self.since_last > 0 and self._clock.now() - self._last >= self._interval:
            return "interval"
        return None

    async def commit(self, parts: Iterable[PartitionState], trigger: str) -> bool:
        """Commit what *parts* completed; False if the broker refused (reported as event)."""
        parts = list(parts)
        async with self._lock:
            offsets: dict[Any, int] = {
                p.tp: p.tracker.committable for p in parts
                if p.tracker.needs_commit() and p.tracker.committable is not None
            }
            self._last = self._clock.now()
            self.since_last = 0
            if not offsets:
                return True
            try:
                await self._consumer.commit(offsets)
            except (KafkaError, ValueError) as exc:
                self.failures += 1
                _log.warning("source %r: commit (%s) failed: %r", self._name, trigger, exc)
                if self._bus.active:
                    self._bus.publish(CommitFailed(source=self._name, error=exc, trigger=trigger))
                return False
            for part in parts:
                if part.tp in offsets:
                    part.tracker.committed = offsets[part.tp]
            self.commits += 1
            if self._bus.active:
                self._bus.publish(OffsetsCommitted(
                    source=self._name, trigger=trigger,
                    offsets=tuple((tp.topic, tp.partition, o)
                                  for tp, o in sorted(offsets.items())),
                ))
            return True
