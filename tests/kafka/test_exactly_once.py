"""The exactly-once pipeline on Apache Kafka (#13): outputs, dead letters and input offsets in
one transaction per batch; a failing batch aborts and rewinds; a second worker joining takes
partitions over without a duplicate; Tansu, which has no transactions, is refused at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from aiokafka.structs import TopicPartition

from streamguard.core import EventBus
from streamguard.kafka import (
    HEADER_ERROR_TYPE,
    HEADER_OFFSET,
    BatchAborted,
    BatchCommitted,
    OutgoingRecord,
    RecordFailedError,
    TransactionalPipeline,
    TransactionsUnsupportedError,
)

from ._brokers import Broker, committed_offsets, create_topic, produce
from ._pipelines import wait_for
from ._transactional_helpers import config, numbered_topic, read_topic, run_until

pytestmark = [pytest.mark.integration]


@pytest.fixture
def tansu(request: pytest.FixtureRequest) -> Broker:
    """The session's Tansu broker (the exactly-once tests otherwise run on Apache Kafka)."""
    broker: Broker = request.getfixturevalue("_tansu_server")
    return broker


async def test_copies_a_topic_exactly_once(apache_broker: Broker, topic: str, group: str) -> None:
    out = await numbered_topic(apache_broker, topic, 4000, partitions=4, out_partitions=2)

    def transform(record: Any) -> Any:
        n = int(record.value)
        if n % 10 == 0:
            return None  # filtered: its offset is committed all the same
        if n % 10 == 1:  # fan out: two records
            return [b"%d" % n, OutgoingRecord(value=b"%d+" % n, key=b"k")]
        return record.value

    bus, events = EventBus(), list[object]()
    bus.subscribe(events.append)
    pipeline: TransactionalPipeline[bytes] = TransactionalPipeline(
        config(apache_broker, topic, group, out), transform, bus=bus)
    stats = await run_until(pipeline, lambda: pipeline.statistics().consumed >= 4000)
    assert stats.batches >= 4
    assert stats.aborts == 0
    commits = [e for e in events if isinstance(e, BatchCommitted)]
    assert sum(e.records for e in commits) == stats.committed == 4000
    assert {(e.partition, e.next_offset) for e in commits} >= {(p, 1000) for p in range(4)}
    values = Counter(r.value for r in await read_topic(apache_broker.bootstrap, out))
    expected = Counter(b"%d" % i for i in range(4000) if i % 10) + Counter(
        b"%d+" % i for i in range(4000) if i % 10 == 1)
    assert values == expected
    committed = await committed_offsets(apache_broker.bootstrap, group, topics=[topic])
    assert committed == {TopicPartition(topic, p): 1000 for p in range(4)}


async def test_a_failing_transform_aborts_its_batch_and_a_restart_rewinds(
    apache_broker: Broker, topic: str, group: str
) -> None:
    out = await numbered_topic(apache_broker, topic, 1000)

    def broken(record: Any) -> Any:
        if int(record.value) == 450:
            raise ValueError("cannot enrich 450")
        return record.value

    # batches of 100 by count (the interval never fires first): 400..499 fails at 450
    cfg = config(apache_broker, topic, group, out, batch_records=100, batch_interval=30.0)
    bus, events = EventBus(), list[object]()
    bus.subscribe(events.append)
    failing: TransactionalPipeline[bytes] = TransactionalPipeline(cfg, broken, bus=bus)
    with pytest.raises(RecordFailedError, match=r"@450 failed with ValueError: cannot enrich"):
        await asyncio.wait_for(failing.run(), 20)
    assert failing.statistics().aborts == 1
    aborted = [e for e in events if isinstance(e, BatchAborted)]
    assert [(e.first_offset, e.records, e.outcome) for e in aborted] == [(400, 100, "failed")]
    committed = await committed_offsets(apache_broker.bootstrap, group, topics=[topic])
    assert committed == {TopicPartition(topic, 0): 400}
    # 400..449 were written to the log, then aborted: read_committed does not show them
    seen = [r.value for r in await read_topic(apache_broker.bootstrap, out,
                                              isolation="read_uncommitted")]
    assert b"449" in seen
    assert [r.value for r in await read_topic(apache_broker.bootstrap, out)] == [
        b"%d" % i for i in range(400)]

    fixed: TransactionalPipeline[bytes] = TransactionalPipeline(cfg, lambda r: r.value)
    await run_until(fixed, lambda: fixed.statistics().consumed >= 600)
    values = [r.value for r in await read_topic(apache_broker.bootstrap, out)]
    assert values == [b"%d" % i for i in range(1000)]  # in order, each once


async def test_dead_letters_are_written_in_the_transaction(
    apache_broker: Broker, topic: str, group: str
) -> None:
    out, dlq = topic + ".out", topic + ".dlq"
    for name in (topic, out, dlq):
        await create_topic(apache_broker.bootstrap, name, partitions=2)
    values = [b"%d" % i if i % 50 else b"not json %d" % i for i in range(2000)]
    await produce(apache_broker, topic, values, partition_of=lambda i: i % 2)

    def transform(record: Any) -> Any:
        if record.value % 7 == 0:
            raise KeyError(record.value)
        return record.value * 2

    pipeline: TransactionalPipeline[int] = TransactionalPipeline(
        config(apache_broker, topic, group, out, dead_letter_topic=dlq), transform,
        codec="json")
    stats = await run_until(pipeline, lambda: pipeline.statistics().consumed >= 2000)
    bad = {i for i in range(2000) if i % 50 == 0 or i % 7 == 0}
    assert stats.dead_lettered == len(bad)
    dead = await read_topic(apache_broker.bootstrap, dlq)
    assert sorted(r.value for r in dead) == sorted(values[i] for i in bad)  # raw bytes
    kinds = {dict(r.headers)[HEADER_ERROR_TYPE].split(b".")[-1] for r in dead}
    assert kinds == {b"KeyError", b"JSONDecodeError"}
    assert all(HEADER_OFFSET in dict(r.headers) for r in dead)
    produced = sorted(int(r.value) for r in await read_topic(apache_broker.bootstrap, out))
    assert produced == sorted(2 * i for i in range(2000) if i not in bad)


async def test_a_second_worker_takes_partitions_over_without_duplicates(
    apache_broker: Broker, topic: str, group: str
) -> None:
    total = 20_000
    out = await numbered_topic(apache_broker, topic, total, partitions=4, out_partitions=4)

    async def slow(record: Any) -> Any:
        if record.offset % 100 == 0:
            await asyncio.sleep(0.01)  # slow enough for the second worker to join mid-way
        return record.value

    cfg = config(apache_broker, topic, group, out, batch_records=100)
    first: TransactionalPipeline[bytes] = TransactionalPipeline(cfg, slow, name="first")
    second: TransactionalPipeline[bytes] = TransactionalPipeline(cfg, slow, name="second")
    one = asyncio.create_task(first.run())
    await wait_for(lambda: first.statistics().batches >= 4, within=60,
                   what="the first worker's first batches", task=one)
    two = asyncio.create_task(second.run())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    both_owned = False
    while True:
        both_owned = both_owned or (bool(first.assignment()) and bool(second.assignment()))
        committed = await committed_offsets(apache_broker.bootstrap, group, topics=[topic])
        if sum(committed.values()) >= total:
            break
        assert not one.done(), one
        assert not two.done(), two
        assert loop.time() < deadline, committed
        await asyncio.sleep(0.2)
    first.drain()
    second.drain()
    a, b = await asyncio.gather(one, two)
    # Draining together, the last to leave may be given every partition while it closes:
    # it must keep (and leave open) no producer for them.
    assert first.assignment() == second.assignment() == frozenset()
    assert both_owned
    assert a.batches > 0
    assert b.batches > 0
    values = Counter(r.value for r in await read_topic(apache_broker.bootstrap, out))
    assert len(values) == total
    assert set(values.values()) == {1}


async def test_cancel_closes_at_once_whatever_poll_timeout(
    apache_broker: Broker, topic: str, group: str
) -> None:
    # The topic is idle once the batch is committed: the poll waits the whole poll_timeout.
    # Before the fix run() went on until that poll returned (30 s).
    out = await numbered_topic(apache_broker, topic, 5)
    pipeline: TransactionalPipeline[bytes] = TransactionalPipeline(
        config(apache_broker, topic, group, out, batch_records=5, poll_timeout=30.0),
        lambda r: r.value)
    run = asyncio.create_task(pipeline.run())
    await wait_for(lambda: pipeline.statistics().batches == 1, within=60,
                   what="the batch to commit", task=run)
    pipeline.cancel()
    stats = await asyncio.wait_for(run, timeout=10)
    assert (stats.consumed, stats.committed, stats.aborts) == (5, 5, 0)
    assert await committed_offsets(apache_broker.bootstrap, group, topics=[topic]) == {
        TopicPartition(topic, 0): 5}
    assert sorted(r.value for r in await read_topic(apache_broker.bootstrap, out)) == sorted(
        b"%d" % i for i in range(5))


async def test_a_zombie_owner_is_fenced(apache_broker: Broker, topic: str, group: str) -> None:
    """A producer that takes a partition's transactional id (as a new owner does) fences the
    pipeline's producer: its next commit fails, the partition is given up, nothing doubles."""
    from aiokafka import AIOKafkaProducer

    out = await numbered_topic(apache_broker, topic, 500)
    cfg = config(apache_broker, topic, group, out, batch_records=100)
    bus, events = EventBus(), list[object]()
    bus.subscribe(events.append)
    pipeline: TransactionalPipeline[bytes] = TransactionalPipeline(cfg, lambda r: r.value,
                                                                   bus=bus)
    task = asyncio.create_task(pipeline.run())
    await wait_for(lambda: pipeline.statistics().batches >= 5, within=30, what="5 batches",
                   task=task)
    usurper = AIOKafkaProducer(bootstrap_servers=apache_broker.bootstrap,
                               transactional_id=cfg.transactional_id(topic, 0))
    await usurper.start()  # InitProducerId: the pipeline's producer is now a zombie
    try:
        await produce(apache_broker, topic, (b"%d" % i for i in range(500, 600)))
        await wait_for(lambda: pipeline.statistics().fenced > 0, within=30, what="the fencing",
                       task=task)
    finally:
        await usurper.stop()
    pipeline.drain()
    await task
    assert [e.outcome for e in events if isinstance(e, BatchAborted)] == ["fenced"]
    values = [r.value for r in await read_topic(apache_broker.bootstrap, out)]
    assert values == [b"%d" % i for i in range(500)]  # the fenced batch is not there
    committed = await committed_offsets(apache_broker.bootstrap, group, topics=[topic])
    assert committed == {TopicPartition(topic, 0): 500}


async def test_a_fence_between_two_sends_of_a_batch_gives_the_partition_up(
    apache_broker: Broker, topic: str, group: str
) -> None:
    """Fenced while its batch is half sent (a session missed under load, a new owner's
    producer started): the batch's first send to another output partition makes aiokafka's
    sender fail (AddPartitionsToTxn: fenced) and refuse every later send with
    IllegalOperation. The pipeline must see the fencing behind it, give the partition up and
    keep running — not fail."""
    from aiokafka import AIOKafkaProducer

    out = await numbered_topic(apache_broker, topic, 200, out_partitions=2)
    cfg = config(apache_broker, topic, group, out, batch_records=200, batch_interval=5.0)
    reached, fenced = asyncio.Event(), asyncio.Event()

    async def transform(record: Any) -> OutgoingRecord:
        if record.offset == 100:
            reached.set()
            await fenced.wait()  # half the batch is sent; the new owner takes the id now
        if record.offset > 100:
            await asyncio.sleep(0.005)  # the sender learns it is fenced meanwhile
        return OutgoingRecord(value=record.value, partition=0 if record.offset < 100 else 1)

    pipeline: TransactionalPipeline[bytes] = TransactionalPipeline(cfg, transform)
    task = asyncio.create_task(pipeline.run())
    await asyncio.wait_for(reached.wait(), 30)
    usurper = AIOKafkaProducer(bootstrap_servers=apache_broker.bootstrap,
                               transactional_id=cfg.transactional_id(topic, 0))
    await usurper.start()  # InitProducerId: the pipeline's producer is a zombie now
    try:
        fenced.set()
        await wait_for(lambda: pipeline.statistics().fenced > 0, within=30, what="the fencing",
                       task=task)
    finally:
        await usurper.stop()
    assert not task.done()
    pipeline.drain()
    await task
    assert pipeline.statistics().batches == 0
    assert await read_topic(apache_broker.bootstrap, out) == []  # nothing of the batch


async def test_tansu_is_refused_at_start_naming_its_limitation(
    tansu: Broker, topic: str, group: str
) -> None:
    await create_topic(tansu.bootstrap, topic, partitions=1)
    await create_topic(tansu.bootstrap, topic + ".out", partitions=1)
    pipeline: TransactionalPipeline[bytes] = TransactionalPipeline(
        config(tansu, topic, group, topic + ".out"), lambda r: r.value)
    with pytest.raises(TransactionsUnsupportedError,
                       match=r"does not support Kafka transactions.*Tansu 0.6"):
        await asyncio.wait_for(pipeline.run(), 30)


async def test_at_least_once_mode_runs_on_tansu(
    tansu: Broker, topic: str, group: str
) -> None:
    out = await numbered_topic(tansu, topic, 1000, partitions=2)
    pipeline: TransactionalPipeline[bytes] = TransactionalPipeline(
        config(tansu, topic, group, out, guarantee="at_least_once", idempotence=False),
        lambda r: r.value)
    stats = await run_until(pipeline, lambda: pipeline.statistics().consumed >= 1000)
    assert stats.batches >= 2
    got = await read_topic(tansu.bootstrap, out, isolation="read_uncommitted")
    assert sorted(int(r.value) for r in got) == list(range(1000))


async def test_concurrent_async_transforms_write_in_input_order(
    apache_broker: Broker, topic: str, group: str
) -> None:
    out = await numbered_topic(apache_broker, topic, 600)
    running = peak = 0

    async def uneven(record: Any) -> Any:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.002 * (int(record.value) % 3))  # later calls may finish first
        running -= 1
        return record.value

    pipeline: TransactionalPipeline[bytes] = TransactionalPipeline(
        config(apache_broker, topic, group, out, concurrency=8), uneven)
    await run_until(pipeline, lambda: pipeline.statistics().committed >= 600)
    assert peak == 8
    values = [r.value for r in await read_topic(apache_broker.bootstrap, out)]
    assert values == [b"%d" % i for i in range(600)]


async def test_drain_starts_at_the_call_and_its_handle_returns_the_result(
    apache_broker: Broker, topic: str, group: str
) -> None:
    out = await numbered_topic(apache_broker, topic, 300)
    pipeline: TransactionalPipeline[bytes] = TransactionalPipeline(
        config(apache_broker, topic, group, out, batch_records=1000, batch_interval=30),
        lambda r: r.value, name="handle")
    task = asyncio.create_task(pipeline.run())
    await wait_for(lambda: pipeline.statistics().consumed == 300, within=30,
                   what="300 records fetched", task=task)
    assert pipeline.statistics().committed == 0  # the batch is not due: the drain writes it
    handle = pipeline.drain(timeout=10)  # a plain call, as from a signal handler
    result = await handle
    assert (result.name, result.items, result.outcome) == ("handle", 300, "drained")
    assert handle.done
    assert await handle == result == await pipeline.drain(timeout=10)
    assert (await task).committed == 300
    assert len(await read_topic(apache_broker.bootstrap, out)) == 300
