"""One secured Apache Kafka broker for the security tests (SASL_SSL with SCRAM-SHA-512 and
mutual TLS), started by the test run and stopped after it."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator

import pytest

from streamguard.servers import SecuredKafkaConfig, SecuredKafkaServer

PASSWORD = "s3cret-alice"


@pytest.fixture(scope="session")
def secured() -> Iterator[SecuredKafkaServer]:
    with SecuredKafkaServer(SecuredKafkaConfig(users={"alice": PASSWORD})) as server:
        yield server


@pytest.fixture(autouse=True)
def _collect_refused_sockets() -> Iterator[None]:
    """aiokafka leaves the sockets of refused connections (wrong password, failed TLS
    handshake) to the garbage collector; collect them after each test here, so that their
    ResourceWarning does not surface in whichever test the collector happens to run next."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
