"""Kafka suite: consuming a topic with JSON values, on Apache Kafka (and Tansu beside it).

``python benchmarks/run.py kafka`` starts Apache Kafka 4.1.1 (KRaft, jars from
``scripts/fetch_kafka.sh``) and Tansu, writes 500,000 JSON values of 100 bytes into 4
partitions of each, and measures with the shared harness (contenders interleaved, order
rotated, one warm-up, 5 rounds, medians with min/max; each round a fresh consumer group):

* **consume + JSON decode**, messages/s from the first record handled to the last:
  - ``streamguard``: ``KafkaSource`` with its defaults, ``codec="json"`` → ``op.sink``;
  - ``raw_same_cadence``: an aiokafka ``getmany`` loop + ``orjson.loads`` that commits as
    often as streamguard's defaults do (``commit_every`` records or ``commit_interval``
    seconds, read from ``KafkaSourceConfig``), awaiting each commit as such loops do;
  - ``raw_best``: the same loop committing once per ``getmany`` batch (a batch holds all that
    was fetched: the fewest commits);
  - ``quixstreams``: ``Application`` + ``app.dataframe(topic)`` + ``sdf.update``, defaults
    (commit every 5 s), in a child process;
  - ``faust``: a faust-streaming agent (``store="memory://"``, web off, JSON value
    serializer), defaults, in a child process. Faust reads 100,000 records per round, not
    500,000 (at ~10 k/s the full topic would take minutes per round); its figure is the same
    first-to-last rate.
  Ratios: ``consume_vs_raw_aiokafka`` (÷ the faster median of the two raw loops: which
  cadence wins varies from run to run, and the goal is against the raw loop at its best),
  ``consume_vs_raw_same_cadence``,
  ``consume_vs_quixstreams``, ``consume_vs_faust``; on Tansu ``*_tansu`` for the raw loops.
* **peak memory under a 10× overload** — a worker ten times slower than the raw loop reads,
  fed for 6 s by (a) a naive consumer that queues whatever it fetched in an unbounded
  ``asyncio.Queue`` and (b) ``KafkaSource`` with its default flow control; each in a fresh
  process, peak RSS (``VmHWM``), interleaved, one warm-up and 5 rounds (a round takes a
  fresh process for 6 s). Ratio ``peak_rss_vs_naive`` = streamguard ÷ naive, of medians.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from _harness import Contender, Spread, compare, ratio, result

ROOT = Path(__file__).resolve().parent.parent
RECORDS = 500_000
FAUST_RECORDS = 100_000
PARTITIONS = 4
VALUE_SIZE = 100
ROUNDS = 5
OVERLOAD_SECONDS = 6.0
MEMORY_ROUNDS = 5
BATCH = 100


def value(i: int) -> bytes:
    """A JSON object of exactly VALUE_SIZE bytes."""
    head = b'{"id":%d,"user":"u%d","amount":%d.25,"pad":"' % (i, i % 1000, i % 977)
    return head + b"x" * (VALUE_SIZE - len(head) - 2) + b'"}'


# ------------------------------------------------------------------ broker and data
async def _produce(bootstrap: str, topic: str) -> None:
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
    try:
        futures = []
        i = 0
        for partition in range(PARTITIONS):
            for _ in range(RECORDS // PARTITIONS):
                futures.append(await producer.send(topic, value(i), partition=partition))
                i += 1
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


class _Clock:
    """Counts handled records and notes when the first and the *total*-th were handled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.n = 0
        self.first = 0.0
        self.last = 0.0

    def tick(self) -> None:
        n = self.n = self.n + 1
        if n == 1:
            self.first = time.perf_counter()
        elif n == self.total:
            self.last = time.perf_counter()

    def rate(self) -> float:
        return (self.total - 1) / (self.last - self.first)


def _group(kind: str) -> str:
    return f"bench-{kind}-{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------ in-process contenders
def _source_defaults() -> tuple[int, float]:
    from streamguard.kafka import KafkaSourceConfig

    defaults: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(KafkaSourceConfig)}
    return int(defaults["commit_every"]), float(defaults["commit_interval"])


async def _streamguard(bootstrap: str, topic: str) -> float:
    from streamguard import operators as op
    from streamguard.core import EventBus
    from streamguard.kafka import KafkaRecord, KafkaSource, KafkaSourceConfig

    clock = _Clock(RECORDS)
    total = 0

    def handle(record: KafkaRecord[dict[str, Any]]) -> None:
        nonlocal total
        total += record.value["id"] >= 0  # touch the decoded value
        clock.tick()

    source: KafkaSource[dict[str, Any]] = KafkaSource(KafkaSourceConfig(
        bootstrap_servers=bootstrap, topics=(topic,), group_id=_group("sg"),
    ), codec="json", bus=EventBus())
    task = asyncio.create_task(source.stream().pipe(op.sink(handle)).run())
    while clock.n < RECORDS:
        if task.done():
            task.result()
            raise AssertionError(f"the source ended after {clock.n} records")
        await asyncio.sleep(0.05)  # a coarse watch: the handler itself keeps the time
    source.drain()
    await task
    assert total == RECORDS
    return clock.rate()


async def _raw(bootstrap: str, topic: str, *, every: int | None, interval: float | None) -> float:
    """The raw loop; ``every=None``: commit once per getmany batch."""
    import orjson
    from aiokafka import AIOKafkaConsumer

    clock = _Clock(RECORDS)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=_group("raw"),
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        total = since = 0
        offsets: dict[Any, int] = {}
        last_commit = time.perf_counter()
        while clock.n < RECORDS:
            batch = await consumer.getmany(timeout_ms=100)
            for tp, records in batch.items():
                for record in records:
                    total += orjson.loads(record.value)["id"] >= 0
                    clock.tick()
                offsets[tp] = records[-1].offset + 1
                since += len(records)
            now = time.perf_counter()
            if since and (every is None or since >= every
                          or (interval is not None and now - last_commit >= interval)):
                await consumer.commit(dict(offsets))
                since, last_commit = 0, now
        await consumer.commit(dict(offsets))
        assert total == RECORDS
        return clock.rate()
    finally:
        await consumer.stop()


# ------------------------------------------------------------------ peers in child processes
def _quix_child(bootstrap: str, topic: str, total: int) -> float:
    from quixstreams import Application

    clock = _Clock(total)
    app = Application(broker_address=bootstrap, consumer_group=_group("quix"),
                      auto_offset_reset="earliest", loglevel="ERROR")
    sdf = app.dataframe(app.topic(topic, value_deserializer="json"))

    def count(row: dict[str, Any]) -> None:
        clock.tick()
        if clock.n == total:
            app.stop()

    sdf = sdf.update(count)
    app.run()
    return clock.rate()


def _faust_child(bootstrap: str, topic: str, total: int) -> float:
    import faust

    clock = _Clock(total)
    app = faust.App(_group("faust"), broker=f"kafka://{bootstrap}", store="memory://",
                    web_enabled=False, consumer_auto_offset_reset="earliest",
                    topic_partitions=PARTITIONS)
    source = app.topic(topic, value_serializer="json")

    @app.agent(source)
    async def count(stream: Any) -> None:
        async for _ in stream:
            clock.tick()
            if clock.n == total:
                # Faust sends sys.stdout to its logger: write to the real stdout.
                os.write(1, (json.dumps({"msgs_per_s": clock.rate()}) + "\n").encode())
                os._exit(0)  # the figure is out; faust's own shutdown takes seconds

    faust.Worker(app, loglevel="ERROR", quiet=True).execute_from_commandline()
    raise AssertionError("the faust worker stopped before reading every record")


def _peer(kind: str, bootstrap: str, topic: str) -> float:
    total = FAUST_RECORDS if kind == "faust" else RECORDS
    out = subprocess.run(
        [sys.executable, __file__, "--peer", kind, bootstrap, topic, str(total)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    # Faust writes terminal codes to stdout too: take the JSON wherever the line has it.
    lines = [ln[ln.index('{"msgs_per_s"'):] for ln in out.stdout.splitlines()
             if '{"msgs_per_s"' in ln]
    if not lines:
        raise RuntimeError(f"{kind} child failed ({out.returncode}): {out.stderr[-2000:]}")
    rate: float = json.loads(lines[-1])["msgs_per_s"]
    return rate


# ------------------------------------------------------------------ memory under overload
async def _paced_worker(take: Callable[[], Any], pace: float, stop_at: float) -> None:
    while time.perf_counter() < stop_at:
        await take()
        await asyncio.sleep(pace)


async def _naive(bootstrap: str, topic: str, pace: float) -> int:
    from aiokafka import AIOKafkaConsumer

    queue: asyncio.Queue[Any] = asyncio.Queue()  # unbounded: the naive part
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=_group("naive"),
                                auto_offset_reset="earliest", enable_auto_commit=False)
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
    from streamguard.core import EventBus
    from streamguard.kafka import KafkaSource, KafkaSourceConfig

    source: KafkaSource[bytes] = KafkaSource(KafkaSourceConfig(
        bootstrap_servers=bootstrap, topics=(topic,), group_id=_group("sg-mem"),
    ), bus=EventBus())
    done = 0

    async def work(batch: list[Any]) -> None:
        nonlocal done
        done += len(batch)
        await asyncio.sleep(pace)

    task = asyncio.create_task(source.stream().pipe(op.batch(BATCH), op.sink(work)).run())
    await asyncio.wait([task], timeout=OVERLOAD_SECONDS)
    source.drain()
    await task
    return done


def _peak_rss_mib() -> float:
    """This process image's peak RSS. Not ``ru_maxrss``: Linux carries it across ``exec``
    from the forking parent (this suite's own process, with the produced data in it), while
    ``VmHWM`` starts anew with the new image."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _memories(bootstrap: str, topic: str,
              pace: float) -> tuple[dict[str, Spread], dict[str, list[int]]]:
    """Peak RSS of the naive consumer and of the source, each round in a fresh process;
    also how many records each processed (the paced worker's share, for context)."""
    processed: dict[str, list[int]] = {"naive": [], "streamguard": []}

    def measure(kind: str) -> Callable[[], float]:
        def once() -> float:
            figures = _memory(kind, bootstrap, topic, pace)
            processed[kind].append(int(figures["processed"]))
            return figures["peak_rss_mib"]
        return once

    spreads = compare([
        Contender("naive", measure("naive"),
                  config="AIOKafkaConsumer getmany loop → unbounded asyncio.Queue → paced "
                         "worker; fresh process; VmHWM"),
        Contender("streamguard", measure("streamguard"),
                  config="KafkaSource(KafkaSourceConfig(bootstrap_servers, topics, group_id)) "
                         "defaults → op.batch(100) → op.sink(paced worker); fresh process; "
                         "VmHWM"),
    ], rounds=MEMORY_ROUNDS, warmup=1)
    return spreads, processed


def _memory(kind: str, bootstrap: str, topic: str, pace: float) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--memory", kind, bootstrap, topic, repr(pace)],
        capture_output=True, text=True, check=True, cwd=ROOT, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


# ------------------------------------------------------------------ the suite
def _consume(bootstrap: str, topic: str, *, peers: bool) -> dict[str, Spread]:
    every, interval = _source_defaults()
    contenders = [
        Contender("streamguard", lambda: _streamguard(bootstrap, topic),
                  config="KafkaSource(KafkaSourceConfig(bootstrap_servers, topics, group_id), "
                         f"codec='json') → op.sink(fn); defaults (commit_every={every}, "
                         f"commit_interval={interval} s)"),
        Contender("raw_same_cadence",
                  lambda: _raw(bootstrap, topic, every=every, interval=interval),
                  config=f"AIOKafkaConsumer(enable_auto_commit=False) getmany loop + orjson.loads; "
                         f"await commit every {every} records or {interval} s"),
        Contender("raw_best", lambda: _raw(bootstrap, topic, every=None, interval=None),
                  config="AIOKafkaConsumer(enable_auto_commit=False) getmany loop + "
                         "orjson.loads; await commit once per getmany batch"),
    ]
    if peers:
        contenders += [
            Contender("quixstreams", lambda: _peer("quix", bootstrap, topic),
                      config="quixstreams Application(auto_offset_reset='earliest') + "
                             "app.dataframe(app.topic(value_deserializer='json')).update(fn); "
                             "defaults (commit_interval=5 s); child process"),
            Contender("faust", lambda: _peer("faust", bootstrap, topic),
                      config="faust-streaming App(store='memory://', web_enabled=False), "
                             "agent over app.topic(value_serializer='json'); defaults; "
                             f"child process; first {FAUST_RECORDS:,} records"),
        ]
    return compare(contenders, rounds=ROUNDS, warmup=1)


def _servers(stack: ExitStack) -> tuple[str, str]:
    from streamguard.servers import apache_kafka, tansu

    return stack.enter_context(apache_kafka()), stack.enter_context(tansu())


def run() -> dict[str, Any]:
    """Measure everything on Apache Kafka and Tansu; return figures, spreads and ratios."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    with ExitStack() as stack:
        apache, tansu_bootstrap = _servers(stack)
        topic = f"bench-{uuid.uuid4().hex[:8]}"
        asyncio.run(_produce(apache, topic))
        asyncio.run(_produce(tansu_bootstrap, topic))
        on_apache = _consume(apache, topic, peers=True)
        on_tansu = _consume(tansu_bootstrap, topic, peers=False)
        # Ten times slower than the raw loop reads: one batch of BATCH per `pace` seconds.
        pace = BATCH / (on_apache["raw_best"].median / 10)
        memory, processed = _memories(apache, topic, pace)
    figures: dict[str, Spread] = {f"{k}_msgs_per_s": v for k, v in on_apache.items()}
    figures.update({f"{k}_msgs_per_s_tansu": v for k, v in on_tansu.items()})
    figures.update({f"{k}_peak_rss_mib": v for k, v in memory.items()})
    sg, sg_t = on_apache["streamguard"], on_tansu["streamguard"]

    def fastest_raw(on: dict[str, Spread]) -> Spread:
        return max(on["raw_best"], on["raw_same_cadence"], key=lambda s: s.median)

    ratios = {
        "consume_vs_raw_aiokafka": ratio(sg, fastest_raw(on_apache)),
        "consume_vs_raw_same_cadence": ratio(sg, on_apache["raw_same_cadence"]),
        "consume_vs_quixstreams": ratio(sg, on_apache["quixstreams"]),
        "consume_vs_faust": ratio(sg, on_apache["faust"]),
        "consume_vs_raw_aiokafka_tansu": ratio(sg_t, fastest_raw(on_tansu)),
        "consume_vs_raw_same_cadence_tansu": ratio(sg_t, on_tansu["raw_same_cadence"]),
        "peak_rss_vs_naive": ratio(memory["streamguard"], memory["naive"]),
    }
    return result(figures, ratios, extra={
        "records": RECORDS, "value_bytes": VALUE_SIZE, "partitions": PARTITIONS,
        "overload_processing_msgs_per_s": round(BATCH / pace, 1),
        # [1:]: the warm-up round is not a round
        "naive_processed": round(statistics.median(processed["naive"][1:])),
        "streamguard_processed": round(statistics.median(processed["streamguard"][1:])),
    })


def _main(argv: list[str]) -> None:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    if argv[0] == "--memory":
        kind, bootstrap, topic, pace = argv[1], argv[2], argv[3], float(argv[4])
        processed = asyncio.run((_naive if kind == "naive" else _bounded)(bootstrap, topic, pace))
        print(json.dumps({"peak_rss_mib": _peak_rss_mib(), "processed": processed}))
    elif argv[0] == "--peer":
        kind, bootstrap, topic, total = argv[1], argv[2], argv[3], int(argv[4])
        rate = (_quix_child if kind == "quix" else _faust_child)(bootstrap, topic, total)
        print(json.dumps({"msgs_per_s": rate}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        _main(sys.argv[1:])
    else:
        print(json.dumps(run(), indent=2))
