"""A second consumer joins mid-stream and later leaves: nothing is lost, and the pause state
is right on both sides after every rebalance (aiokafka clears pause flags on assignment)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from streamguard import operators as op
from streamguard.core import EventBus
from streamguard.kafka import (
    KafkaRecord,
    KafkaSource,
    PartitionsAssigned,
    PartitionsRevoked,
    TopicPartition,
)

from ._brokers import Broker, committed_offsets, create_topic, produce
from ._pipelines import Recorder, source_config, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOTAL = 12_000


@pytest.mark.timeout(240)
async def test_join_and_leave_lose_nothing_and_keep_pause_state(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    await create_topic(kafka_broker.bootstrap, topic, partitions=4)
    await produce(kafka_broker, topic, (b"%d" % i for i in range(TOTAL)),
                  partition_of=lambda i: i % 4)
    held = TopicPartition(topic, 3)
    seen: Counter[tuple[int, int]] = Counter()
    problems: list[str] = []
    sources: dict[str, KafkaSource[bytes]] = {}
    recorders: dict[str, Recorder] = {}

    def start(name: str) -> asyncio.Task[Any]:
        bus = EventBus()
        recorders[name] = Recorder(bus)
        source: KafkaSource[bytes] = KafkaSource(
            source_config(kafka_broker, topic, group, revoke_timeout=5.0), bus=bus, name=name)
        sources[name] = source

        def on_assigned(event: Any) -> None:
            if not isinstance(event, PartitionsAssigned):
                return
            wanted = {tp for tp, reasons in source.pause_reasons().items() if reasons}
            if source.paused() != wanted:
                problems.append(f"{name}: paused {source.paused()} but wanted {wanted}")
            if (held in source.assignment()) != (held in source.paused()) and name == "a":
                problems.append(f"{name}: user pause of {held} lost by the rebalance")

        bus.subscribe(on_assigned)

        async def store(batch: list[KafkaRecord[bytes]]) -> None:
            for record in batch:
                seen[(record.partition, record.offset)] += 1
            await asyncio.sleep(0.01)

        return asyncio.create_task(
            source.stream().pipe(op.batch(50, timeout=0.05), op.sink(store)).run(name=name))

    a_task = start("a")
    sources["a"].pause([(topic, 3)])  # by hand, before the first assignment even
    await wait_for(lambda: len(seen) >= 1500, within=60, what="a's first records", task=a_task)

    b_task = start("b")
    await wait_for(lambda: len(recorders["b"].of(PartitionsAssigned)) >= 1
                   and sources["b"].assignment() != frozenset(), within=60,
                   what="b to get partitions", task=b_task)
    await wait_for(lambda: len(sources["a"].assignment()) == 2, within=60,
                   what="a to give up partitions", task=a_task)
    before = len(seen)
    await wait_for(lambda: len(seen) >= before + 1500, within=60, what="progress with two",
                   task=b_task)

    sources["b"].drain()
    await b_task
    await wait_for(lambda: len(sources["a"].assignment()) == 4, within=60,
                   what="a to get every partition back", task=a_task)
    assert held in sources["a"].paused()
    sources["a"].resume([(topic, 3)])
    await wait_for(lambda: len(seen) == TOTAL, within=120, what="every record", task=a_task)
    sources["a"].drain()
    await a_task

    assert not problems, problems
    assert set(seen) == {(i % 4, i // 4) for i in range(TOTAL)}
    assert len(recorders["a"].of(PartitionsAssigned)) >= 3
    assert recorders["a"].of(PartitionsRevoked)
    assert await committed_offsets(kafka_broker.bootstrap, group, topics=[topic]) == {
        TopicPartition(topic, p): TOTAL // 4 for p in range(4)}
