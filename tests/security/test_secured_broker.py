"""The secured test broker speaks what production clusters speak: SASL_SSL with SCRAM-SHA-512
users, and TLS that requires a client certificate; a wrong password is refused."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from aiokafka.helpers import create_ssl_context

from streamguard.kafka._client import check_connection
from streamguard.kafka._connection import KafkaConnection
from streamguard.kafka._errors import BrokerRefusedError, BrokerUnreachableError
from streamguard.servers import SecuredKafkaConfig, SecuredKafkaServer
from streamguard.servers._tls import make_ca

pytestmark = pytest.mark.integration


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


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
async def test_a_wrong_password_is_refused(secured: SecuredKafkaServer) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=secured.sasl_ssl_bootstrap, security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="alice",
        sasl_plain_password="wrong", ssl_context=create_ssl_context(cafile=str(secured.ca_file)))
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()
    gc.collect()  # aiokafka leaves the refused connection's socket to the collector


def test_the_config_does_not_show_passwords() -> None:
    assert "s3cret" not in repr(SecuredKafkaConfig(users={"bob": "s3cret-bob"}))


def _scram(secured: SecuredKafkaServer, **overrides: object) -> KafkaConnection:
    values: dict[str, object] = {
        "bootstrap_servers": secured.sasl_ssl_bootstrap, "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "alice",
        "sasl_password": "s3cret-alice", "ssl_cafile": str(secured.ca_file)}
    values.update(overrides)
    return KafkaConnection(**values)  # type: ignore[arg-type]


async def test_a_good_connection_passes_the_check(secured: SecuredKafkaServer) -> None:
    await check_connection(_scram(secured))
    await check_connection(KafkaConnection(
        bootstrap_servers=secured.ssl_bootstrap, security_protocol="SSL",
        ssl_cafile=str(secured.ca_file), ssl_certfile=str(secured.client_cert_file),
        ssl_keyfile=str(secured.client_key_file)))


# aiokafka leaves the socket of a failed TLS handshake for the garbage collector; the warning
# that raises is aiokafka's, not a leak of ours.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.parametrize(("case", "cause"), [
    ("wrong password", "authentication failed: the broker refused user 'alice' with "
                       "SCRAM-SHA-512 (wrong user name or password)"),
    ("untrusted certificate", "TLS: the broker's certificate is not trusted by ssl_cafile="),
    ("plaintext to a TLS port", "the broker closed the connection at once: the listener "
                                "expects TLS? security_protocol is PLAINTEXT"),
    ("TLS to a plaintext port", "TLS handshake failed"),
    ("mechanism not enabled", "the broker does not enable SASL mechanism PLAIN"),
    ("no client certificate", "the listener may require a client certificate"),
])
async def test_each_failure_is_one_line_naming_its_cause_within_10_s(
        secured: SecuredKafkaServer, tmp_path: Path, case: str, cause: str) -> None:
    connection = {
        "wrong password": lambda: _scram(secured, sasl_password="wrong"),
        "untrusted certificate": lambda: _scram(
            secured, ssl_cafile=str(make_ca(tmp_path, "stranger")[0])),
        "plaintext to a TLS port": lambda: KafkaConnection(
            bootstrap_servers=secured.ssl_bootstrap),
        "TLS to a plaintext port": lambda: KafkaConnection(
            bootstrap_servers=secured.bootstrap, security_protocol="SSL",
            ssl_cafile=str(secured.ca_file)),
        "mechanism not enabled": lambda: _scram(secured, sasl_mechanism="PLAIN"),
        "no client certificate": lambda: KafkaConnection(
            bootstrap_servers=secured.ssl_bootstrap, security_protocol="SSL",
            ssl_cafile=str(secured.ca_file)),
    }[case]()
    began = time.monotonic()
    with pytest.raises((BrokerRefusedError, BrokerUnreachableError)) as info:
        await check_connection(connection, within=10.0)
    assert time.monotonic() - began < 10.0
    message = str(info.value)
    assert cause in message
    assert "\n" not in message
    assert "s3cret-alice" not in message
    gc.collect()  # collect aiokafka's abandoned sockets here, where their warning is expected
