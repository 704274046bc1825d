"""Lag per partition, in two kinds.

* **broker lag** = log-end offset − committed offset: what Kafka's consumer-groups tool
  reports, and what a restart would have to read again.
* **in-flight** = fetched − completed: records this process has read and not yet finished.

The log-end offset is the largest of every estimate at hand — the high-watermark carried by
fetch responses, a ListOffsets answer, the offset after the last record fetched — because
each of them can only be behind, never ahead: ``highwater()`` goes stale while a partition is
paused, and some brokers (Tansu) answer ListOffsets with the base offset of the last batch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """The lag of one partition at one moment.

    Attributes:
        topic: the topic.
        partition: the partition.
        log_end: the partition's log-end offset (``None`` if not known yet).
        committed: the group's committed offset (``None`` if nothing was committed).
        fetched: the offset after the last record fetched (``None`` before the first fetch).
        completed: the offset after the highest contiguous completed record.
        broker: ``log_end - committed`` (``None`` when either is unknown).
        in_flight: ``fetched - completed``: read by this process, not yet finished.
        backlog: records fetched and not yet completed (buffered plus in the pipeline).
        backlog_bytes: their value bytes.
        paused: whether the partition is paused on the consumer.
    """

    topic: str
    partition: int
    log_end: int | None
    committed: int | None
    fetched: int | None
    completed: int | None
    broker: int | None
    in_flight: int
    backlog: int
    backlog_bytes: int
    paused: bool


def log_end_estimate(*candidates: int | None) -> int | None:
    """The best estimate of a log-end offset: the largest known lower bound."""
    known = [c for c in candidates if c is not None and c >= 0]
    return max(known) if known else None


def broker_lag(log_end: int | None, committed: int | None) -> int | None:
    """``log_end - committed``, never negative; ``None`` if either is unknown."""
    if log_end is None or committed is None:
        return None
    return max(0, log_end - committed)


def in_flight(fetched: int | None, completed: int | None) -> int:
    """``fetched - completed``, never negative; 0 while either is unknown."""
    if fetched is None or completed is None:
        return 0
    return max(0, fetched - completed)
