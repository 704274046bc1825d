"""kill -9 of an exactly-once worker, again and again (#13): topic A (100,000 records) →
transform → topic B, the worker killed with SIGKILL at random moments while it writes, five
times, and restarted; B read with ``read_committed`` holds every input exactly once, and the
dead-letter topic every failed input exactly once. What the killed workers left in open
transactions is in B's log too (read_uncommitted shows it) — aborted, never committed."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from ._brokers import Broker, committed_offsets, create_topic, produce
from ._transactional_helpers import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TOTAL, PARTITIONS, KILLS = 100_000, 4, 5


def start_worker(broker: Broker, names: tuple[str, str, str, str], err: Path
                 ) -> subprocess.Popen[bytes]:
    with err.open("ab") as stream:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.kafka._exactly_once_worker", broker.bootstrap, *names],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stream,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )


async def test_sigkill_five_times_then_every_input_is_in_b_exactly_once(
    apache_broker: Broker, topic: str, group: str, tmp_path: Path
) -> None:
    a, b, dlq = topic, topic + ".b", topic + ".dlq"
    for name in (a, b, dlq):
        await create_topic(apache_broker.bootstrap, name, partitions=PARTITIONS)
    await produce(apache_broker, a, (b"%d" % i for i in range(TOTAL)),
                  partition_of=lambda i: i % PARTITIONS)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    err = tmp_path / "worker.err"
    probe = AIOKafkaConsumer(bootstrap_servers=apache_broker.bootstrap)
    await probe.start()
    b_parts = [TopicPartition(b, p) for p in range(PARTITIONS)]

    async def b_written() -> int:  # records written to B, committed or not
        return sum((await probe.end_offsets(b_parts)).values())

    loop = asyncio.get_running_loop()
    worker: subprocess.Popen[bytes] | None = None
    try:
        for kill in range(KILLS):
            worker = start_worker(apache_broker, (a, b, dlq, group), err)
            target = await b_written() + rng.randint(2_000, 8_000)
            deadline = loop.time() + 60
            while await b_written() < target:
                assert worker.poll() is None, err.read_text()[-3000:]
                assert loop.time() < deadline, f"kill {kill}: nothing written (seed {seed})"
                await asyncio.sleep(0.02)
            await asyncio.sleep(rng.uniform(0, 0.3))  # a random moment of the writing
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
        committed = await committed_offsets(apache_broker.bootstrap, group, topics=[a])
        assert sum(committed.values()) < TOTAL, "the kills came too late to test anything"

        worker = start_worker(apache_broker, (a, b, dlq, group), err)
        deadline = loop.time() + 120
        while sum(committed.values()) < TOTAL:
            assert worker.poll() is None, err.read_text()[-3000:]
            assert loop.time() < deadline, f"the last worker did not finish: {committed}"
            await asyncio.sleep(0.2)
            committed = await committed_offsets(apache_broker.bootstrap, group, topics=[a])
        os.kill(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=60) == 0, err.read_text()[-3000:]
    finally:
        await probe.stop()
        if worker is not None and worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()

    bad = {i for i in range(TOTAL) if i % 997 == 0}
    outputs = Counter(r.value for r in await read_topic(apache_broker.bootstrap, b))
    dead = Counter(r.value for r in await read_topic(apache_broker.bootstrap, dlq))
    expected = Counter(b"%d" % i for i in range(TOTAL) if i not in bad)
    lost = expected - outputs
    duplicated = {v: n for v, n in outputs.items() if n > 1}
    assert (len(lost), len(duplicated)) == (0, 0), (seed, len(lost), len(duplicated))
    assert outputs == expected
    assert dead == Counter(b"%d" % i for i in bad)
    uncommitted = len(await read_topic(apache_broker.bootstrap, b, isolation="read_uncommitted"))
    # the killed workers' open transactions wrote records that read_committed never shows
    assert uncommitted > len(expected), (seed, uncommitted)
