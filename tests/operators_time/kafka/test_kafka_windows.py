"""The Kafka windows example under ``streamguard run`` against Apache Kafka: the output topic
holds exactly the per-user, per-window click counts, the stragglers were reported late, and
both input groups committed every offset — only after the counts were written."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
from collections import Counter
from types import ModuleType

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.cli._runner import ROOT, argv, env
from tests.kafka._brokers import Broker, consume_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RECORDS = 4_000


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kafka_windows",
                                                  ROOT / "examples" / "kafka_windows.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _committed_and_ends(
    broker: Broker, topic: str, group: str
) -> tuple[dict[int, int], dict[int, int]]:
    """The group's committed offsets and the log ends, per partition (the example makes 2)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in (0, 1)]
        ends = await consumer.end_offsets(tps)
        committed = {tp.partition: await consumer.committed(tp) or 0 for tp in tps}
        return committed, {tp.partition: ends[tp] for tp in tps}
    finally:
        await consumer.stop()


async def test_example_counts_clicks_per_user_and_window_on_apache_kafka(
    apache_broker: Broker,
) -> None:
    command = argv("run", "examples/kafka_windows.py", "--bootstrap", apache_broker.bootstrap,
                   "--json")
    proc = await asyncio.to_thread(
        subprocess.run, command, cwd=ROOT, env=env(), capture_output=True, text=True,
        timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = next(json.loads(line.removeprefix("summary: "))
                   for line in proc.stdout.splitlines() if line.startswith("summary: "))
    example = _example()
    expected: Counter[tuple[str, float]] = example.expected_counts(RECORDS)

    assert summary["read"] == summary["records"] == RECORDS + example.USERS
    assert summary["late"] == example.USERS  # one straggler per user, reported, not counted
    assert summary["windows"] == len(expected)

    out = await consume_all(apache_broker, summary["topics"]["output"], len(expected))
    counts = Counter[tuple[str, float]]()
    for record in out:
        body = json.loads(record.value)
        assert record.key == body["user"].encode()
        assert body["end"] - body["start"] == example.WINDOW
        counts[(body["user"], body["start"])] += body["count"]
    assert counts == expected

    for topic, group in zip(summary["topics"]["inputs"], summary["groups"], strict=True):
        committed, ends = await _committed_and_ends(apache_broker, topic, group)
        assert committed == ends, (topic, committed, ends)
