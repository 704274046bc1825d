"""Per-partition offset tracking: commit only what completed, in offset order.

Records leave the source in *chunks* (consecutive records of one partition). All records of
a chunk share one :class:`ChunkAck`, which counts completions down; a whole chunk is complete
when its count reaches zero. Sharing one ack keeps the per-record cost to a decrement, which
is what lets the source run close to a raw ``getmany`` loop.

Chunks complete in any order (``map_async`` with ``ordered=False``, several partitions, a
dead-letter write that takes longer than the records after it). The tracker keeps the chunks
in offset order and moves the *committable* offset — the offset after the highest contiguous
completed record — only past a prefix of complete chunks. A record that did not complete is
therefore never committed; it is delivered again after a restart or a rebalance.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any


class ChunkAck:
    """The completion handle shared by every record of one chunk.

    ``done()`` is called once per record (by a sink, a filter, a batch...). ``fail(error)``
    reports that one record failed; the tracker's owner decides what that means (dead-letter
    it, or stop committing at this chunk). :meth:`abandon` reports that one record was not
    processed (cancel, ``take``, an expired drain): the tracker never commits past it, so it is
    delivered again. :meth:`hold` adds one more completion to wait for.

    ``acks`` is set by an owner that gives each record an ack of its own (the source): it
    lets a final commit go as far as the completed records at the head of this chunk.
    """

    __slots__ = ("_tracker", "abandoned", "acks", "count", "failed", "first", "last", "nbytes",
                 "remaining")

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

    def __repr__(self) -> str:
        return (f"ChunkAck(offsets {self.first}..{self.last}, {self.remaining} of "
                f"{self.count} pending, {self.failed} failed)")


FailureHandler = Callable[[ChunkAck, BaseException], None]
ProgressHandler = Callable[["OffsetTracker", int], None]


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
            record), or ``None`` before the first chunk completed.
        committed: the offset last committed successfully (``None`` if unknown).
        dead: set when the partition was revoked; late completions are then ignored.
    """

    __slots__ = ("_chunks", "_on_early", "_on_failure", "_on_progress", "committable",
                 "committed", "dead")

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
        """Records handed out and not yet completed."""
        return sum(c.remaining for c in self._chunks if c.remaining > 0)

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
        return [ack.offset for chunk in self._chunks if chunk.acks is not None
                for ack in chunk.acks if ack.completed]

    def needs_commit(self) -> bool:
        """True if :attr:`committable` is ahead of :attr:`committed`."""
        return self.committable is not None and (
            self.committed is None or self.committable > self.committed
        )

    def _chunk_complete(self, chunk: ChunkAck) -> None:
        if self.dead or chunk.failed or not self._chunks:
            return
        if self._chunks[0] is not chunk:  # out of order: the head's completion sweeps it
            if self._on_early is not None:
                self._on_early(chunk.count)
            return
        self._advance()

    def _advance(self) -> None:
        chunks = self._chunks
        moved = 0
        while (chunks and chunks[0].remaining <= 0 and not chunks[0].failed
               and not chunks[0].abandoned):
            head = chunks.popleft()
            self.committable = head.last + 1
            moved += head.count
        if moved and self._on_progress is not None:
            self._on_progress(self, moved)

    def final_committable(self) -> int | None:
        """:attr:`committable`, carried on through the records of the first incomplete chunk
        that completed before the first one that did not (for the last commit on drain,
        close and revoke, when the rest of that chunk is abandoned or still out)."""
        if not self._chunks or self._chunks[0].acks is None:
            return self.committable
        offset = self.committable
        for ack in self._chunks[0].acks:
            if not ack.completed:
                break
            offset = ack.offset + 1
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
            if chunk.remaining <= 0 and not chunk.failed:
                self._advance()
