"""flat_map and group_by behind a Kafka source on Apache Kafka: a record is committed only
once everything derived from it completed, and every record is committed at the end."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core import EventBus, Stream
from streamguard.kafka import KafkaRecord, KafkaSource
from tests.kafka._brokers import Broker, committed_offsets, create_topic, produce
from tests.kafka._pipelines import source_config, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 4
TOTAL = 2_000


async def _committed(broker: Broker, topic: str, group: str) -> dict[int, int]:
    got = await committed_offsets(broker.bootstrap, group, topics=[topic])
    return {tp.partition: offset for tp, offset in got.items()}


def _parts(record: KafkaRecord[bytes]) -> Stream[tuple[int, int, int]]:
    """Three derived items per record: (partition, offset, part)."""
    return from_iterable([(record.partition, record.offset, k) for k in range(3)])


async def test_flat_map_commits_a_record_after_all_its_derived_items(
    apache_broker: Broker, topic: str, group: str
) -> None:
    await create_topic(apache_broker.bootstrap, topic, partitions=PARTITIONS)
    await produce(apache_broker, topic, (b"%d" % i for i in range(TOTAL)),
                  partition_of=lambda i: i % PARTITIONS)
    source: KafkaSource[bytes] = KafkaSource(
        source_config(apache_broker, topic, group, commit_every=1, commit_interval=0.05),
        bus=EventBus())
    release = asyncio.Event()
    seen: Counter[tuple[int, int, int]] = Counter()

    async def work(part: tuple[int, int, int]) -> None:
        if part == (0, 100, 2):  # the last part of record 0/100 is slow
            await release.wait()
        seen[part] += 1

    task = asyncio.create_task(source.stream().pipe(
        op.flat_map(_parts, concurrency=8), op.sink(work, concurrency=16)).run())
    await wait_for(lambda: len(seen) >= 3 * TOTAL - 1, within=90,
                   what="every derived item but the held one", task=task)
    await source.commit()
    held = await _committed(apache_broker, topic, group)
    assert held.get(0, 0) <= 100  # record 0/100 is not complete: no commit past it
    assert all(held.get(p, 0) == TOTAL // PARTITIONS for p in (1, 2, 3)), held
    release.set()
    await wait_for(lambda: len(seen) == 3 * TOTAL, within=60, what="the held item", task=task)
    await source.commit()
    source.drain()
    await asyncio.wait_for(task, 60)
    assert set(seen.values()) == {1}
    assert await _committed(apache_broker, topic, group) == dict.fromkeys(
        range(PARTITIONS), TOTAL // PARTITIONS)


def _user(record: KafkaRecord[bytes]) -> int:
    return int(record.value) % 10


async def test_group_by_commits_every_record_once_its_group_finished_it(
    apache_broker: Broker, topic: str, group: str
) -> None:
    await create_topic(apache_broker.bootstrap, topic, partitions=PARTITIONS)
    await produce(apache_broker, topic, (b"%d" % i for i in range(TOTAL)),
                  partition_of=lambda i: i % PARTITIONS)
    source: KafkaSource[bytes] = KafkaSource(
        source_config(apache_broker, topic, group, commit_every=1, commit_interval=0.05),
        bus=EventBus())
    per_user: Counter[int] = Counter()
    release = asyncio.Event()

    def per_group(g: op.GroupedStream[int, KafkaRecord[bytes]]) -> Stream[Any]:
        async def store(record: KafkaRecord[bytes]) -> None:
            if g.key == 7:
                await release.wait()  # one slow user
            per_user[g.key] += 1
        return g.pipe(op.sink(store))

    task = asyncio.create_task(source.stream().pipe(
        op.group_by(_user, max_groups=10, buffer=512),
        op.flat_map(per_group, concurrency=10)).run())
    await wait_for(lambda: sum(per_user.values()) >= 100, within=90, what="other users' records",
                   task=task)
    await source.commit()
    held = await _committed(apache_broker, topic, group)
    # value 7 (user 7) is offset 1 of partition 3: nothing of partition 3 from it on commits
    assert held.get(3, 0) <= 1, held
    release.set()
    await wait_for(lambda: sum(per_user.values()) == TOTAL, within=90, what="every record",
                   task=task)
    await source.commit()
    source.drain()
    await asyncio.wait_for(task, 60)
    assert per_user == dict.fromkeys(range(10), TOTAL // 10)
    assert await _committed(apache_broker, topic, group) == dict.fromkeys(
        range(PARTITIONS), TOTAL // PARTITIONS)
