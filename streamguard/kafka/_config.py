"""Configuration of the Kafka source and sink: frozen, keyword-only, validated up front."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from streamguard.core._errors import require

from ._pause import FlowControl

_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def check_topic(name: object, what: str = "topic") -> None:
    """Raise :class:`~streamguard.core.ConfigError` unless *name* is a legal Kafka topic name."""
    require(isinstance(name, str) and bool(_TOPIC.match(name)),
            f"{what} must be 1 to 249 characters of [A-Za-z0-9._-]", name)


@dataclass(frozen=True, kw_only=True, slots=True)
class KafkaSourceConfig:
    """How the Kafka source consumes.

    Give exactly one of *topics*, *pattern* (both with a *group_id*) or *partitions*.

    Attributes:
        bootstrap_servers: ``"host:port[,host:port...]"`` of the brokers.
        topics: topics to subscribe to with the consumer group *group_id*.
        pattern: a regular expression of topics to subscribe to (with *group_id*).
        partitions: ``(topic, partition)`` pairs to read without group rebalancing; offsets
            are committed only if *group_id* is set too.
        group_id: the consumer group; committed offsets live there.
        client_id: the client id the broker sees (default ``"streamguard"``).
        auto_offset_reset: where to start without a committed offset: ``"earliest"``
            (default: nothing is skipped) or ``"latest"``.
        flow: per-partition pause/resume thresholds (see :class:`FlowControl`).
        max_poll_records: most records one ``getmany`` returns (default 500); must stay
            below ``flow.high_mark``, or every poll would pause its partition.
        fetch_max_bytes: most bytes one fetch response may carry (default 1 MiB). The consumer
            holds at most one response per broker beyond the source's own bounded buffers;
            some brokers (Tansu) fill a response up to this limit whatever the per-partition
            limit says.
        poll_timeout: seconds one ``getmany`` waits for records (default 0.1); also how
            often commits, resumes and lag samples are looked at while nothing arrives.
        commit_every: commit once this many records completed since the last commit
            (default 1,000).
        commit_interval: commit at least this often, in seconds, while records complete
            (default 1.0).
        revoke_timeout: on a rebalance, seconds to wait for the in-flight records of revoked
            partitions before committing what completed and dropping the rest (default 5.0).
        close_timeout: on a graceful stop, seconds to wait for in-flight records (default 10).
        connect_timeout: seconds to reach the brokers and look up the topics before a clear
            error (default 15).
        dead_letter_topic: where undecodable and rejected records go (``None``: such a
            record fails the stream and is not committed).
        dead_letter_idempotence: whether the dead-letter producer is idempotent (default
            ``True``; Tansu 0.6 needs ``False``).
        lag_interval: seconds between two :class:`~streamguard.kafka.LagSampled` events.
        session_timeout: the group session timeout in seconds (default 10).
        heartbeat_interval: seconds between heartbeats (default 3).
        max_poll_interval: seconds without an active ``getmany`` before the group evicts the
            consumer (default 300); the source keeps one active even when all is paused.
        consumer_options: further keyword arguments for ``aiokafka.AIOKafkaConsumer``.
    """

    bootstrap_servers: str
    topics: tuple[str, ...] = ()
    pattern: str | None = None
    partitions: tuple[tuple[str, int], ...] = ()
    group_id: str | None = None
    client_id: str = "streamguard"
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    flow: FlowControl = field(default_factory=FlowControl)
    max_poll_records: int = 500
    fetch_max_bytes: int = 1024 * 1024
    poll_timeout: float = 0.1
    commit_every: int = 1000
    commit_interval: float = 1.0
    revoke_timeout: float = 5.0
    close_timeout: float = 10.0
    connect_timeout: float = 15.0
    dead_letter_topic: str | None = None
    dead_letter_idempotence: bool = True
    lag_interval: float = 1.0
    session_timeout: float = 10.0
    heartbeat_interval: float = 3.0
    max_poll_interval: float = 300.0
    consumer_options: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        require(isinstance(self.bootstrap_servers, str) and bool(self.bootstrap_servers.strip()),
                "bootstrap_servers must be a non-empty 'host:port' string", self.bootstrap_servers)
        modes = sum((bool(self.topics), self.pattern is not None, bool(self.partitions)))
        require(modes == 1, "give exactly one of topics, pattern or partitions",
                {"topics": self.topics, "pattern": self.pattern, "partitions": self.partitions})
        require(not isinstance(self.topics, str),
                "topics must be a tuple of names, not one string", self.topics)
        for topic in self.topics:
            check_topic(topic)
        for tp in self.partitions:
            require(isinstance(tp, tuple) and len(tp) == 2 and isinstance(tp[1], int)
                    and tp[1] >= 0, "partitions must be (topic, partition >= 0) pairs", tp)
            check_topic(tp[0])
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                require(False, f"pattern must be a valid regular expression ({exc})",
                        self.pattern)
        require(self.group_id is not None or bool(self.partitions),
                "group_id is required to subscribe to topics or a pattern", self.group_id)
        require(self.auto_offset_reset in ("earliest", "latest"),
                "auto_offset_reset must be 'earliest' or 'latest'", self.auto_offset_reset)
        self._check_numbers()
        if self.dead_letter_topic is not None:
            check_topic(self.dead_letter_topic, "dead_letter_topic")

    def _check_numbers(self) -> None:
        require(self.max_poll_records >= 1, "max_poll_records must be >= 1", self.max_poll_records)
        require(self.max_poll_records < self.flow.high_mark,
                f"max_poll_records must be < flow.high_mark={self.flow.high_mark} (one poll "
                "must not pause its partition)", self.max_poll_records)
        require(self.fetch_max_bytes >= 1024, "fetch_max_bytes must be >= 1024",
                self.fetch_max_bytes)
        require(self.poll_timeout > 0, "poll_timeout must be > 0 seconds", self.poll_timeout)
        require(self.commit_every >= 1, "commit_every must be >= 1", self.commit_every)
        require(self.commit_interval > 0, "commit_interval must be > 0 seconds",
                self.commit_interval)
        require(self.revoke_timeout >= 0, "revoke_timeout must be >= 0 seconds",
                self.revoke_timeout)
        require(self.close_timeout >= 0, "close_timeout must be >= 0 seconds", self.close_timeout)
        require(self.connect_timeout > 0, "connect_timeout must be > 0 seconds",
                self.connect_timeout)
        require(self.lag_interval > 0, "lag_interval must be > 0 seconds", self.lag_interval)
        require(self.session_timeout > 0, "session_timeout must be > 0 seconds",
                self.session_timeout)
        require(0 < self.heartbeat_interval < self.session_timeout,
                f"heartbeat_interval must be > 0 and < session_timeout={self.session_timeout}",
                self.heartbeat_interval)
        require(self.max_poll_interval > self.poll_timeout,
                f"max_poll_interval must be > poll_timeout={self.poll_timeout}",
                self.max_poll_interval)


@dataclass(frozen=True, kw_only=True, slots=True)
class KafkaSinkConfig:
    """How the Kafka sink produces.

    Attributes:
        bootstrap_servers: ``"host:port[,host:port...]"`` of the brokers.
        topic: the default destination topic (an item may name its own).
        client_id: the client id the broker sees.
        acks: ``"all"`` (default: every in-sync replica has the record), ``1`` or ``0``.
        idempotence: an idempotent producer (default ``True``: no duplicates from the
            producer's own retries; Tansu 0.6 refuses it, use ``False`` there).
        linger: seconds the producer waits to fill a batch (default 0.005).
        max_batch_bytes: the largest batch per partition (default 256 KiB).
        compression: ``None``, ``"gzip"``, ``"snappy"``, ``"lz4"`` or ``"zstd"``.
        delivery_timeout: seconds a record may take to be delivered, retries included, before
            :class:`~streamguard.kafka.DeliveryError` (default 30).
        connect_timeout: seconds to reach the brokers before a clear error (default 15).
        producer_options: further keyword arguments for ``aiokafka.AIOKafkaProducer``.
    """

    bootstrap_servers: str
    topic: str | None = None
    client_id: str = "streamguard"
    acks: Literal["all", 0, 1] = "all"
    idempotence: bool = True
    linger: float = 0.005
    max_batch_bytes: int = 256 * 1024
    compression: Literal["gzip", "snappy", "lz4", "zstd"] | None = None
    delivery_timeout: float = 30.0
    connect_timeout: float = 15.0
    producer_options: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        require(isinstance(self.bootstrap_servers, str) and bool(self.bootstrap_servers.strip()),
                "bootstrap_servers must be a non-empty 'host:port' string", self.bootstrap_servers)
        if self.topic is not None:
            check_topic(self.topic)
        require(self.acks in ("all", 0, 1), "acks must be 'all', 0 or 1", self.acks)
        require(not self.idempotence or self.acks == "all",
                "an idempotent producer needs acks='all'", self.acks)
        require(self.linger >= 0, "linger must be >= 0 seconds", self.linger)
        require(self.max_batch_bytes >= 1024, "max_batch_bytes must be >= 1024",
                self.max_batch_bytes)
        require(self.compression in (None, "gzip", "snappy", "lz4", "zstd"),
                "compression must be None, 'gzip', 'snappy', 'lz4' or 'zstd'", self.compression)
        require(self.delivery_timeout > 0, "delivery_timeout must be > 0 seconds",
                self.delivery_timeout)
        require(self.connect_timeout > 0, "connect_timeout must be > 0 seconds",
                self.connect_timeout)
