"""Reading a consumer group's lag from outside the group, as Kafka's consumer-groups tool does.

The committed offsets come from the group coordinator (OffsetFetch). The log-end offsets come
from ListOffsets *and* from a fetch at that offset, whose response carries the partition's
high-watermark: some brokers (Tansu 0.6) answer ListOffsets with the base offset of the last
batch, and the largest of the two is never ahead of the truth (see :mod:`._lag`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError

from ._client import close_quietly, make_consumer, start_client, topic_partitions
from ._errors import BrokerUnreachableError, KafkaAdapterError
from ._lag import broker_lag, log_end_estimate
from ._types import TP


@dataclass(frozen=True, slots=True)
class GroupPartitionLag:
    """One partition of a group: committed offset, log-end offset, lag (``None``: unknown)."""

    topic: str
    partition: int
    committed: int | None
    log_end: int | None
    lag: int | None


class LogEndReader:
    """Reads log-end offsets with a group-less consumer; reusable, close with :meth:`aclose`."""

    def __init__(self, bootstrap_servers: str, *, connect_timeout: float = 15.0,
                 client_id: str = "streamguard-lag") -> None:
        self._bootstrap = bootstrap_servers
        self._timeout = connect_timeout
        self._client_id = client_id
        self._consumer: Any = None

    async def _ensure(self) -> Any:
        if self._consumer is None:
            consumer = make_consumer(
                bootstrap_servers=self._bootstrap, group_id=None, client_id=self._client_id,
                enable_auto_commit=False, max_partition_fetch_bytes=64 * 1024,
                fetch_max_wait_ms=10,
            )
            await start_client(consumer, bootstrap=self._bootstrap, within=self._timeout,
                               what="log-end reader")
            self._consumer = consumer
        return self._consumer

    async def partitions(self, topic: str) -> list[TP]:
        """The partitions of *topic* (empty if it does not exist)."""
        consumer = await self._ensure()
        known = await topic_partitions(consumer)
        return [TP(topic, p) for p in sorted(known.get(topic, ()))]

    async def log_end_offsets(self, tps: Iterable[TP]) -> dict[TP, int]:
        """The log-end offset of each partition in *tps*."""
        tps = sorted(set(tps))
        if not tps:
            return {}
        consumer = await self._ensure()
        async with asyncio.timeout(self._timeout):
            listed: dict[TP, int] = await consumer.end_offsets(tps)
            consumer.assign(tps)  # a fresh assignment: no high-watermark known yet
            for tp in tps:
                consumer.seek(tp, listed[tp])
            while any(consumer.highwater(tp) is None for tp in tps):
                await consumer.getmany(*tps, timeout_ms=100)
        ends = {}
        for tp in tps:
            best = log_end_estimate(consumer.highwater(tp), listed.get(tp))
            ends[tp] = best if best is not None else 0
        return ends

    async def aclose(self) -> None:
        """Close the consumer."""
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await close_quietly(consumer)


async def committed_offsets(
    bootstrap_servers: str, group: str, *, topics: Iterable[str] = (),
    connect_timeout: float = 15.0,
) -> dict[TP, int]:
    """The offsets *group* committed, per partition.

    With *topics*, only their partitions are asked for, through a consumer of the group that
    does not join it (plain OffsetFetch for named partitions, which every broker serves);
    without, the admin client asks for everything the group committed.
    """
    topics = sorted(set(topics))
    try:
        async with asyncio.timeout(connect_timeout):
            if topics:
                return await _committed_of_topics(bootstrap_servers, group, topics,
                                                  connect_timeout)
            return await _committed_of_group(bootstrap_servers, group, connect_timeout)
    except (TimeoutError, KafkaConnectionError) as exc:
        raise BrokerUnreachableError(
            f"cannot read the offsets of group {group!r} from {bootstrap_servers!r} within "
            f"{connect_timeout} s ({type(exc).__name__}); check bootstrap_servers"
        ) from exc
    except KafkaError as exc:
        raise KafkaAdapterError(
            f"reading the offsets of group {group!r} failed: {type(exc).__name__}: {exc}"
        ) from exc


async def _committed_of_group(bootstrap: str, group: str, within: float) -> dict[TP, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap,
                                request_timeout_ms=int(within * 1000))
    try:
        await admin.start()
        raw = await admin.list_consumer_group_offsets(group)
    finally:
        await close_quietly(admin)
    return {TP(tp.topic, tp.partition): meta.offset for tp, meta in raw.items()
            if meta.offset >= 0}


async def _committed_of_topics(
    bootstrap: str, group: str, topics: list[str], within: float
) -> dict[TP, int]:
    reader = CommittedReader(bootstrap, group, connect_timeout=within)
    try:
        return await reader.committed(topics)
    finally:
        await reader.aclose()


class CommittedReader:
    """Reads a group's committed offsets of named topics, through a consumer of the group
    that never joins it (plain OffsetFetch, which every broker serves); reusable."""

    def __init__(
        self, bootstrap_servers: str, group: str, *, connect_timeout: float = 15.0
    ) -> None:
        self._bootstrap = bootstrap_servers
        self.group = group
        self._timeout = connect_timeout
        self._consumer: Any = None

    async def committed(self, topics: Iterable[str]) -> dict[TP, int]:
        """The committed offset of every partition of *topics* that has one."""
        if self._consumer is None:
            consumer = make_consumer(bootstrap_servers=self._bootstrap, group_id=self.group,
                                     enable_auto_commit=False, client_id="streamguard-lag")
            await start_client(consumer, bootstrap=self._bootstrap, within=self._timeout,
                               what="offset reader")
            self._consumer = consumer
        known = await topic_partitions(self._consumer)
        result: dict[TP, int] = {}
        for topic in sorted(set(topics)):
            for partition in sorted(known.get(topic, ())):
                offset = await self._consumer.committed(TP(topic, partition))
                if offset is not None and offset >= 0:
                    result[TP(topic, partition)] = offset
        return result

    async def aclose(self) -> None:
        """Close the consumer."""
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await close_quietly(consumer)


async def read_group_lag(
    bootstrap_servers: str, group: str, *, topics: Iterable[str] = (),
    reader: LogEndReader | None = None, offsets: CommittedReader | None = None,
    connect_timeout: float = 15.0,
) -> list[GroupPartitionLag]:
    """Committed offset, log-end offset and lag per partition of *group*, like
    ``kafka-consumer-groups --describe``; *topics* adds partitions nothing was committed for.
    """
    topics = tuple(topics)
    if offsets is not None and topics:
        async with asyncio.timeout(connect_timeout):
            committed = await offsets.committed(topics)
    else:
        committed = await committed_offsets(bootstrap_servers, group, topics=topics,
                                            connect_timeout=connect_timeout)
    own = reader is None
    reader = reader or LogEndReader(bootstrap_servers, connect_timeout=connect_timeout)
    try:
        tps = set(committed)
        for topic in topics:
            tps.update(await reader.partitions(topic))
        ends = await reader.log_end_offsets(tps)
    finally:
        if own:
            await reader.aclose()
    return [
        GroupPartitionLag(tp.topic, tp.partition, committed.get(tp), ends.get(tp),
                          broker_lag(ends.get(tp), committed.get(tp)))
        for tp in sorted(tps)
    ]
