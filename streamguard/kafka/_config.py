"""Configuration of the Kafka source and sink: frozen, keyword-only, validated up front."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from streamguard.core._errors import require

from ._connection import DEFAULT_PREFETCH_BACKOFF, Bootstrap, check_bootstrap
from ._pause import FlowControl

_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def check_int(value: object, field_name: str) -> None:
    """An ``int`` and not a ``bool`` (``True`` is not a count)."""
    require(isinstance(value, int) and not isinstance(value, bool),
            f"{field_name} must be an int", value)


def check_number(value: object, field_name: str) -> None:
    """A real ``int`` or ``float``, not a ``bool``, not NaN."""
    require(isinstance(value, int | float) and not isinstance(value, bool)
            and not math.isnan(value), f"{field_name} must be a number (int or float)", value)


def check_str(value: object, field_name: str, *, optional: bool = False) -> None:
    """A non-empty string (or ``None`` when *optional*)."""
    if optional and value is None:
        return
    require(isinstance(value, str) and bool(value.strip()),
            f"{field_name} must be a non-empty string" + (" or None" if optional else ""),
            value)


def check_bool(value: object, field_name: str) -> None:
    """``True`` or ``False`` (not 0/1, not a string)."""
    require(isinstance(value, bool), f"{field_name} must be True or False", value)


def check_mapping(value: object, field_name: str) -> None:
    """A mapping of option names (or ``None``)."""
    require(value is None or (isinstance(value, Mapping)
                              and all(isinstance(k, str) for k in value)),
            f"{field_name} must be a mapping of option names or None", value)


def check_topic(name: object, what: str = "topic") -> None:
    """Raise :class:`~streamguard.core.ConfigError` unless *name* is a legal Kafka topic name."""
    require(isinstance(name, str) and bool(_TOPIC.match(name)),
            f"{what} must be 1 to 249 characters of [A-Za-z0-9._-]", name)


def check_dead_letter_topic(
    dead_letter_topic: object, *, topics: tuple[str, ...], pattern: str | None = None
) -> None:
    """A legal topic name (or ``None``) that is not an input: not one of *topics*, not matched
    by the subscription *pattern* (matched as the consumer matches it, from the start of the
    name). A dead letter written to an input is consumed again, fails again and is written
    again, for ever."""
    if dead_letter_topic is None:
        return
    check_topic(dead_letter_topic, "dead_letter_topic")
    require(dead_letter_topic not in topics,
            f"dead_letter_topic must not be one of the input topics {topics!r} (a dead letter "
            "would be consumed again, fail again and loop for ever)", dead_letter_topic)
    if pattern is not None:
        assert isinstance(dead_letter_topic, str)
        require(re.match(pattern, dead_letter_topic) is None,
                f"dead_letter_topic must not match the subscription pattern {pattern!r} (a "
                "dead letter would be consumed again, fail again and loop for ever)",
                dead_letter_topic)


@dataclass(frozen=True, kw_only=True, slots=True)
class KafkaSourceConfig:
    """How the Kafka source consumes.

    Give exactly one of *topics*, *pattern* (both with a *group_id*) or *partitions*.

    Attributes:
        bootstrap_servers: ``"host:port[,host:port...]"`` of the brokers, or a
            :class:`KafkaConnection` (brokers plus TLS/SASL) that every client of this
            config uses.
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
            often commits, resumes and lag samples are looked at while nothing arrives. The
            end of the stream never waits for it: a cancel, a drain or an error stops the
            ``getmany`` under way, so the close starts at once.
        prefetch_backoff: seconds for which a partition's fetched records that were not
            taken yet hold back the next fetch from their broker for *every* partition it
            leads (aiokafka's fetcher setting; default 0.01, aiokafka's own is 0.1, and
            ``AIOKafkaConsumer`` does not take it as an argument, so the source sets it on the
            consumer's fetcher). A paused partition keeps its fetched records (the soft pause),
            so with 0.1 each fresh fetch of a paused partition could delay the other
            partitions on its broker by up to 100 ms. 0 would send a fetch for every drained
            partition at once: more, smaller fetch responses parsed on the one event loop.
        commit_every: commit once this many records completed since the last commit
            (default 1,000).
        commit_interval: commit at least this often, in seconds, while records complete
            (default 1.0).
        completed_metadata: commit, in each partition's offset metadata, the offsets above
            the committed one that already completed (default ``True``), and skip them when
            the partition is assigned again — after a crash or a rebalance only what was in
            flight or completed since the last commit is delivered again
            (:mod:`streamguard.kafka._offset_map` says how large a gap fits). ``False``:
            plain offsets; everything above the committed offset is delivered again.
        completed_metadata_limit: the most characters of metadata per partition (default
            4,096, Kafka's ``offset.metadata.max.bytes`` default; lower it if the brokers'
            setting is lower). Completed offsets that do not fit are delivered again.
        completed_metadata_bound: keep what a crash delivers again within what fits
            (default ``True``): a partition whose completed offsets above its lowest
            incomplete one would need more than 75 % of ``completed_metadata_limit`` stops
            handing out records — they stay buffered, its backlog pauses its fetching, the
            other partitions go on — until that gap closes (Confluent Parallel Consumer's
            back pressure from the offset map; :mod:`streamguard.kafka._gap`). ``False``:
            the partition goes on, and what does not fit is delivered again after a crash.
            Nothing changes without ``completed_metadata`` or a ``group_id``.
        revoke_timeout: on a rebalance, seconds to wait for the in-flight records of revoked
            partitions before committing what completed and dropping the rest (default 5.0;
            while the source drains, its drain deadline if that is longer).
        close_timeout: on a graceful stop, seconds to wait for in-flight records (default 10).
        connect_timeout: seconds to reach the brokers and look up the topics before a clear
            error (default 15).
        dead_letter_topic: where undecodable and rejected records go (``None``: such a
            record fails the stream and is not committed). Never an input: not one of
            *topics* or *partitions*' topics, not matched by *pattern*.
        dead_letter_idempotence: whether the dead-letter producer is idempotent (default
            ``True``; Tansu 0.6 refuses idempotent producers, so it needs ``False``).
        lag_interval: seconds between two :class:`~streamguard.kafka.LagSampled` events.
        session_timeout: the group session timeout in seconds (default 10).
        heartbeat_interval: seconds between heartbeats (default 3).
        max_poll_interval: seconds without an active ``getmany`` before the group evicts the
            consumer (default 300); the source keeps one active even when all is paused.
        consumer_options: further keyword arguments for ``aiokafka.AIOKafkaConsumer``.
    """

    bootstrap_servers: Bootstrap
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
    prefetch_backoff: float = DEFAULT_PREFETCH_BACKOFF
    commit_every: int = 1000
    commit_interval: float = 1.0
    completed_metadata: bool = True
    completed_metadata_limit: int = 4096
    completed_metadata_bound: bool = True
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
        check_bootstrap(self.bootstrap_servers)
        self._check_types()
        modes = sum((bool(self.topics), self.pattern is not None, bool(self.partitions)))
        require(modes == 1, "give exactly one of topics, pattern or partitions",
                {"topics": self.topics, "pattern": self.pattern, "partitions": self.partitions})
        for topic in self.topics:
            check_topic(topic)
        for tp in self.partitions:
            check_topic(tp[0])
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                require(False, f"pattern must be a valid regular expression ({exc})",
                        self.pattern)
        require(self.group_id is not None or bool(self.partitions),
                "group_id is required to subscribe to topics or a pattern", self.group_id)
        check_str(self.group_id, "group_id", optional=True)
        require(self.auto_offset_reset in ("earliest", "latest"),
                "auto_offset_reset must be 'earliest' or 'latest'", self.auto_offset_reset)
        self._check_numbers()
        check_dead_letter_topic(self.dead_letter_topic, pattern=self.pattern,
                                topics=self.topics + tuple(tp[0] for tp in self.partitions))

    def _check_types(self) -> None:
        require(isinstance(self.topics, tuple | list) and not isinstance(self.topics, str),
                "topics must be a tuple of names, not one string", self.topics)
        require(isinstance(self.partitions, tuple | list),
                "partitions must be a tuple of (topic, partition) pairs", self.partitions)
        for tp in self.partitions:
            require(isinstance(tp, tuple | list) and len(tp) == 2 and isinstance(tp[1], int)
                    and not isinstance(tp[1], bool) and tp[1] >= 0,
                    "partitions must be (topic, partition >= 0) pairs", tp)
        # A list is accepted and kept as a tuple, so the config stays hashable and frozen.
        object.__setattr__(self, "topics", tuple(self.topics))
        object.__setattr__(self, "partitions", tuple(tuple(tp) for tp in self.partitions))
        require(self.pattern is None or isinstance(self.pattern, str),
                "pattern must be a regular expression string or None", self.pattern)
        check_str(self.client_id, "client_id")
        require(isinstance(self.flow, FlowControl), "flow must be a FlowControl", self.flow)
        for name in ("max_poll_records", "fetch_max_bytes", "commit_every",
                     "completed_metadata_limit"):
            check_int(getattr(self, name), name)
        for name in ("poll_timeout", "prefetch_backoff", "commit_interval", "revoke_timeout",
                     "close_timeout", "connect_timeout", "lag_interval", "session_timeout",
                     "heartbeat_interval", "max_poll_interval"):
            check_number(getattr(self, name), name)
        check_bool(self.dead_letter_idempotence, "dead_letter_idempotence")
        check_bool(self.completed_metadata, "completed_metadata")
        check_bool(self.completed_metadata_bound, "completed_metadata_bound")
        check_mapping(self.consumer_options, "consumer_options")
        # AIOKafkaConsumer would refuse it with a bare TypeError; name the field that sets it.
        require("prefetch_backoff" not in (self.consumer_options or {}),
                "consumer_options cannot set prefetch_backoff (AIOKafkaConsumer does not take "
                "it); use KafkaSourceConfig.prefetch_backoff", "prefetch_backoff")

    def _check_numbers(self) -> None:
        require(self.max_poll_records >= 1, "max_poll_records must be >= 1", self.max_poll_records)
        require(self.max_poll_records < self.flow.high_mark,
                f"max_poll_records must be < flow.high_mark={self.flow.high_mark} (one poll "
                "must not pause its partition)", self.max_poll_records)
        require(self.fetch_max_bytes >= 1024, "fetch_max_bytes must be >= 1024",
                self.fetch_max_bytes)
        require(self.poll_timeout > 0, "poll_timeout must be > 0 seconds", self.poll_timeout)
        require(self.prefetch_backoff >= 0, "prefetch_backoff must be >= 0 seconds",
                self.prefetch_backoff)
        require(self.commit_every >= 1, "commit_every must be >= 1", self.commit_every)
        require(self.completed_metadata_limit >= 64,
                "completed_metadata_limit must be >= 64 characters",
                self.completed_metadata_limit)
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
        bootstrap_servers: ``"host:port[,host:port...]"`` of the brokers, or a
            :class:`KafkaConnection` (brokers plus TLS/SASL) that every client of this
            config uses.
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

    bootstrap_servers: Bootstrap
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
        check_bootstrap(self.bootstrap_servers)
        check_str(self.client_id, "client_id")
        check_bool(self.idempotence, "idempotence")
        require(self.acks in ("all", 0, 1) and not isinstance(self.acks, bool),
                "acks must be 'all', 0 or 1", self.acks)
        check_number(self.linger, "linger")
        check_int(self.max_batch_bytes, "max_batch_bytes")
        check_number(self.delivery_timeout, "delivery_timeout")
        check_number(self.connect_timeout, "connect_timeout")
        check_mapping(self.producer_options, "producer_options")
        if self.topic is not None:
            check_topic(self.topic)
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
