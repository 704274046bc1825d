"""The Kafka adapter: consume topics as demand-driven streams, at least once, without
reading faster than the pipeline can process; produce to topics with acknowledged delivery.

* :class:`KafkaSource` — a consumer group (or assigned partitions) as a stream of records.
  Per partition, the backlog of fetched-but-not-completed records pauses the partition at a
  high mark and resumes it at a low mark (:class:`FlowControl`); pauses have reasons
  (``backlog``, ``breaker``, ``user``) owned by streamguard and re-applied after every
  rebalance; a ``getmany`` stays active while everything is paused, so the consumer keeps
  its place in the group. Only the highest contiguous completed offset of each partition is
  committed — batched by count and time, on revoke and on close. Records that cannot be
  decoded, or that the sink rejects, go to a dead-letter topic.
* :class:`KafkaSink` — an ``acks=all``, idempotent producer whose ``send`` returns once the
  broker has the record.
* :class:`TransactionalPipeline` — topic → transform → topic exactly once: per input
  partition, batches of output records and the partition's offset in one Kafka transaction
  (one transactional producer per input partition fences a zombie owner); or the same
  pipeline at least once.
* :func:`throttle_by_lag` — slows a producer down while a consumer group lags behind.
* :class:`KafkaConnection` — brokers plus security (TLS, SASL PLAIN/SCRAM/OAUTHBEARER), from
  code, a Kafka properties file or ``STREAMGUARD_KAFKA_*`` variables; pass it wherever a
  ``bootstrap_servers`` string goes and every client made from there uses it;
  :func:`check_connection` names why a broker refuses (:class:`BrokerRefusedError`).
* :func:`read_group_lag` — committed offset, log-end offset and lag per partition, as
  Kafka's consumer-groups tool reports them.

Example::

    from streamguard import operators as op
    from streamguard.kafka import KafkaSource, KafkaSourceConfig

    source = KafkaSource(KafkaSourceConfig(
        bootstrap_servers="127.0.0.1:9092", topics=("orders",), group_id="billing",
        dead_letter_topic="orders.dlq",
    ), codec="json")
    await source.stream().pipe(op.sink(store, concurrency=8, on_error=source.dead_letter)).run()

Requires the ``kafka`` extra (aiokafka): ``pip install 'streamguard[kafka]'``.
"""

try:
    import aiokafka  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "streamguard.kafka needs aiokafka: pip install 'streamguard[kafka]'"
    ) from exc

from ..core._public import publish as _publish
from ._client import check_connection
from ._codec import BYTES, JSON, STR, Codec, FunctionCodec, Undecodable
from ._config import KafkaSinkConfig, KafkaSourceConfig
from ._connection import KafkaConnection, Secret
from ._dead_letter import (
    HEADER_ERROR_MESSAGE,
    HEADER_ERROR_TYPE,
    HEADER_OFFSET,
    HEADER_PARTITION,
    HEADER_STAGE,
    HEADER_TIMESTAMP,
    HEADER_TOPIC,
)
from ._errors import (
    BrokerRefusedError,
    BrokerUnreachableError,
    DeadLetterError,
    DeliveryError,
    IdempotenceUnsupportedError,
    KafkaAdapterError,
    RecordFailedError,
    TransactionsUnsupportedError,
    UnknownTopicError,
)
from ._events import (
    BatchAborted,
    BatchCommitted,
    CommitFailed,
    KafkaEvent,
    LagSampled,
    OffsetsCommitted,
    PartitionGapHeld,
    PartitionGapReleased,
    PartitionPaused,
    PartitionResumed,
    PartitionsAssigned,
    PartitionsRevoked,
    PauseReasonsChanged,
    RecordDeadLettered,
    ThrottleRateChanged,
)
from ._lag import GroupLagProbe, GroupPartitionLag, LagProbe, PartitionLag, read_group_lag
from ._pause import FlowControl, PauseReason
from ._sink import Delivered, KafkaSink, OutgoingRecord
from ._source import KafkaSource, KafkaSourceStatistics
from ._throttle import LagThrottleConfig, throttle_by_lag
from ._transactional import TransactionalPipeline
from ._transactional_config import TransactionalConfig, TransactionalStatistics
from ._types import KafkaRecord, TopicPartition

__all__ = [
    "BYTES",
    "HEADER_ERROR_MESSAGE",
    "HEADER_ERROR_TYPE",
    "HEADER_OFFSET",
    "HEADER_PARTITION",
    "HEADER_STAGE",
    "HEADER_TIMESTAMP",
    "HEADER_TOPIC",
    "JSON",
    "STR",
    "BatchAborted",
    "BatchCommitted",
    "BrokerRefusedError",
    "BrokerUnreachableError",
    "Codec",
    "CommitFailed",
    "DeadLetterError",
    "Delivered",
    "DeliveryError",
    "FlowControl",
    "FunctionCodec",
    "GroupLagProbe",
    "GroupPartitionLag",
    "IdempotenceUnsupportedError",
    "KafkaAdapterError",
    "KafkaConnection",
    "KafkaEvent",
    "KafkaRecord",
    "KafkaSink",
    "KafkaSinkConfig",
    "KafkaSource",
    "KafkaSourceConfig",
    "KafkaSourceStatistics",
    "LagProbe",
    "LagSampled",
    "LagThrottleConfig",
    "OffsetsCommitted",
    "OutgoingRecord",
    "PartitionGapHeld",
    "PartitionGapReleased",
    "PartitionLag",
    "PartitionPaused",
    "PartitionResumed",
    "PartitionsAssigned",
    "PartitionsRevoked",
    "PauseReason",
    "PauseReasonsChanged",
    "RecordDeadLettered",
    "RecordFailedError",
    "Secret",
    "ThrottleRateChanged",
    "TopicPartition",
    "TransactionalConfig",
    "TransactionalPipeline",
    "TransactionalStatistics",
    "TransactionsUnsupportedError",
    "Undecodable",
    "UnknownTopicError",
    "check_connection",
    "read_group_lag",
    "throttle_by_lag",
]

_publish(__name__, globals(), __all__)
