"""Completion: the ack of every record, and what the source does when records finish.

Each record handed downstream gets a :class:`RecordAck` of its own that knows its record and
the chunk it belongs to (:mod:`._offsets` keeps the chunks in offset order). Because the ack
knows its record, a record that fails or is dead-lettered far down the pipeline, after
``op.map`` turned it into something else, still maps back to its topic, partition, offset and
original bytes.

The acks cost no object and no Python call per record beyond the stage's own ``done()``:

* each partition keeps an :class:`AckRing`, a pool of ack objects handed out again once their
  chunk is committable. A record's state is one byte of the ring's ``bytearray`` and its chunk
  one entry of a list, so handing out a chunk of *n* records is a few slice assignments (C
  loops, no allocation);
* ``done()`` writes the record's byte (with a dead-letter topic it first hands the record to
  an armed ``dead_letter`` call). Completion is read from the bytes in batches
  (:meth:`~._offsets.OffsetTracker.sync`).

One ack object per record, allocated and collected, cost ~0.3 µs per record with the garbage
collector's share: a quarter of the source's time at raw-client speed (issue #11).

An ack settles once; later calls are ignored (a ``done()`` after ``fail``/``abandon`` leaves
the record failed or abandoned: its chunk is never committed past it):

* ``done()`` — processed: counts towards the commit;
* ``fail(error)`` — with a dead-letter topic the record is written there (and counts as done
  once the broker has it); without one the stream fails and the record is not committed;
* ``abandon()`` — not processed (cancel, ``take``, an expired drain): the source never commits
  past it, so it is delivered again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any, Protocol

from ._context import SourceContext
from ._errors import RecordFailedError
from ._gap import GapGate
from ._offsets import (
    ABANDONED,
    DEAD_LETTERING,
    DONE,
    FAILED,
    FREE,
    PENDING,
    ChunkAck,
    OffsetTracker,
)
from ._partition import PartitionState
from ._types import TP

_log = logging.getLogger("streamguard.kafka")


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
    """The ack of one record (see the module docstring): slot *j* of an :class:`AckRing`.

    ``done()`` writes the record's state byte; :class:`CheckedRecordAck` is the variant for
    sources where ``dead_letter`` calls may be armed.
    """

    __slots__ = ("_j", "_ring")

    def __init__(self, ring: AckRing, j: int) -> None:
        self._ring = ring
        self._j = j

    def done(self) -> None:
        """The record was processed: it counts towards the commit."""
        # A plain method, not a partial bound per slot: on 3.11 it is as fast (the call is
        # inlined), and a slot costs ~90 bytes instead of ~340 (#11's memory goal).
        states = self._ring.states
        if not states[self._j]:
            states[self._j] = DONE

    @property
    def chunk(self) -> ChunkAck:
        """The chunk the record was handed out in."""
        chunk: ChunkAck = self._ring.chunks[self._j]
        return chunk

    @property
    def record(self) -> Any:
        """The record."""
        chunk = self.chunk
        assert chunk.records is not None, "a committable chunk lets its records go"
        return chunk.records[self._j - chunk.slot0]

    @property
    def state(self) -> int:
        """``PENDING``, ``DONE``, ``FAILED``, ``ABANDONED`` or ``DEAD_LETTERING``."""
        return self._ring.states[self._j]

    @state.setter
    def state(self, value: int) -> None:
        self._ring.states[self._j] = value
        if value in (FAILED, ABANDONED):
            chunk = self.chunk
            chunk.stopped_at(self._j - chunk.slot0)

    @property
    def offset(self) -> int:
        """The record's offset."""
        return int(self.record.offset)

    @property
    def completed(self) -> bool:
        """True once the record counts as processed (a dead letter: once it is written)."""
        return self._ring.states[self._j] == DONE

    def fail(self, error: BaseException) -> None:
        """The record failed with *error*."""
        if not self._ring.states[self._j]:
            self._ring.route.failed(self, error)

    def abandon(self) -> None:
        """The record was not processed: it will be delivered again."""
        if not self._ring.states[self._j]:
            self.state = ABANDONED
            self.chunk.abandon()

    def finish(self) -> None:
        """Its dead letter was written (or it is settled otherwise): count it complete."""
        if self.state in (PENDING, DEAD_LETTERING):
            self.state = DONE

    def __repr__(self) -> str:
        chunk = self._ring.chunks[self._j]
        if chunk is None or chunk.records is None:
            return f"RecordAck(slot {self._j}, state={self.state})"
        r = self.record
        return f"RecordAck({r.topic}/{r.partition}@{r.offset}, state={self.state})"


class CheckedRecordAck(RecordAck):
    """A :class:`RecordAck` whose ``done()`` first hands the record to an armed
    ``dead_letter`` call: an armed call binds to the record its stage settles next."""

    __slots__ = ()

    def done(self) -> None:
        """The record was processed — or, if a ``dead_letter`` call is armed, it is the
        record that call is about."""
        ring = self._ring
        states = ring.states
        j = self._j
        if states[j]:
            return
        route = ring.route
        if route.armed:
            route.bind(self)
            return
        states[j] = DONE


class AckRing:
    """The record acks of one partition's chunks, reused (see the module docstring).

    A chunk takes a run of free slots (first fit from where the last one ended, C-level
    ``bytearray.find``); the tracker gives them back when the chunk is committable. The ring
    grows by the run it needs when none is free, so it holds about as many slots as records
    are handed out and not yet committable (it used to double: up to twice as many, #11).

    Args:
        route: where failures and armed dead letters go.
        checked: whether ``dead_letter`` calls can be armed (a dead-letter topic is set);
            ``done()`` is then a short Python method instead of a C call.
    """

    __slots__ = ("_checked", "_next", "chunks", "route", "slots", "states")

    def __init__(self, route: Settlement, *, checked: bool = True) -> None:
        self.route = route
        self._checked = checked
        self.slots: list[RecordAck] = []
        self.states = bytearray()
        self.chunks: list[Any] = []  # slot -> its ChunkAck (None before first use)
        self._next = 0

    def acks_for(self, chunk: ChunkAck, records: list[Any]) -> list[RecordAck]:
        """One ack per record of *chunk*, in order (also kept on the chunk)."""
        n = len(records)
        states = self.states
        run = _free_run(n)
        p = states.find(run, self._next)
        if p < 0:
            p = states.find(run)
        if p < 0:
            p = len(states)
            self._grow(n)
        end = p + n
        states[p:end] = bytes(n)  # PENDING
        self.chunks[p:end] = [chunk] * n
        self._next = end
        chunk.states = states
        chunk.slot0 = p
        chunk.records = records
        acks = self.slots[p:end]
        chunk.acks = acks
        return acks

    def release(self, chunk: ChunkAck) -> None:
        """*chunk* is committable: its slots are free again."""
        p = chunk.slot0
        self.states[p:p + chunk.count] = _free_run(chunk.count)

    def _grow(self, by: int) -> None:
        start = len(self.slots)
        self.states.extend(_free_run(by))
        self.chunks.extend([None] * by)
        kind = CheckedRecordAck if self._checked else RecordAck
        self.slots.extend([kind(self, j) for j in range(start, start + by)])


def _free_run(n: int) -> bytes:
    return _FREE_BYTE * n


_FREE_BYTE = bytes((FREE,))


def find_ack(part: PartitionState, record: Any) -> RecordAck | None:
    """The pending ack of *record* in *part*, if it is still in flight."""
    chunk = part.tracker.chunk_of(record.offset)
    if chunk is None or chunk.acks is None or chunk.records is None:
        return None
    for ack, r in zip(chunk.acks, chunk.records, strict=True):
        if r.offset == record.offset:
            return ack  # type: ignore[no-any-return]
    return None


class Completion:
    """Counts completions, feeds the pause planner and wakes whoever waits for in-flight
    records to finish (revoke, drain, close)."""

    def __init__(self, ctx: SourceContext, on_backlog_change: Any, on_failure: Any,
                 gate: GapGate | None = None) -> None:
        self._ctx = ctx
        self._on_backlog_change = on_backlog_change
        self._on_failure = on_failure
        self._progress = asyncio.Event()
        self.since_commit = 0  # records completed since the last commit was scheduled
        self.gate = gate  # the gap bound (#13), told what completes

    def tracker_for(self, holder: list[PartitionState]) -> OffsetTracker:
        """A new partition's tracker, reporting to this object (*holder* gets the part)."""
        early = ((lambda n: self._early(holder[0], n)) if self._ctx.config.completed_metadata
                 else None)
        return OffsetTracker(
            on_progress=lambda _t, n: self._progressed(holder[0], n),
            on_failure=lambda chunk, error: self._on_failure(holder[0], chunk, error),
            on_early=early,
        )

    def _early(self, part: PartitionState, n: int) -> None:
        # Completed behind an incomplete chunk: not committable, but the commit's metadata
        # carries them, so they make a commit due as well (#13).
        self.since_commit += n
        if self.gate is not None:
            self.gate.settled(part, n)

    def _progressed(self, part: PartitionState, n: int) -> None:
        ctx = self._ctx
        ctx.counts.completed += n
        self.since_commit += n
        if not part.tracker.dead and ctx.pause.backlog(part.tp, part.backlog,
                                                       part.backlog_bytes):
            self._on_backlog_change()
        if n and self.gate is not None:
            self.gate.moved(part)
        self._progress.set()

    def sync(self, parts: Iterable[PartitionState]) -> None:
        """Learn which chunks of *parts* completed (acks only write their state bytes), and
        let partitions held by the gap bound go on once theirs closed enough."""
        for part in parts:
            part.tracker.sync()
        if self.gate is not None:
            self.gate.recheck()

    def wake(self) -> None:
        """Wake waiters (something else than a completion changed what they wait for)."""
        self._progress.set()

    async def wait_in_flight(self, parts: Iterable[PartitionState], limit: float) -> None:
        """Return once *parts* have nothing in flight, or after *limit* seconds.

        A ``done()`` only writes a byte, so this looks every 10 ms (and at once on a
        ``fail``/``abandon``, which wake it)."""
        parts = list(parts)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        # A partition revoked meanwhile (a rebalance during a drain) ignores late completions,
        # so its records stay pending for ever: they are its new owner's now, not ours to wait
        # for. Waiting on them held a drain to its full timeout (#14, --workers).
        while True:
            # Read the state bytes each look: a done() is seen only when read, and nothing
            # else reads them while a rebalance holds the fetch loop.
            self.sync(parts)
            if not any(p.tracker.pending_records for p in parts if not p.tracker.dead):
                return
            left = deadline - loop.time()
            if left <= 0:
                self._held_to_deadline(parts, limit)
                return
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, 0.01)):
                    await self._progress.wait()

    def _held_to_deadline(self, parts: list[PartitionState], limit: float) -> None:
        # Say what held the wait to its end: an expired drain or revoke is otherwise silent
        # about which records it waited for, and why (#14: a --workers drain at 30 s).
        held = []
        for part in parts:
            if part.tracker.dead or not part.tracker.pending_records:
                continue
            dead_lettering = part.tracker.dead_lettering_records
            held.append(f"{part.tp.topic}/{part.tp.partition}: "
                        f"{part.tracker.pending_records} pending"
                        f"{f' ({dead_lettering} being dead-lettered)' if dead_lettering else ''}")
        _log.warning("source %r: %g s passed with records still in flight (%s)",
                     self._ctx.name, limit, "; ".join(held))


def stream_failure(ctx: SourceContext, tp: TP, chunk: ChunkAck,
                   error: BaseException) -> RecordFailedError:
    """The error that ends the stream when a record failed and there is no dead-letter topic."""
    return RecordFailedError(
        f"source {ctx.name!r}: a record of {tp.topic}/{tp.partition} (offsets "
        f"{chunk.first}..{chunk.last}) failed with {type(error).__name__}: {error}; it was "
        "not committed and will be delivered again. To keep going past failing records, "
        "set KafkaSourceConfig.dead_letter_topic"
    )
