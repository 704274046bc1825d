"""The typed events of the Kafka adapter, for metrics exporters, logs and tests.

``source`` names the publishing object: the source's or sink's name. The metrics exporter
maps them to ``streamguard_kafka_partition_paused{topic,partition}`` (paused/resumed),
``streamguard_kafka_lag{topic,partition,kind}`` (:class:`LagSampled`, kinds ``broker`` and
``in_flight``), ``streamguard_kafka_partition_gap_held{topic,partition}`` (held/released at
the gap bound) and ``streamguard_kafka_commits_total{topic}`` (:class:`OffsetsCommitted`).
"""

from __future__ import annotations

from dataclasses import dataclass

from streamguard.core._events import Event

from ._lag import PartitionLag


@dataclass(frozen=True, slots=True)
class KafkaEvent(Event):
    """Base of every Kafka adapter event."""


@dataclass(frozen=True, slots=True)
class PartitionPaused(KafkaEvent):
    """streamguard paused *topic*/*partition* on the consumer, for *reasons*
    (``"backlog"``, ``"breaker"``, ``"user"``)."""

    topic: str
    partition: int
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PauseReasonsChanged(KafkaEvent):
    """A partition that was already paused gained a reason: *reasons* hold now (a breaker
    opened while the partition's backlog already held it, say). Not a new pause."""

    topic: str
    partition: int
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PartitionResumed(KafkaEvent):
    """streamguard resumed *topic*/*partition* after *paused_for* seconds."""

    topic: str
    partition: int
    paused_for: float


@dataclass(frozen=True, slots=True)
class PartitionGapHeld(KafkaEvent):
    """streamguard stopped handing out records of *topic*/*partition*: *span* offsets above
    *offset*, which has not completed, were handed out, and the completed ones among them
    need *size* of the *limit* characters of commit metadata (``completed_metadata_limit``)
    — more would be delivered again after a crash. Its records stay buffered until enough
    of that gap closes (:mod:`streamguard.kafka._gap`)."""

    topic: str
    partition: int
    offset: int
    span: int
    size: int
    limit: int


@dataclass(frozen=True, slots=True)
class PartitionGapReleased(KafkaEvent):
    """*topic*/*partition* hands out records again after *held_for* seconds held by
    :class:`PartitionGapHeld`."""

    topic: str
    partition: int
    held_for: float


@dataclass(frozen=True, slots=True)
class OffsetsCommitted(KafkaEvent):
    """Offsets were committed: *offsets* holds ``(topic, partition, offset)`` triples;
    *trigger* is ``"count"``, ``"interval"``, ``"revoke"``, ``"close"`` or ``"manual"``."""

    offsets: tuple[tuple[str, int, int], ...]
    trigger: str


@dataclass(frozen=True, slots=True)
class CommitFailed(KafkaEvent):
    """A commit failed (typically a rebalance raced it); the offsets are committed later
    by whoever owns the partitions then, or the records are delivered again."""

    error: BaseException
    trigger: str


@dataclass(frozen=True, slots=True)
class LagSampled(KafkaEvent):
    """The lag of every assigned partition at one moment (see :class:`PartitionLag`).

    *final*: the last sample of a source, taken by its close after its last commit. Nothing
    is in flight or paused any more (what did not complete is in the broker lag, to be
    delivered again), so a summary printed after the run shows the lag the source left
    behind, not its last periodic sample."""

    partitions: tuple[PartitionLag, ...]
    final: bool = False


@dataclass(frozen=True, slots=True)
class PartitionsAssigned(KafkaEvent):
    """A rebalance assigned *partitions* (``(topic, partition)`` pairs) to this consumer;
    *paused* are those paused again at once, because streamguard still wants them paused."""

    partitions: tuple[tuple[str, int], ...]
    paused: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class PartitionsRevoked(KafkaEvent):
    """A rebalance took *partitions* away. *completed* in-flight records finished within
    the bounded wait; *dropped* records (fetched, not completed) will be delivered again."""

    partitions: tuple[tuple[str, int], ...]
    completed: int
    dropped: int
    waited: float


@dataclass(frozen=True, slots=True)
class RecordDeadLettered(KafkaEvent):
    """A record went to the dead-letter topic *dead_letter_topic* and counts as completed."""

    topic: str
    partition: int
    offset: int
    error_type: str
    error_message: str
    dead_letter_topic: str


@dataclass(frozen=True, slots=True)
class ThrottleRateChanged(KafkaEvent):
    """A lag-aware throttle changed its rate to *rate* items/s because the group's lag was
    *lag* (threshold *threshold*)."""

    rate: float
    lag: int
    threshold: int


@dataclass(frozen=True, slots=True)
class BatchCommitted(KafkaEvent):
    """A :class:`TransactionalPipeline` committed a batch of *topic*/*partition*: *records*
    input records, offsets up to *next_offset* (exclusive) — in one transaction
    (``exactly_once``), or delivered and then committed (``at_least_once``)."""

    topic: str
    partition: int
    records: int
    next_offset: int


@dataclass(frozen=True, slots=True)
class BatchAborted(KafkaEvent):
    """A :class:`TransactionalPipeline`'s batch of *topic*/*partition* (*records* input
    records from *first_offset*) failed with *error*; its transaction was aborted and the
    partition rewound to *first_offset*. *outcome*: ``"retry"`` (read and written again),
    ``"fenced"`` (another worker owns the partition now) or ``"failed"`` (the pipeline ends)."""

    topic: str
    partition: int
    first_offset: int
    records: int
    outcome: str
    error: BaseException
