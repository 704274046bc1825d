"""A Kafka topic with a slow sink: partitions pause when their backlog grows and resume when it
drains; an outage downstream opens a breaker, which pauses every partition until it closes.

Run: ``streamguard run examples/kafka_slow_sink.py`` (starts an embedded Tansu broker), or
against your broker: ``streamguard run examples/kafka_slow_sink.py --bootstrap HOST:PORT``.
Add ``--metrics-port 9100`` and watch ``streamguard_kafka_partition_paused`` go 1 and 0 and
``streamguard_breaker_state`` go open and closed again. Every record is processed; the group's
committed offsets reach the end of the topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamguard import from_iterable
from streamguard.breaker import BreakerConfig, CircuitBreaker
from streamguard.core import Event, default_bus
from streamguard.guard import guarded_sink
from streamguard.kafka import (
    FlowControl,
    IdempotenceUnsupportedError,
    KafkaRecord,
    KafkaSink,
    KafkaSinkConfig,
    KafkaSource,
    KafkaSourceConfig,
    PartitionPaused,
    PartitionResumed,
    PauseReasonsChanged,
)
from streamguard.retry import RetryConfig


class Warehouse:
    """A slow downstream: 2 ms per record, and down for *outage* seconds once it has stored
    *outage_after* records."""

    def __init__(self, outage_after: int, outage: float, expected: int) -> None:
        self.stored = 0
        self.all_stored = asyncio.Event()
        self._expected = expected
        self._outage_after = outage_after
        self._outage = outage
        self._down_until: float | None = None

    async def store(self, record: KafkaRecord[bytes]) -> None:
        loop = asyncio.get_running_loop()
        if self.stored >= self._outage_after and self._down_until is None:
            self._down_until = loop.time() + self._outage
        if self._down_until is not None and loop.time() < self._down_until:
            await asyncio.sleep(0.01)
            raise ConnectionError("warehouse unavailable (503)")
        await asyncio.sleep(0.002)
        self.stored += 1
        if self.stored == self._expected:
            self.all_stored.set()


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Create *topic* (nothing to do if it exists)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def fill(bootstrap: str, topic: str, records: int) -> None:
    """Produce *records* orders through a KafkaSink (idempotent where the broker allows it)."""
    sink: KafkaSink[bytes] = KafkaSink(KafkaSinkConfig(bootstrap_servers=bootstrap, topic=topic))
    try:
        await sink.start()
    except IdempotenceUnsupportedError:
        print("the broker refuses idempotent producers (Tansu does); producing without")
        sink = KafkaSink(KafkaSinkConfig(bootstrap_servers=bootstrap, topic=topic,
                                         idempotence=False))
    try:
        await from_iterable(b'{"order": %d}' % i for i in range(records)).pipe(
            sink.sink(concurrency=256)).run(name="fill")
    finally:
        await sink.aclose()


async def main(*, bootstrap: str | None = None, records: int = 20_000) -> dict[str, Any]:
    """Fill a topic, then drain it through a slow, briefly failing sink; return a summary."""
    async with contextlib.AsyncExitStack() as stack:
        if bootstrap is None:
            from streamguard.servers import tansu

            bootstrap = stack.enter_context(tansu())
            print(f"embedded Tansu broker at {bootstrap}")
        topic = f"orders-{uuid.uuid4().hex[:6]}"
        await create_topic(bootstrap, topic, partitions=4)
        await fill(bootstrap, topic, records)

        counts: Counter[str] = Counter()

        def count(event: Event) -> None:
            if isinstance(event, PartitionPaused):
                counts["paused:" + "+".join(event.reasons)] += 1
            elif isinstance(event, PauseReasonsChanged):
                counts["paused_also_for:" + "+".join(event.reasons)] += 1
            elif isinstance(event, PartitionResumed):
                counts["resumed"] += 1

        stack.callback(default_bus().subscribe(count))
        breaker = CircuitBreaker("warehouse", BreakerConfig(
            window_size=10, minimum_calls=5, open_duration=0.5))
        source: KafkaSource[bytes] = KafkaSource(KafkaSourceConfig(
            bootstrap_servers=bootstrap, topics=(topic,), group_id=f"{topic}-billing",
            flow=FlowControl(high_mark=1000, low_mark=250), max_poll_records=250,
            session_timeout=6.0, heartbeat_interval=1.0, dead_letter_idempotence=False,
        ), name="orders", pause_on=(breaker,))
        warehouse = Warehouse(outage_after=records // 3, outage=2.0, expected=records)

        async def stop_when_done() -> None:
            await warehouse.all_stored.wait()
            source.drain()

        stopper = asyncio.create_task(stop_when_done())
        try:
            await source.stream().pipe(guarded_sink(
                warehouse.store, breaker=breaker, concurrency=8, name="warehouse",
                retry=RetryConfig(attempts=3, base_delay=0.05, max_delay=0.2),
            )).run(name="kafka-slow-sink")
        finally:
            stopper.cancel()
        stats = source.statistics()
        summary = {"records": records, "stored": warehouse.stored,
                   "pauses": stats.pauses, "resumes": stats.resumes,
                   "commits": stats.commits, **dict(counts)}
        print(summary)
        return summary


if __name__ == "__main__":
    asyncio.run(main())
