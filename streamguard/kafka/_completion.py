"""Completion: the ack of every record, and what the source does when records finish.

Each record handed downstream gets a :class:`RecordAck` of its own — a three-slot object that
knows its record and the chunk it belongs to (:mod:`._offsets` counts completions per chunk).
Because the ack knows its record, a record that fails or is dead-lettered far down the
pipeline, after ``op.map`` turned it into something else, still maps back to its topic,
partition, offset and original bytes.

An ack settles once; later calls are ignored:

* ``done()`` — processed: counts towards the commit;
* ``fail(error)`` — with a dead-letter topic the record is written there (and counts as done
  once the broker has it); without one the stream fails and the record is not committed;
* ``abandon()`` — not processed (cancel, ``take``, an expired drain): the source never commits
  past it, so it is delivered again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any, Protocol

from ._context import SourceContext
from ._errors import RecordFailedError
from ._offsets import ChunkAck, OffsetTracker
from ._partition import PartitionState
from ._types import TP

PENDING, DONE, FAILED, ABANDONED, DEAD_LETTERING = 0, 1, 2, 3, 4


class Settlement(Protocol):
    """What a :class:`RecordAck` hands its non-trivial endings to (the dead-letter route)."""

    armed: int

    def bind(self, ack: RecordAck) -> None:
        """An armed ``dead_letter(item, error)`` call belongs to *ack*'s record."""
        ...

    def failed(self, ack: RecordAck, error: BaseException) -> None:
        """*ack*'s record failed with *error*."""
        ...


class RecordAck:
    """The ack of one record (see the module docstring)."""

    __slots__ = ("_route", "chunk", "record", "state")

    def __init__(self, chunk: ChunkAck, record: Any, route: Settlement) -> None:
        self.chunk = chunk
        self.record = record
        self.state = PENDING
        self._route = route

    @property
    def offset(self) -> int:
        """The record's offset."""
        return int(self.record.offset)

    @property
    def completed(self) -> bool:
        """True once the record counts as processed (a dead letter: once it is written)."""
        return self.state == DONE

    def done(self) -> None:
        """The record was processed."""
        if self.state:
            return
        if self._route.armed:
            self._route.bind(self)
            return
        self.state = DONE
        self.chunk.done()

    def fail(self, error: BaseException) -> None:
        """The record failed with *error*."""
        if not self.state:
            self._route.failed(self, error)

    def abandon(self) -> None:
        """The record was not processed: it will be delivered again."""
        if not self.state:
            self.state = ABANDONED
            self.chunk.abandon()

    def finish(self) -> None:
        """Its dead letter was written (or it is settled otherwise): count it complete."""
        if self.state in (PENDING, DEAD_LETTERING):
            self.state = DONE
            self.chunk.done()

    def __repr__(self) -> str:
        r = self.record
        return f"RecordAck({r.topic}/{r.partition}@{r.offset}, state={self.state})"


def acks_for(chunk: ChunkAck, records: list[Any], route: Settlement) -> list[RecordAck]:
    """One ack per record of *chunk* (also kept on the chunk for the final commit)."""
    acks = [RecordAck(chunk, r, route) for r in records]
    chunk.acks = acks
    return acks


def find_ack(part: PartitionState, record: Any) -> RecordAck | None:
    """The pending ack of *record* in *part*, if it is still in flight."""
    chunk = part.tracker.chunk_of(record.offset)
    if chunk is None or chunk.acks is None:
        return None
    for ack in chunk.acks:
        if ack.record.offset == record.offset:
            return ack  # type: ignore[no-any-return]
    return None


class Completion:
    """Counts completions, feeds the pause planner and wakes whoever waits for in-flight
    records to finish (revoke, drain, close)."""

    def __init__(self, ctx: SourceContext, on_backlog_change: Any, on_failure: Any) -> None:
        self._ctx = ctx
        self._on_backlog_change = on_backlog_change
        self._on_failure = on_failure
        self._progress = asyncio.Event()
        self.since_commit = 0  # records completed since the last commit was scheduled

    def tracker_for(self, holder: list[PartitionState]) -> OffsetTracker:
        """A new partition's tracker, reporting to this object (*holder* gets the part)."""
        early = self._early if self._ctx.config.completed_metadata else None
        return OffsetTracker(
            on_progress=lambda _t, n: self._progressed(holder[0], n),
            on_failure=lambda chunk, error: self._on_failure(holder[0], chunk, error),
            on_early=early,
        )

    def _early(self, n: int) -> None:
        # Completed behind an incomplete chunk: not committable, but the commit's metadata
        # carries them, so they make a commit due as well (#13).
        self.since_commit += n

    def _progressed(self, part: PartitionState, n: int) -> None:
        ctx = self._ctx
        ctx.counts.completed += n
        self.since_commit += n
        if not part.tracker.dead and ctx.pause.backlog(part.tp, part.backlog,
                                                       part.backlog_bytes):
            self._on_backlog_change()
        self._progress.set()

    def wake(self) -> None:
        """Wake waiters (something else than a completion changed what they wait for)."""
        self._progress.set()

    async def wait_in_flight(self, parts: Iterable[PartitionState], limit: float) -> None:
        """Return once *parts* have nothing in flight, or after *limit* seconds."""
        parts = list(parts)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while any(p.tracker.pending_records for p in parts):
            left = deadline - loop.time()
            if left <= 0:
                return
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, 0.05)):
                    await self._progress.wait()


def stream_failure(ctx: SourceContext, tp: TP, chunk: ChunkAck,
                   error: BaseException) -> RecordFailedError:
    """The error that ends the stream when a record failed and there is no dead-letter topic."""
    return RecordFailedError(
        f"source {ctx.name!r}: a record of {tp.topic}/{tp.partition} (offsets "
        f"{chunk.first}..{chunk.last}) failed with {type(error).__name__}: {error}; it was "
        "not committed and will be delivered again. To keep going past failing records, "
        "set KafkaSourceConfig.dead_letter_topic"
    )
