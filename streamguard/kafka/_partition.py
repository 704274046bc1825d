"""The source's state of one assigned partition: fetched records waiting for demand, and the
offset tracker of those already handed downstream.

The *backlog* — what flow control looks at — is everything fetched and not yet completed:
the records buffered here plus those in the pipeline.
"""

from __future__ import annotations

from collections import deque
from operator import attrgetter
from typing import Any

from ._offsets import OffsetTracker
from ._types import TP

_value_size = attrgetter("serialized_value_size")


def value_bytes(records: list[Any]) -> int:
    """The value bytes of *records* as they were stored (null values count 0)."""
    return max(0, int(sum(map(_value_size, records))))


class Poison:
    """A record whose value could not be decoded, waiting its turn in the buffer."""

    __slots__ = ("record",)

    def __init__(self, record: Any) -> None:
        self.record = record


class PartitionState:
    """Buffered records and in-flight chunks of one partition."""

    __slots__ = ("acks", "buffer", "buffered", "buffered_bytes", "committed_known", "fetched",
                 "held", "in_ready", "listed_end", "metadata", "revoking", "skip", "start",
                 "tp", "tracker")

    def __init__(self, tp: TP, tracker: OffsetTracker) -> None:
        self.tp = tp
        self.tracker = tracker
        # Entries: a list of records (with its bytes) or one Poison.
        self.buffer: deque[tuple[list[Any], int] | Poison] = deque()
        self.buffered = 0
        self.buffered_bytes = 0
        self.fetched: int | None = None  # offset after the last record fetched
        self.start: int | None = None  # offset of the first record fetched
        self.listed_end: int | None = None  # last ListOffsets answer (a lower bound)
        self.committed_known = False
        self.in_ready = False
        self.revoking = False
        self.acks: Any = None  # the AckRing of its records handed out (made by the pump)
        # Completed offsets above the committed one (#13, :mod:`._offset_map`): ``skip`` holds
        # the ranges read from the committed metadata (never delivered again), ``metadata``
        # what was last committed, ``held`` the batches fetched before it was read.
        self.skip: list[tuple[int, int]] = []
        self.metadata = ""
        self.held: list[list[Any]] | None = None

    @property
    def backlog(self) -> int:
        """Records fetched and not yet completed."""
        return self.buffered + self.tracker.pending_records

    @property
    def backlog_bytes(self) -> int:
        """Value bytes of the backlog."""
        return self.buffered_bytes + self.tracker.pending_bytes

    @property
    def completed(self) -> int | None:
        """The offset after the highest contiguous completed record (before any completed:
        the committed offset, else the first offset fetched)."""
        if self.tracker.committable is not None:
            return self.tracker.committable
        if self.tracker.committed is not None:
            return self.tracker.committed
        return self.start

    def add(self, records: list[Any], nbytes: int) -> None:
        """Buffer *records* (all decodable, in offset order)."""
        self.buffer.append((records, nbytes))
        self.buffered += len(records)
        self.buffered_bytes += nbytes
        if self.start is None:
            self.start = records[0].offset
        self.fetched = records[-1].offset + 1

    def add_poison(self, record: Any) -> None:
        """Buffer a record that failed to decode, in its place."""
        self.buffer.append(Poison(record))
        self.buffered += 1
        if self.start is None:
            self.start = record.offset
        self.fetched = record.offset + 1

    def take(self, limit: int) -> tuple[list[Any], int] | Poison:
        """Remove up to *limit* records from the head (or the Poison at the head)."""
        head = self.buffer[0]
        if isinstance(head, Poison):
            self.buffer.popleft()
            self.buffered -= 1
            return head
        records, nbytes = head
        n = len(records)
        if n <= limit:
            self.buffer.popleft()
            taken, taken_bytes = records, nbytes
        else:
            taken = records[:limit]
            taken_bytes = nbytes * limit // n
            self.buffer[0] = (records[limit:], nbytes - taken_bytes)
        self.buffered -= len(taken)
        self.buffered_bytes -= taken_bytes
        return taken, taken_bytes

    def drop_buffer(self) -> int:
        """Forget every buffered record (they were never handed out); return how many."""
        dropped = self.buffered
        self.buffer.clear()
        self.buffered = 0
        self.buffered_bytes = 0
        return dropped
