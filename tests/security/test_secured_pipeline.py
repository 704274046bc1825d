"""The Kafka paths that matter, over the secured listeners: consume and commit, dead letters,
the sink, lag and pause/resume through SASL_SSL (SCRAM-SHA-512); the same consumer through
mutual TLS; the command line with ``--command-config``; and no secret anywhere a user or an
operator can see it — logs, errors, reprs, metrics, ``--json`` output, dead-letter headers."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamguard import operators as op
from streamguard.core import EventBus
from streamguard.kafka import (
    BrokerRefusedError,
    FlowControl,
    KafkaConnection,
    KafkaRecord,
    KafkaSink,
    KafkaSinkConfig,
    KafkaSource,
    KafkaSourceConfig,
    PartitionPaused,
    PartitionResumed,
    read_group_lag,
)
from streamguard.metrics import PrometheusExporter
from streamguard.servers import SecuredKafkaServer

from .conftest import PASSWORD

pytestmark = pytest.mark.integration

TOTAL = 200
ROOT = Path(__file__).resolve().parents[2]


def scram(server: SecuredKafkaServer, password: str = PASSWORD) -> KafkaConnection:
    return KafkaConnection(
        bootstrap_servers=server.sasl_ssl_bootstrap, security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512", sasl_username="alice", sasl_password=password,
        ssl_cafile=str(server.ca_file))


def mtls(server: SecuredKafkaServer) -> KafkaConnection:
    return KafkaConnection(
        bootstrap_servers=server.ssl_bootstrap, security_protocol="SSL",
        ssl_cafile=str(server.ca_file), ssl_certfile=str(server.client_cert_file),
        ssl_keyfile=str(server.client_key_file))


async def _topic(server: SecuredKafkaServer, partitions: int = 2) -> str:
    name = f"secure-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=server.bootstrap)  # the open listener
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1), NewTopic(f"{name}.dlq", 1, 1)])
    finally:
        await admin.close()
    return name


def _config(connection: KafkaConnection, topic: str, group: str,
            **extra: Any) -> KafkaSourceConfig:
    return KafkaSourceConfig(bootstrap_servers=connection, topics=(topic,), group_id=group,
                             dead_letter_topic=f"{topic}.dlq", connect_timeout=20.0,
                             session_timeout=6.0, heartbeat_interval=1.0, **extra)


async def _produce(connection: KafkaConnection, topic: str) -> None:
    async with KafkaSink[bytes](KafkaSinkConfig(bootstrap_servers=connection,
                                                topic=topic)) as out:
        for i in range(TOTAL):
            await out.send(orjson.dumps({"n": i}))


async def _consume(connection: KafkaConnection, topic: str, group: str, *,
                   bus: EventBus | None = None, **extra: Any) -> tuple[list[int], int]:
    source: KafkaSource[dict[str, int]] = KafkaSource(_config(connection, topic, group, **extra),
                                                      codec="json", bus=bus)
    stored: list[int] = []

    async def store(record: KafkaRecord[dict[str, int]]) -> None:
        if extra:
            await asyncio.sleep(0.002)  # slow enough for the backlog to pause partitions
        if record.value["n"] % 10 == 0:
            raise ValueError("rejected by the downstream")
        stored.append(record.value["n"])

    task = asyncio.create_task(source.stream().pipe(
        op.sink(store, concurrency=4, on_error=source.dead_letter)).run())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while len(stored) + source.statistics().dead_lettered < TOTAL:
        assert not task.done(), task.result()
        assert loop.time() < deadline, (len(stored), source.statistics())
        await asyncio.sleep(0.05)
    source.drain()
    await task
    return stored, source.statistics().dead_lettered


async def test_consume_commit_dead_letters_sink_and_lag_over_sasl_ssl(
        secured: SecuredKafkaServer) -> None:
    connection = scram(secured)
    topic = await _topic(secured)
    await _produce(connection, topic)
    stored, dead = await _consume(connection, topic, "g-scram")
    assert sorted(stored) == [i for i in range(TOTAL) if i % 10]
    assert dead == TOTAL // 10
    rows = await read_group_lag(connection, "g-scram", topics=[topic], connect_timeout=20)
    assert sum(r.committed or 0 for r in rows) == TOTAL
    assert sum(r.lag or 0 for r in rows) == 0


async def test_the_same_consumer_over_mutual_tls(secured: SecuredKafkaServer) -> None:
    topic = await _topic(secured)
    await _produce(mtls(secured), topic)
    stored, dead = await _consume(mtls(secured), topic, "g-mtls")
    assert len(stored) + dead == TOTAL


async def test_partitions_pause_and_resume_over_sasl_ssl(secured: SecuredKafkaServer) -> None:
    connection = scram(secured)
    topic = await _topic(secured, partitions=1)
    await _produce(connection, topic)
    bus = EventBus()
    seen: list[object] = []
    bus.subscribe(seen.append)
    stored, dead = await _consume(connection, topic, "g-pause", bus=bus,
                                  flow=FlowControl(high_mark=40, low_mark=10, min_pause=0.01),
                                  max_poll_records=10)
    assert len(stored) + dead == TOTAL
    assert any(isinstance(e, PartitionPaused) for e in seen)
    assert any(isinstance(e, PartitionResumed) for e in seen)


# The refused connection's socket is left by aiokafka for the garbage collector.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
async def test_no_secret_reaches_logs_errors_reprs_metrics_json_or_dead_letters(
        secured: SecuredKafkaServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "Wr0ng-S3cret-for-the-leak-test"
    secrets = (PASSWORD, wrong)
    caplog.set_level(logging.DEBUG)
    exporter = PrometheusExporter(every_bus=True)
    connection = scram(secured)
    topic = await _topic(secured)
    await _produce(connection, topic)
    await _consume(connection, topic, "g-leak")
    seen: list[str] = [caplog.text, exporter.exposition().decode(), repr(connection),
                       str(connection), repr(_config(connection, topic, "g")),
                       repr(KafkaSinkConfig(bootstrap_servers=connection, topic=topic))]
    exporter.close()
    with pytest.raises(BrokerRefusedError) as refused:
        await _consume(scram(secured, wrong), topic, "g-wrong")
    seen += [str(refused.value), repr(refused.value), caplog.text]
    gc.collect()
    letters = await _read_dead_letters(connection, f"{topic}.dlq", TOTAL // 10)
    seen += [repr(h) for letter in letters for h in letter]
    props = tmp_path / "client.properties"
    props.write_text(
        f"bootstrap.servers={secured.sasl_ssl_bootstrap}\nsecurity.protocol=SASL_SSL\n"
        "sasl.mechanism=SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="alice" password="{PASSWORD}";\n'
        f"ssl.truststore.location={secured.ca_file}\n")
    lag = _cli("lag", "--command-config", str(props), "--group", "g-leak", "--topic", topic,
               "--json", "--debug")
    assert lag.returncode == 0, lag.stderr
    assert json.loads(lag.stdout)["total_lag"] == 0
    seen += [lag.stdout, lag.stderr]
    props.write_text(props.read_text().replace(PASSWORD, wrong))
    refused_cli = _cli("lag", "--command-config", str(props), "--group", "g-leak",
                       "--topic", topic, "--json")
    assert refused_cli.returncode == 4
    assert "authentication failed" in refused_cli.stderr
    seen += [refused_cli.stdout, refused_cli.stderr]
    leaks = [text for text in seen for secret in secrets if secret in text]
    assert leaks == []


async def _read_dead_letters(connection: KafkaConnection, topic: str,
                             count: int) -> list[list[tuple[str, bytes]]]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, auto_offset_reset="earliest",
                                **connection.client_options())
    await consumer.start()
    headers: list[list[tuple[str, bytes]]] = []
    try:
        while len(headers) < count:
            batch = await consumer.getmany(timeout_ms=20_000)
            assert batch, len(headers)
            headers += [list(r.headers) for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    return headers


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "streamguard.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
