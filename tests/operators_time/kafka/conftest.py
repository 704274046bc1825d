"""The Apache Kafka broker of tests/kafka, for the Kafka windows example."""

from tests.kafka.conftest import _apache_server, apache_broker

__all__ = ["_apache_server", "apache_broker"]
