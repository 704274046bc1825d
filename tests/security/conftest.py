"""One secured Apache Kafka broker for the security tests (SASL_SSL with SCRAM-SHA-512 and
mutual TLS), started by the test run and stopped after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streamguard.servers import SecuredKafkaConfig, SecuredKafkaServer

PASSWORD = "s3cret-alice"


@pytest.fixture(scope="session")
def secured() -> Iterator[SecuredKafkaServer]:
    with SecuredKafkaServer(SecuredKafkaConfig(users={"alice": PASSWORD})) as server:
        yield server
