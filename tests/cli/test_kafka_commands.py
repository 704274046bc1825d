"""`streamguard lag` and `streamguard broker` against a real (Tansu) broker."""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import socket
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamguard.cli import main
from streamguard.servers import TansuServer, kafka_answers

from ._runner import cli, spawn

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tansu() -> Iterator[str]:
    server = TansuServer()
    server.start()
    try:
        yield server.bootstrap
    finally:
        server.stop()


async def _prepare(bootstrap: str, topic: str, group: str, per_partition: list[int],
                   commits: dict[int, int]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, len(per_partition), 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for partition, count in enumerate(per_partition):
            for i in range(count):
                await producer.send(topic, b"%d" % i, partition=partition)
        await producer.flush()
    finally:
        await producer.stop()
    if not commits:
        return
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(len(per_partition))])
        if commits:
            await consumer.commit({TopicPartition(topic, p): o for p, o in commits.items()})
    finally:
        await consumer.stop()


async def test_lag_table_and_json(tansu: str) -> None:
    await _prepare(tansu, "orders-lag", "billing", [1003, 250, 40], {0: 100, 1: 250})
    table = cli("lag", "--bootstrap", tansu, "--group", "billing")
    assert table.code == 0, table.stderr
    lines = table.stdout.strip().splitlines()
    assert re.split(r"\s+", lines[0]) == [
        "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"]
    rows = [re.split(r"\s+", line) for line in lines[1:]]
    assert rows == [["billing", "orders-lag", "0", "100", "1003", "903"],
                    ["billing", "orders-lag", "1", "250", "250", "0"]]

    as_json = cli("lag", "--bootstrap", tansu, "--group", "billing", "--topic", "orders-lag",
                  "--json")
    assert as_json.code == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    # Partition 2 was never committed: its 40 records wait all the same (#9).
    assert data["total_lag"] == 903 + 40
    assert data["partitions"][2] == {"topic": "orders-lag", "partition": 2, "committed": None,
                                     "log_end": 40, "lag": 40, "log_start": 0}


async def test_lag_of_a_group_that_never_committed_lists_its_partitions(tansu: str) -> None:
    await _prepare(tansu, "orders-new", "fresh", [30, 12], {})
    table = cli("lag", "--bootstrap", tansu, "--group", "fresh", "--topic", "orders-new")
    assert table.code == 0, table.stderr
    rows = [re.split(r"\s+", line) for line in table.stdout.strip().splitlines()[1:]]
    assert rows == [["fresh", "orders-new", "0", "-", "30", "30"],
                    ["fresh", "orders-new", "1", "-", "12", "12"]]
    without_topic = cli("lag", "--bootstrap", tansu, "--group", "fresh")
    assert without_topic.code == 3
    assert "consumer group 'fresh' has no committed offsets" in without_topic.stderr


async def test_lag_of_a_named_topic_lists_partitions_never_committed(tansu: str) -> None:
    await _prepare(tansu, "orders-fresh", "billing-fresh", [7, 0], {})
    table = cli("lag", "--bootstrap", tansu, "--group", "billing-fresh", "--topic",
                "orders-fresh")
    assert table.code == 0, table.stderr
    rows = [re.split(r"\s+", line) for line in table.stdout.strip().splitlines()[1:]]
    # No committed offset (`-`); the lag counts the records waiting from the log start.
    assert rows == [["billing-fresh", "orders-fresh", "0", "-", "7", "7"],
                    ["billing-fresh", "orders-fresh", "1", "-", "0", "0"]]


def test_lag_of_unknown_group_and_topic(tansu: str) -> None:
    group = cli("lag", "--bootstrap", tansu, "--group", "nobody-here")
    assert group.code == 3
    assert "consumer group 'nobody-here' has no committed offsets" in group.stderr
    topic = cli("lag", "--bootstrap", tansu, "--group", "billing", "--topic", "no-such-topic")
    assert topic.code == 3
    assert "topic 'no-such-topic' does not exist" in topic.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_lag_with_unreachable_broker_exits_4() -> None:
    result = cli("lag", "--bootstrap", f"127.0.0.1:{_closed_port()}", "--group", "g",
                 "--timeout", "5")
    assert result.code == 4
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("streamguard: error: cannot reach a Kafka broker at 127.0.0.1:")
    assert "streamguard broker" in line
    assert result.stdout == ""
    # The README shows this very line (for port 1): it must not drift from what is printed.
    shown = next(text for text in README.read_text().splitlines()
                 if text.startswith("streamguard: error: cannot reach a Kafka broker"))
    port = line.split("127.0.0.1:", 1)[1].split(" ", 1)[0]
    assert shown == line.replace(f"127.0.0.1:{port}", "127.0.0.1:1")


def test_lag_needs_a_group() -> None:
    result = cli("lag")
    assert result.code == 2
    assert "the following arguments are required: --group" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--group", ""), "argument --group: must be a non-empty consumer group id, got ''"),
    (("--group", " "), "argument --group: must be a non-empty consumer group id, got ' '"),
    (("--group", "g", "--topic", ""), "argument --topic: must be a non-empty topic name, got ''"),
])
def test_lag_blank_names_are_usage_errors(args: tuple[str, ...], message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    # Refused while parsing: no broker is needed, none is contacted.
    assert main(["lag", "--bootstrap", "127.0.0.1:1", "--timeout", "1", *args]) == 2
    err = capsys.readouterr().err
    assert f"streamguard: error: {message}" in err, err


def test_broker_runs_in_the_foreground_until_ctrl_c() -> None:
    with spawn("broker", "--port", "0") as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.match(r"Tansu broker listening on 127\.0\.0\.1:(\d+) \(pid (\d+);", line)
        assert match, line
        port, tansu_pid = int(match.group(1)), int(match.group(2))
        assert kafka_answers("127.0.0.1", port)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "broker stopped" in err
    assert not kafka_answers("127.0.0.1", port)
    with pytest.raises(ProcessLookupError):
        os.kill(tansu_pid, 0)


def test_broker_port_in_use_exits_4() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = cli("broker", "--port", str(port))
    assert result.code == 4
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
