"""Per-partition offset tracking: commit only what completed, in offset order.

Records leave the source in *chunks* (consecutive records of one partition). A chunk's
completions are known in one of two ways:

* **counted** — every record of the chunk shares one :class:`ChunkAck`, which counts
  completions down; the chunk is complete when its count reaches zero;
* **by state bytes** — each record has an ack of its own (the source's, :mod:`._completion`)
  that writes one byte of a ``bytearray`` when it settles (:data:`DONE`, :data:`FAILED`,
  :data:`ABANDONED`...). Settling then costs no Python call beyond the ack's own (``done`` is
  a C-level ``bytearray.__setitem__``), and the tracker learns what completed in
  :meth:`OffsetTracker.sync`, which scans the chunks' bytes with C-level ``find`` — once per
  fetch round and before every commit, never per record.

Chunks complete in any order (``map_async`` with ``ordered=False``, several partitions, a
dead-letter write that takes longer than the records after it). The tracker keeps the chunks
in offset order and moves the *committable* offset — the offset after the highest contiguous
completed record — only past a prefix of complete chunks. A record that did not complete is
therefore never committed; it is delivered again after a restart or a rebalance. The open
chunks are the completion state as offset ranges: a chunk whose records all completed is one
range, and only the first incomplete one needs its per-record bytes.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

# The state byte of a record with an ack of its own.
PENDING, DONE, FAILED, ABANDONED, DEAD_LETTERING, FREE = 0, 1, 2, 3, 4, 5


class ChunkAck:
    """The completion handle of one chunk.

    Counted chunks: ``done()`` is called once per record (by a sink, a filter, a batch...).
    ``fail(error)`` reports that one record failed; the tracker's owner decides what that
    means (dead-letter it, or stop committing at this chunk). :meth:`abandon` reports that one
    record was not processed (cancel, ``take``, an expired drain): the tracker never commits
    past it, so it is delivered again. :meth:`hold` adds one more completion to wait for.

    Chunks whose records have acks of their own (``states`` set): ``states[slot0 + i]`` is
    the state byte of record *i*; ``records`` and ``acks`` are the records and their acks
    (they let a final commit go as far as the completed records at the head of this chunk);
    ``stopped`` lists the indices of records that failed or were abandoned (a ``done()``
    written over one later does not count). All of these are let go once the chunk is
    committable.
    """

    __slots__ = ("_tracker", "abandoned", "acks", "count", "early", "failed", "first", "last",
                 "nbytes", "records", "remaining", "slot0", "states", "stopped")

    def __init__(
        self, tracker: OffsetTracker, first: int, last: int, count: int, nbytes: int
    ) -> None:
        self._tracker = tracker
        self.first = first
        self.last = last
        self.count = count
        self.nbytes = nbytes
        self.remaining = count
        self.failed = 0
        self.abandoned = 0
        self.acks: list[Any] | None = None
        self.records: list[Any] | None = None
        self.states: bytearray | None = None
        self.slot0 = 0
        self.stopped: list[int] | None = None
        self.early = False  # reported as completed behind an incomplete chunk

    def done(self) -> None:
        """One record of the chunk completed."""
        remaining = self.remaining - 1
        self.remaining = remaining
        if remaining == 0:
            self._tracker._chunk_complete(self)

    def fail(self, error: BaseException) -> None:
        """One record of the chunk failed with *error*."""
        self._tracker._chunk_failed(self, error)

    def abandon(self) -> None:
        """One record of the chunk was not processed: never commit past it."""
        self._tracker._chunk_abandoned(self)

    def hold(self) -> None:
        """Wait for one more :meth:`done` before the chunk counts as complete."""
        self.remaining += 1

    def stopped_at(self, index: int) -> None:
        """Record *index* of the chunk failed or was abandoned: it never counts as done."""
        if self.stopped is None:
            self.stopped = []
        self.stopped.append(index)

    @property
    def pending(self) -> int:
        """Records of the chunk not settled yet (a dead letter being written is pending)."""
        states = self.states
        if states is None:
            return max(0, self.remaining)
        s = self.slot0
        e = s + self.count
        return states.count(PENDING, s, e) + states.count(DEAD_LETTERING, s, e)

    @property
    def complete(self) -> bool:
        """True once every record completed (none failed, none abandoned)."""
        if self.failed or self.abandoned or self.stopped:
            return False
        states = self.states
        if states is None:
            return self.remaining <= 0
        s = self.slot0
        e = s + self.count
        return states.find(PENDING, s, e) < 0 and states.find(DEAD_LETTERING, s, e) < 0

    def __repr__(self) -> str:
        return (f"ChunkAck(offsets {self.first}..{self.last}, {self.pending} of "
                f"{self.count} pending, {self.failed} failed)")


FailureHandler = Callable[[ChunkAck, BaseException], None]
ProgressHandler = Callable[["OffsetTracker", int], None]
ReleaseHandler = Callable[[ChunkAck], None]


class OffsetTracker:
    """The chunks of one partition that were handed out and are not yet committable.

    Args:
        on_progress: called with ``(tracker, records)`` when the committable offset moved
            past *records* more records.
        on_failure: called when a record of a chunk failed.
        on_early: called with a chunk's record count when it completes behind an incomplete
            one (its offsets go into the commit's metadata, :mod:`._offset_map`).

    Attributes:
        committable: the offset to commit next (after the highest contiguous completed
            record), or ``None`` before the first chunk completed. Chunks with state bytes
            count from the last :meth:`sync`.
        committed: the offset last committed successfully (``None`` if unknown).
        dead: set when the partition was revoked; late completions are then ignored.
        on_release: called with each chunk that became committable (the owner of its state
            bytes frees them).
    """

    __slots__ = ("_chunks", "_on_early", "_on_failure", "_on_progress", "committable",
                 "committed", "dead", "on_release")

    def __init__(
        self, *, on_progress: ProgressHandler | None = None,
        on_failure: FailureHandler | None = None, committed: int | None = None,
        on_early: Callable[[int], None] | None = None,
    ) -> None:
        self._chunks: deque[ChunkAck] = deque()
        self._on_progress = on_progress
        self._on_early = on_early
        self._on_failure = on_failure
        self.committable: int | None = None
        self.committed = committed
        self.dead = False
        self.on_release: ReleaseHandler | None = None

    def open_chunk(self, first: int, last: int, count: int, nbytes: int = 0) -> ChunkAck:
        """Register the next chunk (offsets *first*..*last*, *count* records) and return its ack.

        Chunks must be opened in offset order; the records between two chunks' offsets (a
        transaction marker, a compacted record) need no completion.
        """
        if self._chunks and first <= self._chunks[-1].last:
            raise ValueError(
                f"chunks must be opened in offset order: {first} after {self._chunks[-1].last}"
            )
        chunk = ChunkAck(self, first, last, count, nbytes)
        self._chunks.append(chunk)
        return chunk

    @property
    def pending_records(self) -> int:
        """Records handed out and not yet settled."""
        return sum(c.pending for c in self._chunks)

    @property
    def dead_lettering_records(self) -> int:
        """Records handed out whose dead letter is being written."""
        return sum(c.states.count(DEAD_LETTERING, c.slot0, c.slot0 + c.count)
                   for c in self._chunks if c.states is not None)

    @property
    def pending_bytes(self) -> int:
        """Bytes of the chunks handed out that are not yet committable."""
        return sum(c.nbytes for c in self._chunks)

    @property
    def open_chunks(self) -> int:
        """Chunks not yet committable (complete or not)."""
        return len(self._chunks)

    def chunk_of(self, offset: int) -> ChunkAck | None:
        """The open chunk holding *offset*, if any."""
        for chunk in self._chunks:
            if chunk.first <= offset <= chunk.last:
                return chunk
        return None

    @property
    def first_open(self) -> int | None:
        """The first offset of the chunks not yet committable (``None``: none is open)."""
        return self._chunks[0].first if self._chunks else None

    def completed_offsets(self) -> list[int]:
        """The offsets of the completed records of the chunks not yet committable, in order
        (what a commit's metadata carries above the committed offset; per commit, not per
        record). Chunks without per-record acks are left out: their records are replayed."""
        out: list[int] = []
        for chunk in self._chunks:
            records, states = chunk.records, chunk.states
            if states is None or records is None:
                continue
            s = chunk.slot0
            flags = states[s:s + chunk.count]
            if chunk.stopped:
                flags = bytearray(flags)
                for i in chunk.stopped:
                    flags[i] = ABANDONED
            out.extend(r.offset for r, flag in zip(records, flags, strict=True) if flag == DONE)
        return out

    def completed_ranges(self) -> list[tuple[int, int]]:
        """:meth:`completed_offsets` as sorted half-open ranges, built a chunk at a time: a
        chunk of consecutive offsets whose records all completed is one range, so the work is
        per chunk plus per record of the others — what a commit's metadata and the gap bound
        measure, without a Python step per completed record. (An offset that carries no
        record, a transaction's commit marker, stays out, as in :meth:`completed_offsets`.)"""
        out: list[tuple[int, int]] = []
        for chunk in self._chunks:
            if chunk.states is None or chunk.records is None:
                continue
            if chunk.last - chunk.first + 1 == chunk.count and chunk.complete:
                _add_range(out, chunk.first, chunk.last + 1)
                continue
            states, s = chunk.states, chunk.slot0
            stopped = set(chunk.stopped or ())
            for i, record in enumerate(chunk.records):
                if states[s + i] == DONE and i not in stopped:
                    _add_range(out, record.offset, record.offset + 1)
        return out

    def needs_commit(self) -> bool:
        """True if :attr:`committable` is ahead of :attr:`committed`."""
        return self.committable is not None and (
            self.committed is None or self.committable > self.committed
        )

    def sync(self) -> None:
        """Move :attr:`committable` past the chunks whose state bytes say they completed,
        and report those that completed behind an incomplete one (``on_early``)."""
        if self.dead or not self._chunks:
            return
        self._advance()
        if self._on_early is not None:
            for chunk in itertools.islice(self._chunks, 1, None):
                if not chunk.early and chunk.states is not None and chunk.complete:
                    chunk.early = True
                    self._on_early(chunk.count)

    def _chunk_complete(self, chunk: ChunkAck) -> None:
        if self.dead or chunk.failed or not self._chunks:
            return
        if self._chunks[0] is not chunk:  # out of order: the head's completion sweeps it
            if self._on_early is not None and not chunk.early:
                chunk.early = True
                self._on_early(chunk.count)
            return
        self._advance()

    def _advance(self) -> None:
        chunks = self._chunks
        moved = 0
        release = self.on_release
        while chunks and chunks[0].complete:
            head = chunks.popleft()
            self.committable = head.last + 1
            moved += head.count
            if head.states is not None and release is not None:
                release(head)
            head.acks = head.records = head.states = None  # settled: let the records go
        if moved and self._on_progress is not None:
            self._on_progress(self, moved)

    def final_committable(self) -> int | None:
        """:attr:`committable`, carried on through the records of the first incomplete chunk
        that completed before the first one that did not (for the last commit on drain,
        close and revoke, when the rest of that chunk is abandoned or still out)."""
        self.sync()
        if not self._chunks:
            return self.committable
        head = self._chunks[0]
        states, records = head.states, head.records
        if states is None or records is None:
            return self.committable
        offset = self.committable
        s = head.slot0
        for i in range(head.count if not head.stopped else min(head.stopped)):
            if states[s + i] != DONE:
                break
            offset = records[i].offset + 1
        return offset

    def _chunk_abandoned(self, chunk: ChunkAck) -> None:
        if self.dead:
            return
        chunk.abandoned += 1
        chunk.remaining -= 1
        if self._on_progress is not None:
            self._on_progress(self, 0)

    def _chunk_failed(self, chunk: ChunkAck, error: BaseException) -> None:
        if self.dead:
            return
        chunk.failed += 1
        chunk.remaining -= 1
        if self._on_failure is not None:
            self._on_failure(chunk, error)

    def settle_failure(self, chunk: ChunkAck) -> None:
        """A failed record of *chunk* was taken care of (dead-lettered): count it complete."""
        if chunk.failed > 0:
            chunk.failed -= 1
            if chunk.complete:
                self._advance()


def _add_range(out: list[tuple[int, int]], start: int, stop: int) -> None:
    """Append ``[start, stop)`` to the sorted *out*, merged with the last range it touches."""
    if out and out[-1][1] == start:
        out[-1] = (out[-1][0], stop)
    else:
        out.append((start, stop))
