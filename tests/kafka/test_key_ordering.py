"""Key-ordered parallelism on Apache Kafka (#13): records of one key are processed in order,
one at a time, while records of different keys run concurrently — more at once than there
are partitions — under steady consumption, through a rebalance (a second consumer joins) and
through a kill -9 of the worker. Values are ``b"KEY SEQ"``: SEQ numbers the records of KEY,
so the checker reads every key's sequence straight off what each run processed."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from streamguard import operators as op
from streamguard.kafka import KafkaRecord, KafkaSource

from ._brokers import Broker, committed_offsets, create_topic, produce
from ._pipelines import source_config, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
KEYS = 200
PARTITIONS = 4


def keyed_values(total: int) -> tuple[list[bytes], list[bytes]]:
    """*total* values ``KEY SEQ`` over KEYS keys in a shuffled interleaving, and their keys."""
    rng = random.Random(13)
    seq: Counter[int] = Counter()
    values, keys = [], []
    for _ in range(total):
        k = rng.randrange(KEYS)
        values.append(b"k%d %d" % (k, seq[k]))
        keys.append(b"k%d" % k)
        seq[k] += 1
    return values, keys


def order_problems(run: list[tuple[str, int]]) -> list[str]:
    """The checker: within one run, every key's sequence numbers strictly increase and are
    contiguous (a run starts a key where the committed offsets put it and goes on one by
    one)."""
    last: dict[str, int] = {}
    problems = []
    for key, seq in run:
        if key in last and seq != last[key] + 1:
            problems.append(f"{key}: {seq} after {last[key]}")
        last[key] = seq
    return problems


class KeyedRun:
    """One consumer's pipeline: processes with key ordering and records what it saw."""

    def __init__(self, pace: float = 0.004) -> None:
        self.pace = pace  # each call sleeps up to this long (uniform)
        self.started: list[tuple[str, int]] = []
        self.active_keys: set[str] = set()
        self.overlaps = 0
        self.active = 0
        self.peak_active = 0

    async def handle(self, record: KafkaRecord[bytes]) -> None:
        key, seq = record.value.decode().split()
        if key in self.active_keys:
            self.overlaps += 1
        self.active_keys.add(key)
        self.started.append((key, int(seq)))
        self.active += 1
        self.peak_active = max(self.peak_active, self.active)
        try:
            await asyncio.sleep(random.random() * self.pace)
        finally:
            self.active -= 1
            self.active_keys.discard(key)


def expected_pairs(values: list[bytes]) -> set[tuple[str, int]]:
    return {(k.decode(), int(s)) for k, s in (v.split() for v in values)}


@pytest.mark.timeout(180)
async def test_per_key_order_under_concurrency(
    apache_broker: Broker, topic: str, group: str
) -> None:
    total = 8_000
    await create_topic(apache_broker.bootstrap, topic, partitions=PARTITIONS)
    values, keys = keyed_values(total)
    await produce(apache_broker, topic, values, key_of=lambda i: keys[i])
    run = KeyedRun()
    source: KafkaSource[bytes] = KafkaSource(source_config(apache_broker, topic, group))
    task = asyncio.create_task(source.stream().pipe(
        op.sink(run.handle, concurrency=32, key=lambda r: r.key)).run())
    await wait_for(lambda: len(run.started) >= total, within=120, what="every record",
                   task=task)
    source.drain()
    await task
    assert Counter(run.started) == Counter(expected_pairs(values))  # each exactly once
    assert order_problems(run.started) == []
    assert run.overlaps == 0                      # one record per key at a time
    assert PARTITIONS < run.peak_active <= 32     # beyond the partition count, within bound
    committed = await committed_offsets(apache_broker.bootstrap, group, topics=[topic])
    assert sum(committed.values()) == total       # contiguous commits reached the end


@pytest.mark.timeout(240)
async def test_per_key_order_through_a_rebalance(
    apache_broker: Broker, topic: str, group: str
) -> None:
    # Slow enough (10 ms per call on average, 32 at once: ~3,000 records/s) that most of
    # the topic is left when the second consumer has joined.
    total = 30_000
    await create_topic(apache_broker.bootstrap, topic, partitions=PARTITIONS)
    values, keys = keyed_values(total)
    await produce(apache_broker, topic, values, key_of=lambda i: keys[i])
    runs: dict[str, KeyedRun] = {}
    sources: dict[str, KafkaSource[bytes]] = {}

    def start(name: str) -> asyncio.Task[Any]:
        runs[name] = KeyedRun(pace=0.020)
        sources[name] = KafkaSource(
            source_config(apache_broker, topic, group, revoke_timeout=5.0), name=name)
        return asyncio.create_task(sources[name].stream().pipe(
            op.sink(runs[name].handle, concurrency=32, key=lambda r: r.key)).run(name=name))

    def seen() -> set[tuple[str, int]]:
        return set(runs["a"].started) | set(runs.get("b", KeyedRun()).started)

    a_task = start("a")
    await wait_for(lambda: len(runs["a"].started) >= 2_000, within=60, what="a's first",
                   task=a_task)
    b_task = start("b")
    await wait_for(lambda: len(sources["a"].assignment()) == 2
                   and len(sources["b"].assignment()) == 2, within=60,
                   what="the partitions to be shared", task=b_task)
    await wait_for(lambda: len(runs["b"].started) >= 1_000, within=60,
                   what="b to process records", task=b_task)
    await wait_for(lambda: len(seen()) >= total, within=120, what="every record", task=a_task)
    for s in sources.values():
        s.drain()
    await asyncio.gather(a_task, b_task)
    assert seen() == expected_pairs(values)            # 0 lost
    for name, run in runs.items():
        assert order_problems(run.started) == [], name  # per-key order within each run
        assert run.overlaps == 0, name


def start_worker(broker: Broker, topic: str, group: str, out: Path) -> subprocess.Popen[bytes]:
    session = broker.consumer_options.get("session_timeout_ms", 6000) / 1000
    with out.with_suffix(".err").open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.kafka._keyed_worker", broker.bootstrap, topic, group,
             str(out), str(session)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )


def processed(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4:  # a line cut by the kill is not a processed record
            rows.append((parts[0], int(parts[1])))
    return rows


@pytest.mark.timeout(300)
async def test_per_key_order_through_a_kill_9(
    apache_broker: Broker, topic: str, group: str, tmp_path: Path
) -> None:
    total = 16_000
    await create_topic(apache_broker.bootstrap, topic, partitions=PARTITIONS)
    values, keys = keyed_values(total)
    await produce(apache_broker, topic, values, key_of=lambda i: keys[i])
    first, second = tmp_path / "first.log", tmp_path / "second.log"

    def errors(out: Path) -> str:
        return out.with_suffix(".err").read_text()[-3000:]

    worker = start_worker(apache_broker, topic, group, first)
    try:
        await wait_for(lambda: len(processed(first)) >= total // 4 or worker.poll() is not None,
                       within=120, what="the first worker's progress")
        assert worker.poll() is None, errors(first)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    run1 = processed(first)
    assert len(run1) < total, "the crash came too late to test anything"

    worker = start_worker(apache_broker, topic, group, second)
    try:
        await wait_for(lambda: len(set(run1) | set(processed(second))) >= total
                       or worker.poll() is not None, within=180, what="the restart to finish")
        assert worker.poll() is None, errors(second)
        os.kill(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=60) == 0, errors(second)
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
    run2 = processed(second)
    assert set(run1) | set(run2) == expected_pairs(values)  # 0 lost
    assert order_problems(run1) == []                       # per-key order in each run
    assert order_problems(run2) == []
    by_key: dict[str, list[int]] = defaultdict(list)
    for key, seq in run2:
        by_key[key].append(seq)
    # The restart resumed every key at or before where the first run stopped (replays only).
    done1: dict[str, int] = {}
    for key, seq in run1:
        done1[key] = max(done1.get(key, -1), seq)
    assert all(seqs[0] <= done1.get(key, -1) + 1 for key, seqs in by_key.items())
