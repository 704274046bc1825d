"""Kafka exactly-once suite: the transactional pipeline against the same pipeline at least
once (#13).

``python benchmarks/run.py kafka_eos`` starts Apache Kafka (KRaft, jars from
``scripts/fetch_kafka.sh``), writes 50,000 records of 6 bytes into topic A (4 partitions), and
measures with the shared harness (contenders interleaved, order rotated, one warm-up, 5
rounds, medians with min/max; each round a fresh consumer group reading A from the start and
writing to topic B, 4 partitions):

* ``exactly_once``: ``TransactionalPipeline`` with its defaults (``guarantee="exactly_once"``,
  ``batch_records=1000``, ``batch_interval=0.1``): per input partition, the batch's output
  records and its offset in one Kafka transaction of that partition's producer;
* ``at_least_once``: the same pipeline with ``guarantee="at_least_once"``: one idempotent
  ``acks=all`` producer, a batch's outputs delivered, then its offset committed.

The transform copies the value (``lambda record: record.value``). The figure is input
records/s from the first record consumed to the moment every record's batch is committed.
Ratio ``exactly_once_vs_at_least_once`` = exactly_once ÷ at_least_once (medians).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from contextlib import ExitStack
from typing import Any

from _harness import Contender, Spread, compare, ratio, result

RECORDS = 50_000
PARTITIONS = 4
ROUNDS = 5


async def _produce(bootstrap: str, topics: tuple[str, str]) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in topics])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20)
    await producer.start()
    try:
        futures = [await producer.send(topics[0], b"%06d" % i, partition=i % PARTITIONS)
                   for i in range(RECORDS)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _pipeline(bootstrap: str, topics: tuple[str, str], guarantee: str) -> float:
    from streamguard.kafka import TransactionalConfig, TransactionalPipeline

    pipeline: TransactionalPipeline[bytes] = TransactionalPipeline(TransactionalConfig(
        bootstrap_servers=bootstrap, topics=(topics[0],), output_topic=topics[1],
        group_id=f"bench-eos-{uuid.uuid4().hex[:8]}", guarantee=guarantee,  # type: ignore[arg-type]
    ), lambda record: record.value)
    task = asyncio.create_task(pipeline.run())
    first = 0.0
    while pipeline.statistics().committed < RECORDS:
        if task.done():
            task.result()
            raise AssertionError(f"the pipeline ended early: {pipeline.statistics()}")
        if not first and pipeline.statistics().consumed:
            first = time.perf_counter()
        await asyncio.sleep(0.005)
    last = time.perf_counter()
    pipeline.drain()
    stats = await task
    assert stats.committed == RECORDS, stats
    assert stats.aborts == 0, stats
    return RECORDS / (last - first)


def run() -> dict[str, Any]:
    """Measure both guarantees on Apache Kafka; return figures, spreads and the ratio."""
    from streamguard.servers import apache_kafka

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    with ExitStack() as stack:
        bootstrap = stack.enter_context(apache_kafka())
        name = f"bench-eos-{uuid.uuid4().hex[:8]}"
        topics = (name, name + ".out")
        asyncio.run(_produce(bootstrap, topics))
        defaults = ("TransactionalPipeline(transform=lambda record: record.value), defaults "
                    "(batch_records=1000, batch_interval=0.1)")
        spreads = compare([
            Contender("exactly_once",
                      lambda: _pipeline(bootstrap, topics, "exactly_once"),
                      config=f"{defaults}, guarantee='exactly_once': one transactional "
                             "producer per input partition, outputs + offset per batch in "
                             "one transaction"),
            Contender("at_least_once",
                      lambda: _pipeline(bootstrap, topics, "at_least_once"),
                      config=f"{defaults}, guarantee='at_least_once': one idempotent "
                             "acks=all producer; outputs delivered, then the offset "
                             "committed, per batch"),
        ], rounds=ROUNDS, warmup=1)
    figures: dict[str, Spread] = {f"{k}_records_per_s": v for k, v in spreads.items()}
    ratios = {"exactly_once_vs_at_least_once":
              ratio(spreads["exactly_once"], spreads["at_least_once"])}
    return result(figures, ratios, extra={
        "records": RECORDS, "partitions": PARTITIONS, "value_bytes": 6,
    })
