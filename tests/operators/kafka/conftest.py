"""The Apache Kafka broker of tests/kafka, for the operators that run behind a Kafka source."""

from tests.kafka.conftest import _apache_server, apache_broker, group, topic

__all__ = ["_apache_server", "apache_broker", "group", "topic"]
