"""The secured test broker speaks what production clusters speak: SASL_SSL with SCRAM-SHA-512
users, and TLS that requires a client certificate; a wrong password is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from aiokafka.helpers import create_ssl_context

from streamguard.servers import SecuredKafkaConfig, SecuredKafkaServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def secured() -> Iterator[SecuredKafkaServer]:
    with SecuredKafkaServer(SecuredKafkaConfig(users={"alice": "s3cret-alice"})) as server:
        yield server


async def test_scram_over_tls_and_mutual_tls_both_carry_records(
        secured: SecuredKafkaServer) -> None:
    sasl = {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": "alice", "sasl_plain_password": "s3cret-alice",
            "ssl_context": create_ssl_context(cafile=str(secured.ca_file))}
    mtls = {"security_protocol": "SSL", "ssl_context": create_ssl_context(
        cafile=str(secured.ca_file), certfile=str(secured.client_cert_file),
        keyfile=str(secured.client_key_file))}
    for bootstrap, options, value in ((secured.sasl_ssl_bootstrap, sasl, b"scram"),
                                      (secured.ssl_bootstrap, mtls, b"mtls")):
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **options)
        await producer.start()
        try:
            await producer.send_and_wait("secured", value)
        finally:
            await producer.stop()
    consumer = AIOKafkaConsumer("secured", bootstrap_servers=secured.sasl_ssl_bootstrap,
                                auto_offset_reset="earliest", **sasl)
    await consumer.start()
    try:
        got = await consumer.getmany(timeout_ms=10_000)
        values = sorted(r.value for rs in got.values() for r in rs)
        while len(values) < 2:
            more = await consumer.getmany(timeout_ms=10_000)
            assert more, values
            values += sorted(r.value for rs in more.values() for r in rs)
    finally:
        await consumer.stop()
    assert sorted(values) == [b"mtls", b"scram"]


async def test_a_wrong_password_is_refused(secured: SecuredKafkaServer) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=secured.sasl_ssl_bootstrap, security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="alice",
        sasl_plain_password="wrong", ssl_context=create_ssl_context(cafile=str(secured.ca_file)))
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()


def test_the_config_does_not_show_passwords() -> None:
    assert "s3cret" not in repr(SecuredKafkaConfig(users={"bob": "s3cret-bob"}))
