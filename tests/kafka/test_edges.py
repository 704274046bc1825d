"""The edges of #9 on real brokers: breaking out of ``async for``, draining, abandoned records,
and dead letters that keep the original record however far down the pipeline it failed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from streamguard import operators as op
from streamguard.guard import guarded_sink
from streamguard.kafka import (
    HEADER_ERROR_MESSAGE,
    HEADER_ERROR_TYPE,
    HEADER_OFFSET,
    HEADER_PARTITION,
    HEADER_STAGE,
    HEADER_TIMESTAMP,
    HEADER_TOPIC,
    KafkaRecord,
    KafkaSource,
    TopicPartition,
)

from ._brokers import Broker, committed_offsets, consume_all, create_topic, produce
from ._pipelines import source_config, wait_for

pytestmark = pytest.mark.integration

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


async def test_break_out_of_async_for_at_the_end_of_main_exits_promptly_and_commits(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    # The program of #9: break out of the loop and let main return. asyncio.run cancels
    # every task (aiokafka's too) before the generator closes the source; before the fix
    # the last commit and the LeaveGroup waited for aiokafka's 40 s request timeout.
    await create_topic(kafka_broker.bootstrap, topic, partitions=1)
    await produce(kafka_broker, topic, (b"%d" % i for i in range(2000)))
    program = textwrap.dedent(f"""
        import asyncio
        from streamguard.kafka import KafkaSource, KafkaSourceConfig

        async def main():
            source = KafkaSource(KafkaSourceConfig(
                bootstrap_servers={kafka_broker.bootstrap!r}, topics=({topic!r},),
                group_id={group!r}, session_timeout=6, heartbeat_interval=1))
            seen = 0
            async for record in source.stream():
                seen += 1
                if seen == 10:
                    break

        asyncio.run(main())
        print("exited")
    """)
    began = time.monotonic()
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-W", "error::RuntimeWarning", "-c", program],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": _ROOT})
    took = time.monotonic() - began
    assert done.returncode == 0, done.stderr
    assert "exited" in done.stdout
    assert "Unclosed AIOKafkaConsumer" not in done.stderr
    assert "Task was destroyed" not in done.stderr
    assert took < 25, f"the program took {took:.1f} s to exit (aiokafka's timeout is 40 s)"
    # The ten records the loop body saw are committed, nothing more.
    assert await committed_offsets(kafka_broker.bootstrap, group, topics=[topic]) == {
        TopicPartition(topic, 0): 10}


async def test_break_while_the_program_goes_on_closes_the_source_and_commits(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    await create_topic(kafka_broker.bootstrap, topic, partitions=1)
    await produce(kafka_broker, topic, (b"%d" % i for i in range(2000)))
    source: KafkaSource[bytes] = KafkaSource(source_config(kafka_broker, topic, group))
    seen = 0
    async for _record in source.stream():
        seen += 1
        if seen == 25:
            break
    await wait_for(lambda: source.phase == "closed", within=15, what="the source to close")
    assert await committed_offsets(kafka_broker.bootstrap, group, topics=[topic]) == {
        TopicPartition(topic, 0): 25}


async def test_cancel_closes_at_once_whatever_poll_timeout_and_commits_what_completed(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    # The topic is idle once the records are delivered: the pump's poll waits the whole
    # poll_timeout. Before the fix the close started only when that poll returned (30 s).
    await create_topic(kafka_broker.bootstrap, topic, partitions=1)
    await produce(kafka_broker, topic, (b"%d" % i for i in range(5)))
    source: KafkaSource[bytes] = KafkaSource(source_config(
        kafka_broker, topic, group, poll_timeout=30.0,
        commit_every=10_000, commit_interval=600.0))  # no commit but the close's
    stored: list[int] = []

    async def store(record: KafkaRecord[bytes]) -> None:
        stored.append(record.offset)

    pipeline = source.stream().pipe(op.sink(store)).start()
    await wait_for(lambda: source.statistics().completed == 5, within=60,
                   what="every record to complete")
    assert await committed_offsets(kafka_broker.bootstrap, group, topics=[topic]) == {}
    source.cancel()
    await wait_for(lambda: source.phase == "closed", within=10,
                   what="the close (poll_timeout is 30 s)")
    assert await committed_offsets(kafka_broker.bootstrap, group, topics=[topic]) == {
        TopicPartition(topic, 0): 5}
    assert stored == list(range(5))
    assert not pipeline.done  # a cancelled source sends no terminal signal
    pipeline.cancel()
    await asyncio.wait_for(pipeline.wait(), timeout=30)


async def test_take_commits_what_was_taken_and_the_rest_is_delivered_again(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    await create_topic(kafka_broker.bootstrap, topic, partitions=1)
    await produce(kafka_broker, topic, (b"%d" % i for i in range(1000)))
    first: KafkaSource[bytes] = KafkaSource(source_config(kafka_broker, topic, group))
    taken = await first.stream().pipe(op.take(10)).to_list()
    assert [r.offset for r in taken] == list(range(10))
    await wait_for(lambda: first.phase == "closed", within=15, what="the source to close")
    assert await committed_offsets(kafka_broker.bootstrap, group, topics=[topic]) == {
        TopicPartition(topic, 0): 10}
    again: KafkaSource[bytes] = KafkaSource(source_config(kafka_broker, topic, group))
    rest = await again.stream().pipe(op.take(5)).to_list()
    assert [r.offset for r in rest] == list(range(10, 15))


async def test_drain_finishes_in_flight_commits_everything_accepted_and_leaves(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    total = 20_000
    await create_topic(kafka_broker.bootstrap, topic, partitions=2)
    await produce(kafka_broker, topic, (b"%d" % i for i in range(total)),
                  partition_of=lambda i: i % 2)
    source: KafkaSource[bytes] = KafkaSource(source_config(kafka_broker, topic, group))
    accepted: dict[int, set[int]] = {0: set(), 1: set()}

    async def slow_store(record: KafkaRecord[bytes]) -> None:
        await asyncio.sleep(0.01)
        accepted[record.partition].add(record.offset)

    pipeline = source.stream().pipe(op.sink(slow_store, concurrency=16)).start()
    await wait_for(lambda: sum(map(len, accepted.values())) >= 500, within=60,
                   what="first deliveries")
    result = await pipeline.drain(timeout=30)
    assert result.outcome == "drained"
    assert source.phase == "closed"
    stats = source.statistics()
    assert stats.completed == stats.emitted == sum(map(len, accepted.values())) < total
    committed = await committed_offsets(kafka_broker.bootstrap, group, topics=[topic])
    for p in (0, 1):
        # Every accepted record is committed (0 replays), nothing beyond it.
        assert accepted[p] == set(range(committed[TopicPartition(topic, p)])), p


async def test_a_drain_longer_than_close_timeout_still_commits_what_finished(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    # The pipeline's drain deadline (30 s) is the one that counts, not the source's own
    # close_timeout (0.2 s here): before the fix the source stopped waiting at 0.2 s,
    # committed, and left the group while the sink went on finishing records — records the
    # downstream had accepted and the next run would send again. This was the flaky
    # SIGINT test of examples/kafka_orders_http.py under load.
    await create_topic(kafka_broker.bootstrap, topic, partitions=1)
    await produce(kafka_broker, topic, (b"%d" % i for i in range(200)))
    source: KafkaSource[bytes] = KafkaSource(
        source_config(kafka_broker, topic, group, close_timeout=0.2))
    release = asyncio.Event()
    accepted: list[int] = []

    async def store(record: KafkaRecord[bytes]) -> None:
        if record.offset >= 10:
            await release.wait()  # set one second into the drain
        accepted.append(record.offset)

    pipeline = source.stream().pipe(op.sink(store, concurrency=4)).start()
    await wait_for(lambda: len(accepted) >= 10, within=60, what="the first ten records")
    asyncio.get_running_loop().call_later(1.0, release.set)
    result = await pipeline.drain(timeout=30)
    assert result.outcome == "drained"
    assert len(accepted) > 10  # some finished after close_timeout, inside the drain
    committed = await committed_offsets(kafka_broker.bootstrap, group, topics=[topic])
    assert sorted(accepted) == list(range(committed[TopicPartition(topic, 0)]))


async def test_a_partition_revoked_during_a_drain_waits_for_the_drain_not_revoke_timeout(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    # Two draining members of one group: b finishes first and leaves, so a loses its
    # partition mid-drain while its in-flight records are held until 2.5 s into the drain,
    # far past revoke_timeout (0.2 s). They must still be committed: the pipeline finishes
    # them anyway. Before the fix they were accepted downstream and never committed (three
    # --workers draining at once under load).
    await create_topic(kafka_broker.bootstrap, topic, partitions=2)
    await produce(kafka_broker, topic, (b"%d" % i for i in range(20_000)),
                  partition_of=lambda i: i % 2)
    hold = False
    release = {"a": asyncio.Event(), "b": asyncio.Event()}
    accepted: dict[str, list[tuple[int, int]]] = {"a": [], "b": []}
    waiting = {"a": 0, "b": 0}
    sources: dict[str, KafkaSource[bytes]] = {}

    def start(name: str) -> Any:
        source: KafkaSource[bytes] = KafkaSource(
            source_config(kafka_broker, topic, group, revoke_timeout=0.2), name=name)
        sources[name] = source

        async def store(record: KafkaRecord[bytes]) -> None:
            if hold:
                waiting[name] += 1
                await release[name].wait()
            else:
                await asyncio.sleep(0.005)  # slow enough that b finds records left
            accepted[name].append((record.partition, record.offset))

        return source.stream().pipe(op.sink(store, concurrency=4)).start(name=name)

    a = start("a")
    await wait_for(lambda: len(accepted["a"]) >= 5, within=60, what="a's first records")
    b = start("b")
    await wait_for(lambda: len(sources["a"].assignment()) == 1
                   and len(sources["b"].assignment()) == 1 and len(accepted["b"]) >= 5,
                   within=60, what="a split, and b's first records")
    hold = True
    await wait_for(lambda: waiting["a"] >= 1 and waiting["b"] >= 1, within=60,
                   what="records held in both")
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, release["b"].set)
    loop.call_later(2.5, release["a"].set)
    a_drained = a.drain(timeout=30)  # both drains start here, before either is awaited
    b_drained = b.drain(timeout=30)
    assert (await b_drained).outcome == "drained"
    assert (await a_drained).outcome == "drained"
    committed = await committed_offsets(kafka_broker.bootstrap, group, topics=[topic])
    done = {key for got in accepted.values() for key in got}
    for p in (0, 1):
        mine = sorted(o for q, o in done if q == p)
        assert mine == list(range(committed.get(TopicPartition(topic, p), 0))), p


async def test_an_expired_drain_does_not_commit_past_unfinished_records(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    await create_topic(kafka_broker.bootstrap, topic, partitions=1)
    await produce(kafka_broker, topic, (b"%d" % i for i in range(200)))
    source: KafkaSource[bytes] = KafkaSource(source_config(kafka_broker, topic, group))
    stuck = asyncio.Event()
    finished: list[int] = []

    async def store(record: KafkaRecord[bytes]) -> None:
        if record.offset == 30:
            await stuck.wait()  # never set: this one outlives the drain
        finished.append(record.offset)

    pipeline = source.stream().pipe(op.sink(store, concurrency=4)).start()
    await wait_for(lambda: len(finished) >= 33, within=60, what="the records around 30")
    result = await pipeline.drain(timeout=0.5)
    assert result.outcome == "drain_expired"  # record 30 was abandoned
    assert source.phase == "closed"
    assert await committed_offsets(kafka_broker.bootstrap, group, topics=[topic]) == {
        TopicPartition(topic, 0): 30}


@dataclass(frozen=True)
class Order:
    id: int
    amount: float


def order_of(value: dict[str, Any]) -> Order:
    return Order(value["id"], value["amount"])


async def _produce_orders(broker: Broker, topic: str, values: list[bytes | None]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all",
                                enable_idempotence=broker.idempotence)
    await producer.start()
    try:
        for i, value in enumerate(values):
            await producer.send_and_wait(topic, value, key=b"user-%d" % i, partition=0,
                                         headers=[("trace", b"t-%d" % i)])
    finally:
        await producer.stop()


ORDERS: list[bytes | None] = [
    b'{"id": 0, "amount": 1.10}', b'{"id": 1,  "amount": 2.50}', b'{"id": 2, "amount": 1.10}',
    None, b'{"id": 4, "amount": 7.00}',
]


@pytest.mark.parametrize("route", ["on_error", "skip", "guarded"])
async def test_dead_letters_keep_the_original_record_after_map(
    kafka_broker: Broker, topic: str, group: str, route: str
) -> None:
    dlq = f"{topic}.dlq"
    await create_topic(kafka_broker.bootstrap, topic, partitions=1)
    await create_topic(kafka_broker.bootstrap, dlq, partitions=1)
    await _produce_orders(kafka_broker, topic, ORDERS)
    source: KafkaSource[Any] = KafkaSource(
        source_config(kafka_broker, topic, group, dead_letter_topic=dlq), codec="json")
    stored: list[int] = []

    def to_order(record: KafkaRecord[Any]) -> Order | None:
        return None if record.value is None else order_of(record.value)

    def store(order: Order | None) -> None:
        if order is None or order.amount == 1.10:
            raise ValueError(f"rejected {order}")
        stored.append(order.id)

    async def store_async(order: Order | None) -> None:
        store(order)

    if route == "guarded":
        sink: Any = guarded_sink(store_async, dead_letter=source.dead_letter, name="store")
    else:
        sink = op.sink(store, name="store",
                       on_error="skip" if route == "skip" else source.dead_letter)
    task = asyncio.create_task(source.stream().pipe(op.map(to_order), sink).run())
    await wait_for(lambda: source.statistics().completed == len(ORDERS), within=60,
                   what="every record completed", task=task)
    source.drain()
    await task
    assert stored == [1, 4]
    letters = sorted(await consume_all(kafka_broker, dlq, 3), key=lambda r: r.offset)
    assert [r.value for r in letters] == [ORDERS[0], ORDERS[2], None]  # bytes as produced
    for letter, offset in zip(letters, (0, 2, 3), strict=True):
        headers = dict(letter.headers)
        assert letter.key == b"user-%d" % offset
        assert letter.headers[0] == ("trace", b"t-%d" % offset)  # original headers first
        assert headers[HEADER_TOPIC] == topic.encode()
        assert headers[HEADER_PARTITION] == b"0"
        assert headers[HEADER_OFFSET] == str(offset).encode()
        assert int(headers[HEADER_TIMESTAMP]) > 0
        assert headers[HEADER_ERROR_TYPE] == b"ValueError"
        assert headers[HEADER_ERROR_MESSAGE].startswith(b"rejected")
        assert headers[HEADER_STAGE] == b"store"  # every route: the stage that failed it
    assert await committed_offsets(kafka_broker.bootstrap, group, topics=[topic]) == {
        TopicPartition(topic, 0): len(ORDERS)}


async def test_a_function_codec_dead_letters_the_original_bytes(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    dlq = f"{topic}.dlq"
    await create_topic(kafka_broker.bootstrap, topic, partitions=1)
    await create_topic(kafka_broker.bootstrap, dlq, partitions=1)
    await _produce_orders(kafka_broker, topic, [b"7|1.10", b"8|2.00"])

    def parse(data: bytes) -> Order:
        i, amount = data.split(b"|")
        return Order(int(i), float(amount))

    source: KafkaSource[Order] = KafkaSource(
        source_config(kafka_broker, topic, group, dead_letter_topic=dlq), codec=parse)

    def store(record: KafkaRecord[Order]) -> None:
        if record.value.id == 7:
            raise ValueError("no")

    task = asyncio.create_task(
        source.stream().pipe(op.sink(store, on_error=source.dead_letter)).run())
    await wait_for(lambda: source.statistics().dead_lettered == 1, within=60,
                   what="the dead letter", task=task)
    source.drain()
    await task
    [letter] = await consume_all(kafka_broker, dlq, 1)
    assert letter.value == b"7|1.10"
