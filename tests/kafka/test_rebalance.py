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


@pytest.mark.timeout(180)
async def test_a_rebalance_while_closing_commits_what_completed_before_the_partitions_go(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    # a completed every record and committed none yet (no commit is due), then its source was
    # cancelled: it is CLOSING, its close held before its last commit (here by a held wait
    # for the background commit; a commit in flight, or the step from a drain's wait to the
    # last commit, open the same window). b joins meanwhile. a's revoke must commit what completed
    # before the partitions go. Before the fix it returned at once: b started from the old
    # commit, and a's last commit was then refused (a partition no longer assigned), so every
    # record was delivered again.
    per_partition = 10
    await create_topic(kafka_broker.bootstrap, topic, partitions=2)
    await produce(kafka_broker, topic, (b"%d" % i for i in range(2 * per_partition)),
                  partition_of=lambda i: i % 2)
    seen: dict[str, list[tuple[int, int]]] = {"a": [], "b": []}
    sources: dict[str, KafkaSource[bytes]] = {}
    recorders: dict[str, Recorder] = {}

    def start(name: str, **overrides: Any) -> Any:
        bus = EventBus()
        recorders[name] = Recorder(bus)
        source: KafkaSource[bytes] = KafkaSource(
            source_config(kafka_broker, topic, group, commit_every=10_000,
                          commit_interval=600.0, **overrides), bus=bus, name=name)
        sources[name] = source

        async def store(record: KafkaRecord[bytes]) -> None:
            seen[name].append((record.partition, record.offset))

        return source.stream().pipe(op.sink(store)).start(name=name)

    a = start("a")
    await wait_for(lambda: len(seen["a"]) == 2 * per_partition, within=60,
                   what="a to complete every record")
    assert await committed_offsets(kafka_broker.bootstrap, group, topics=[topic]) == {}
    committer = sources["a"]._pump.committer  # type: ignore[union-attr]
    assert committer is not None
    hold, settle = asyncio.Event(), committer.settle

    async def held_settle() -> None:
        await hold.wait()
        await settle()

    committer.settle = held_settle  # type: ignore[method-assign]
    sources["a"].cancel()
    assert sources["a"].phase == "closing"
    b = start("b")
    await wait_for(lambda: bool(sources["b"].assignment()), within=60,
                   what="b to get a partition")
    hold.set()  # a's close goes on: its last commit, then it leaves the group
    await wait_for(lambda: sources["a"].phase == "closed", within=60, what="a to close")
    a.cancel()  # the source sent no terminal signal: end a's pipeline
    await asyncio.wait_for(a.wait(), timeout=60)
    await wait_for(lambda: len(sources["b"].assignment()) == 2, within=60,
                   what="b to take over both partitions")
    # b consumes in offset order: once it delivered these, it delivered anything before them.
    await produce(kafka_broker, topic, [b"late-0", b"late-1"], partition_of=lambda i: i)
    await wait_for(lambda: {(0, per_partition), (1, per_partition)} <= set(seen["b"]),
                   within=60, what="b to deliver the late records")
    assert (await b.drain(timeout=30)).outcome == "drained"

    again = sorted(set(seen["b"]) & set(seen["a"]))
    assert not again, f"delivered again: {again}"
    assert sorted(seen["b"]) == [(0, per_partition), (1, per_partition)]
    revoked = recorders["a"].of(PartitionsRevoked)
    assert {p for e in revoked for _, p in e.partitions} == {0, 1}
    assert await committed_offsets(kafka_broker.bootstrap, group, topics=[topic]) == {
        TopicPartition(topic, p): per_partition + 1 for p in range(2)}
