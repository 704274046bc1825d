"""Configuration of the topic-to-topic pipeline (:class:`TransactionalPipeline`): frozen,
keyword-only, validated when it is built."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from streamguard.core._errors import require

from ._config import (
    check_bool,
    check_dead_letter_topic,
    check_int,
    check_mapping,
    check_number,
    check_str,
    check_topic,
)
from ._connection import Bootstrap, check_bootstrap

Guarantee = Literal["exactly_once", "at_least_once"]
GUARANTEES: tuple[Guarantee, ...] = ("exactly_once", "at_least_once")


@dataclass(frozen=True, kw_only=True, slots=True)
class TransactionalConfig:
    """How a :class:`TransactionalPipeline` reads, transforms and writes.

    Attributes:
        bootstrap_servers: ``"host:port[,host:port...]"`` of the brokers, or a
            :class:`KafkaConnection`.
        topics: the input topics, read with the consumer group *group_id*.
        group_id: the consumer group; its committed offsets are written inside each
            transaction (``exactly_once``) or after each batch was delivered
            (``at_least_once``).
        output_topic: where the transform's records go (a returned
            :class:`OutgoingRecord` may name another topic).
        guarantee: ``"exactly_once"`` (default: output records and input offsets in one
            Kafka transaction per batch; read the output with
            ``isolation_level="read_committed"``) or ``"at_least_once"`` (the same pipeline
            without transactions: output delivered, then offsets committed).
        transactional_id_prefix: the transactional id of the producer of input partition
            ``(topic, p)`` is ``"<prefix>-<topic>-<p>"`` (default prefix: *group_id*). Every
            worker of one application must use the same prefix: that is what fences a
            zombie owner of a partition.
        batch_records: a partition's batch is written and committed once it holds this many
            input records (default 1,000) ...
        batch_interval: ... or this many seconds after its first record arrived (default
            0.1, Kafka Streams' commit interval under exactly-once).
        max_buffered: records fetched and not yet in a batch, per partition, at which the
            partition is paused (default 10,000; resumed below half). The pause is soft:
            the partition is left out of the fetching, and what the consumer had already
            fetched for it is kept for the resume, not thrown away and fetched again.
        concurrency: transform calls running at once within a batch (default 1; outputs are
            written in input order whatever it is).
        dead_letter_topic: where records that fail to decode or to transform go — inside the
            same transaction (``None``: such a record aborts its batch and ends the pipeline
            with :class:`RecordFailedError`; it is delivered again after a restart). Never
            one of *topics*.
        max_aborts: batches of one partition aborted in a row by Kafka errors before the
            pipeline gives up (default 5); after each abort the partition is rewound to its
            last committed offset and read again.
        transaction_timeout: seconds the broker lets a transaction stay open (default 60).
        idempotence: the at-least-once producer is idempotent (default ``True``; the
            exactly-once producer always is).
        linger: seconds the producer waits to fill a batch (default 0.005).
        client_id, auto_offset_reset, poll_timeout, max_poll_records, session_timeout,
        heartbeat_interval, connect_timeout: as in :class:`KafkaSourceConfig` (defaults
            ``"streamguard"``, ``"earliest"``, 0.1, 2,000, 10, 3, 15).
        close_timeout: seconds a drain waits for the last batches (default 10).
        consumer_options / producer_options: further aiokafka keyword arguments.
    """

    bootstrap_servers: Bootstrap
    topics: tuple[str, ...]
    group_id: str
    output_topic: str
    guarantee: Guarantee = "exactly_once"
    transactional_id_prefix: str | None = None
    batch_records: int = 1000
    batch_interval: float = 0.1
    max_buffered: int = 10_000
    concurrency: int = 1
    dead_letter_topic: str | None = None
    max_aborts: int = 5
    transaction_timeout: float = 60.0
    idempotence: bool = True
    linger: float = 0.005
    client_id: str = "streamguard"
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    poll_timeout: float = 0.1
    max_poll_records: int = 2000
    session_timeout: float = 10.0
    heartbeat_interval: float = 3.0
    connect_timeout: float = 15.0
    close_timeout: float = 10.0
    consumer_options: Mapping[str, Any] | None = None
    producer_options: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        check_bootstrap(self.bootstrap_servers)
        require(isinstance(self.topics, tuple | list) and not isinstance(self.topics, str)
                and len(self.topics) > 0, "topics must be a non-empty tuple of names",
                self.topics)
        object.__setattr__(self, "topics", tuple(self.topics))
        for topic in self.topics:
            check_topic(topic)
        check_str(self.group_id, "group_id")
        check_topic(self.output_topic, "output_topic")
        require(self.output_topic not in self.topics,
                "output_topic must not be one of the input topics (a loop)", self.output_topic)
        require(self.guarantee in GUARANTEES,
                "guarantee must be 'exactly_once' or 'at_least_once'", self.guarantee)
        check_str(self.transactional_id_prefix, "transactional_id_prefix", optional=True)
        check_dead_letter_topic(self.dead_letter_topic, topics=self.topics)
        check_str(self.client_id, "client_id")
        require(self.auto_offset_reset in ("earliest", "latest"),
                "auto_offset_reset must be 'earliest' or 'latest'", self.auto_offset_reset)
        check_bool(self.idempotence, "idempotence")
        check_mapping(self.consumer_options, "consumer_options")
        check_mapping(self.producer_options, "producer_options")
        self._check_counts()
        self._check_seconds()

    def _check_counts(self) -> None:
        for name in ("batch_records", "max_buffered", "concurrency", "max_poll_records",
                     "max_aborts"):
            value = getattr(self, name)
            check_int(value, name)
            require(value >= 1, f"{name} must be >= 1", value)
        require(self.max_buffered >= self.batch_records,
                f"max_buffered must be >= batch_records={self.batch_records} (a full batch "
                "must fit before the partition pauses)", self.max_buffered)

    def _check_seconds(self) -> None:
        for name in ("batch_interval", "transaction_timeout", "linger", "poll_timeout",
                     "session_timeout", "heartbeat_interval", "connect_timeout",
                     "close_timeout"):
            check_number(getattr(self, name), name)
        for name in ("batch_interval", "transaction_timeout", "poll_timeout",
                     "session_timeout", "connect_timeout"):
            value = getattr(self, name)
            require(value > 0, f"{name} must be > 0 seconds", value)
        require(self.linger >= 0, "linger must be >= 0 seconds", self.linger)
        require(self.close_timeout >= 0, "close_timeout must be >= 0 seconds",
                self.close_timeout)
        require(0 < self.heartbeat_interval < self.session_timeout,
                f"heartbeat_interval must be > 0 and < session_timeout={self.session_timeout}",
                self.heartbeat_interval)
        require(self.batch_interval < self.transaction_timeout,
                f"batch_interval must be < transaction_timeout={self.transaction_timeout}",
                self.batch_interval)

    @property
    def transactional(self) -> bool:
        """True for ``guarantee="exactly_once"``."""
        return self.guarantee == "exactly_once"

    def transactional_id(self, topic: str, partition: int) -> str:
        """The transactional id of the producer that owns input partition *(topic, partition)*."""
        return f"{self.transactional_id_prefix or self.group_id}-{topic}-{partition}"


def batch_due(pending: int, first_at: float | None, now: float,
              config: TransactionalConfig) -> bool:
    """Whether a partition holding *pending* records, the first of them since *first_at*,
    should write its batch at *now*: full by count, or old enough by time."""
    if pending >= config.batch_records:
        return True
    return pending > 0 and first_at is not None and now - first_at >= config.batch_interval


@dataclass(frozen=True, slots=True)
class TransactionalStatistics:
    """A snapshot of a :class:`TransactionalPipeline`'s counters.

    Attributes:
        consumed: input records accepted; committed: input records whose batch was
            committed (with exactly-once, after a rewind a record may be consumed again);
            produced: output records sent (in committed and
            aborted batches); dead_lettered: records sent to the dead-letter topic;
        batches: batches committed; aborts: transactions aborted; fenced: partitions given
            up because another producer took their transactional id; assigned: partitions
            owned now; pending: records fetched and not yet written; pauses / resumes:
            times a partition was left out of the fetching (``max_buffered`` records
            pending, or fenced) / taken back in.
    """

    name: str
    guarantee: str
    consumed: int
    committed: int
    produced: int
    dead_lettered: int
    batches: int
    aborts: int
    fenced: int
    assigned: int
    pending: int
    pauses: int
    resumes: int
