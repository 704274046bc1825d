"""At-least-once commits, off the fetch path: the completed prefix of each partition.

A commit is a broker round trip (several milliseconds on Apache Kafka). The pump only asks
for one (:meth:`Committer.request`) and goes on fetching: the commit runs in a task of its
own, at most one at a time; requests that arrive while one is in flight are coalesced into
one more commit that starts when it returns, with the offsets completed by then.

Commits are serialised by a lock, so a revoke's or close's final commit never races a
periodic one. A commit that fails because the group rebalanced meanwhile is reported and
skipped: the partitions' new owner starts from the last committed offset and delivers the
rest again.

With ``completed_metadata`` (#13) each partition's commit also carries, in its metadata, the
offsets above the committed one that completed already (:mod:`._offset_map`); a commit is then
due when the offset moved *or* that set grew. The encoding runs per commit, over the records
not yet committable — never per record.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from aiokafka.errors import KafkaError

from streamguard.core._clock import Clock
from streamguard.core._events import EventBus

from ._events import CommitFailed, OffsetsCommitted
from ._offset_map import Ranges, above, advance, encode, union
from ._partition import PartitionState

_log = logging.getLogger("streamguard.kafka")

Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]


class Committer:
    """Commits the committable offsets of a source's partitions.

    Args:
        parts: the partitions assigned now (read when a background commit starts).
        spawn: starts the background commit task (owned by the pipeline).
        every / interval: a commit is due after *every* completed records, or after
            *interval* seconds with some completed.
        metadata_limit: carry the completed offsets above the committed one in metadata of
            at most this many characters (``None``: plain offsets).
    """

    def __init__(
        self, *, consumer: Any, name: str, bus: EventBus, clock: Clock, every: int,
        interval: float, parts: Callable[[], Iterable[PartitionState]], spawn: Spawn,
        metadata_limit: int | None = None,
    ) -> None:
        self._consumer = consumer
        self._name = name
        self._bus = bus
        self._clock = clock
        self._every = every
        self._interval = interval
        self._parts = parts
        self._spawn = spawn
        self._limit = metadata_limit
        self._lock = asyncio.Lock()
        self._last = clock.now()
        self._task: asyncio.Task[Any] | None = None
        self._again: str | None = None
        self.commits = 0
        self.failures = 0

    def due(self, completed: int) -> str | None:
        """Why a commit is due with *completed* records completed since the last one:
        ``"count"``, ``"interval"`` (time passed with some completed — with metadata, also
        with records in flight, whose chunk-mates may have completed), or ``None``."""
        if completed >= self._every:
            return "count"
        if self._clock.now() - self._last < self._interval:
            return None
        if completed > 0:
            return "interval"
        # Records completing inside a chunk held back by one stuck record move nothing
        # (they are counted per chunk): with metadata, look at open chunks once an interval.
        if self._limit is not None and any(p.tracker.open_chunks for p in self._parts()):
            return "interval"
        return None

    @property
    def in_flight(self) -> bool:
        """True while a background commit runs."""
        return self._task is not None and not self._task.done()

    def request(self, trigger: str) -> None:
        """Commit in the background: now, or (coalesced) once the one in flight returns."""
        self._last = self._clock.now()
        if self.in_flight:
            self._again = trigger
            return
        self._task = self._spawn(self._background(trigger), f"commit:{self._name}")

    async def _background(self, trigger: str | None) -> None:
        while trigger is not None:
            await self.commit(self._parts(), trigger)
            trigger, self._again = self._again, None

    async def settle(self) -> None:
        """Wait for the background commit in flight, if any (its outcome is reported)."""
        self._again = None
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait([task])

    async def commit(
        self, parts: Iterable[PartitionState], trigger: str, *, final: bool = False
    ) -> bool:
        """Commit what *parts* completed; False if the broker refused (reported as event).

        *final* (revoke, drain, close) also commits the completed records at the head of a
        chunk whose other records will not complete here (abandoned, or left in flight).
        """
        parts = list(parts)
        async with self._lock:
            offsets: dict[Any, tuple[int, str]] = {}
            for part in parts:
                if part.tracker.dead:  # let go (revoked, or closed): its last commit was made
                    continue
                part.tracker.sync()
                target = self._target(part, final)
                if target is not None:
                    offsets[part.tp] = target
            if not offsets:
                return True
            try:
                await self._consumer.commit(
                    {tp: o for tp, (o, _) in offsets.items()} if self._limit is None
                    else offsets)
            except (KafkaError, ValueError) as exc:
                self.failures += 1
                _log.warning("source %r: commit (%s) failed: %r", self._name, trigger, exc)
                if self._bus.active:
                    self._bus.publish(CommitFailed(source=self._name, error=exc, trigger=trigger))
                return False
            for part in parts:
                if part.tp in offsets:
                    offset, part.metadata = offsets[part.tp]
                    part.tracker.committed = offset
                    if part.skip:
                        part.skip = above(part.skip, offset)
            self.commits += 1
            if self._bus.active:
                self._bus.publish(OffsetsCommitted(
                    source=self._name, trigger=trigger,
                    offsets=tuple((tp.topic, tp.partition, o)
                                  for tp, (o, _) in sorted(offsets.items())),
                ))
            return True

    def _target(self, part: PartitionState, final: bool) -> tuple[int, str] | None:
        """The ``(offset, metadata)`` to commit for *part*, or ``None`` if nothing changed."""
        tracker = part.tracker
        low = tracker.final_committable() if final else tracker.committable
        if self._limit is None:
            if low is not None and (tracker.committed is None or low > tracker.committed):
                return low, ""
            return None
        point = commit_point(part, low)
        if point is None:
            return None
        offset, done = point
        committed = tracker.committed
        if committed is not None and offset < committed:
            return None
        metadata = encode(offset, done, self._limit)
        if committed is None or offset > committed or metadata != part.metadata:
            return offset, metadata
        return None


def commit_point(part: PartitionState, low: int | None) -> tuple[int, Ranges] | None:
    """Where *part*'s commit goes with the completed metadata on — the lowest incomplete
    offset — and the completed ranges above it, given its committable offset *low*
    (``None``: nothing contiguous completed); ``None`` if there is nothing to commit.
    Per commit (and per measure of the gap bound, :mod:`._gap`), never per record."""
    tracker = part.tracker
    done = union(tracker.completed_ranges(), part.skip)
    if low is None:  # nothing contiguous completed yet: stay at the first open record
        low = tracker.first_open if tracker.committed is None else tracker.committed
        if low is None or not done:
            return None
    return advance(low, done), done  # records skipped after a restart count as completed
