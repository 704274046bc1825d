"""The gap bound on Apache Kafka (#13): one stuck record on a topic written in transactions —
each commit marker is an offset no record completes, so the completed offsets above the stuck
one fragment — holds its partition at what the commit metadata can carry, the other
partition flows meanwhile, and after a ``kill -9`` only the stuck record is delivered again.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from streamguard import operators as op
from streamguard.kafka import KafkaRecord, KafkaSource
from streamguard.kafka._offset_map import decode, encode, encoded_length, ranges_of

from ._brokers import Broker, create_topic, last_commit, produce, produce_sentinels
from ._pipelines import source_config, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 64  # completed_metadata_limit: a budget of 48 characters, any pattern within 160
P0, P1_BEFORE, P1_AFTER = 300, 200, 200
Rec = tuple[int, int]


async def produce_in_transactions(broker: Broker, topic: str, count: int) -> list[int]:
    """*count* records to partition 0 in transactions of 1 to 3 records (the first record is
    ``stuck``); return their offsets (each transaction's marker takes one more)."""
    rng = random.Random(13)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all",
                                enable_idempotence=True, transactional_id=f"{topic}-tx")
    await producer.start()
    offsets: list[int] = []
    try:
        while len(offsets) < count:
            async with producer.transaction():
                for _ in range(min(rng.randint(1, 3), count - len(offsets))):
                    value = b"stuck" if not offsets else b"%d" % len(offsets)
                    meta = await producer.send_and_wait(topic, value, partition=0)
                    offsets.append(meta.offset)
    finally:
        await producer.stop()
    return offsets


def read_log(path: Path) -> tuple[set[Rec], set[Rec], list[list[int]]]:
    """Started and done records, and the hold lines, of the worker's log."""
    started: set[Rec] = set()
    done: set[Rec] = set()
    holds: list[list[int]] = []
    for line in path.read_text().splitlines() if path.exists() else []:
        kind, *numbers = line.split()
        if kind == "H" and len(numbers) == 4:
            holds.append([int(n) for n in numbers])
        elif kind in "SD" and len(numbers) == 2 and numbers[1].isdigit():
            (started if kind == "S" else done).add((int(numbers[0]), int(numbers[1])))
    return started, done, holds


def start(broker: Broker, topic: str, group: str, log: Path) -> subprocess.Popen[bytes]:
    with log.with_suffix(".err").open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.kafka._gap_worker", broker.bootstrap, topic, group,
             str(log), str(LIMIT)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
            env={**os.environ, "PYTHONPATH": str(ROOT)})


def of(records: set[Rec], partition: int) -> set[int]:
    return {o for p, o in records if p == partition}


@pytest.mark.timeout(120)
async def test_a_stuck_record_holds_its_partition_at_the_bound_and_a_crash_replays_only_it(
    apache_broker: Broker, topic: str, group: str, tmp_path: Path
) -> None:
    await create_topic(apache_broker.bootstrap, topic, partitions=2)
    offsets = await produce_in_transactions(apache_broker, topic, P0)
    stuck = offsets[0]
    await produce(apache_broker, topic, (b"a%d" % i for i in range(P1_BEFORE)),
                  partition_of=lambda i: 1)
    log = tmp_path / "run1.log"
    worker = start(apache_broker, topic, group, log)
    try:
        # (a) The partition stops at the bound: held, and nothing more of it starts.
        await wait_for(lambda: bool(read_log(log)[2]) or worker.poll() is not None,
                       within=60, what="partition 0 to be held")
        assert worker.poll() is None, (tmp_path / "run1.err").read_text()[-3000:]
        started_at_hold = of(read_log(log)[0], 0)
        # (c) The other partition keeps flowing: records written after the hold are handled.
        await produce(apache_broker, topic, (b"b%d" % i for i in range(P1_AFTER)),
                      partition_of=lambda i: 1)
        await wait_for(lambda: len(of(read_log(log)[1], 1)) == P1_BEFORE + P1_AFTER,
                       within=30, what="partition 1 to flow while 0 is held")
        started1, done1, holds = read_log(log)
        assert of(started1, 0) == started_at_hold
        assert len(started_at_hold) < P0 // 2  # most of partition 0 waits, buffered
        ((partition, offset, span, size),) = holds
        assert (partition, offset) == (0, stuck)
        assert size <= LIMIT
        assert span == max(started_at_hold) + 1 - stuck
        # What the broker holds describes every record that completed: nothing was cut.
        done_p0 = of(done1, 0)
        assert done_p0 == started_at_hold - {stuck}

        def covered() -> bool:
            offset, ranges = commits.get(0, (-1, []))
            return offset == stuck and done_p0 <= {o for s, e in ranges for o in range(s, e)}

        commits = await last_commit(apache_broker.bootstrap, group)
        for _ in range(50):
            if covered() and commits.get(1, (0, []))[0] == P1_BEFORE + P1_AFTER:
                break
            await asyncio.sleep(0.1)
            commits = await last_commit(apache_broker.bootstrap, group)
        assert covered(), commits
    finally:
        worker.kill()
        worker.wait()

    # (b) After the crash only the stuck record is delivered again: proved once the sentinel
    # after the last record of each partition arrived (a partition is delivered in order).
    ends = await produce_sentinels(apache_broker, topic, [0, 1])
    seen: list[Rec] = []
    source: KafkaSource[bytes] = KafkaSource(source_config(
        apache_broker, topic, group, close_timeout=0.5, completed_metadata_limit=LIMIT))

    async def handle(record: KafkaRecord[bytes]) -> None:
        seen.append((record.partition, record.offset))

    pipeline = source.stream().pipe(op.sink(handle, concurrency=8)).start()
    rest = set(offsets) - done_p0
    await wait_for(lambda: set(ends.items()) <= set(seen), within=60, what="the sentinels")
    await pipeline.drain(timeout=2.0)
    assert of(set(seen), 0) == rest | {ends[0]}
    again = of(set(seen), 0) & of(started1, 0)
    assert again == {stuck}
    assert of(set(seen), 1) == {ends[1]}  # partition 1 was committed whole: nothing again
    assert source.statistics().skipped == len(done_p0)
    # Without the bound all of partition 0 would have been handed out, and its completed
    # offsets would not fit: a crash would have delivered many of them again.
    completed = ranges_of(sorted(set(offsets) - {stuck}))
    assert encoded_length(stuck, completed) > LIMIT
    kept = sum(e - s for s, e in decode(encode(stuck, completed, LIMIT), stuck))
    assert P0 - 1 - kept > len(done_p0) // 2
