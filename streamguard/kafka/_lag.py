"""Kafka lag, every kind of it, in one place.

* **broker lag** = log end − the group's position (what Kafka's consumer-groups tool reports,
  and what a restart reads again). The position is the committed offset; *before the first
  commit* it is where consumption starts, so waiting records are never reported as 0: in the
  source, where ``auto_offset_reset`` put its consumer; from outside (:func:`read_group_lag`),
  the log start for ``"earliest"`` and the log end for ``"latest"``.
* **in-flight** = fetched − completed: read by this process, not yet finished.

The log end is the largest estimate at hand (fetch high-watermark, ListOffsets, the offset
after the last record fetched): each can only be behind — ``highwater()`` goes stale while a
partition is paused, Tansu 0.6 answers ListOffsets with the base offset of the last batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka.errors import KafkaConnectionError, KafkaError

from streamguard.core._errors import require

from ._client import close_quietly, make_admin, make_consumer, start_client, topic_partitions
from ._config import check_str
from ._connection import Bootstrap, check_bootstrap
from ._errors import BrokerUnreachableError, KafkaAdapterError, UnknownTopicError
from ._partition import PartitionState
from ._types import TP

OffsetReset = Literal["earliest", "latest"]

LagProbe = Callable[[], Awaitable[int]]
"""An async function returning the lag (records) to react to (see :class:`GroupLagProbe`)."""


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """The lag of one partition of a running :class:`~streamguard.kafka.KafkaSource`. Attributes:

        topic: the topic.
        partition: the partition.
        log_end: the partition's log-end offset (``None`` if not known yet).
        committed: the group's committed offset (``None`` if nothing was committed).
        fetched: the offset after the last record fetched (``None`` before the first fetch).
        completed: the offset after the highest contiguous completed record.
        broker: ``log_end - committed``; before the first commit ``log_end`` − the first
            offset fetched (``None`` while neither is known).
        in_flight: ``fetched - completed``: read by this process, not yet finished.
        backlog: records fetched and not yet completed (buffered plus in the pipeline).
        backlog_bytes: their value bytes.
        paused: whether the partition is paused on the consumer.
    """

    topic: str
    partition: int
    log_end: int | None
    committed: int | None
    fetched: int | None
    completed: int | None
    broker: int | None
    in_flight: int
    backlog: int
    backlog_bytes: int
    paused: bool


@dataclass(frozen=True, slots=True)
class GroupPartitionLag:
    """One partition of a group seen from outside, like a row of
    ``kafka-consumer-groups --describe`` (``None``: unknown). Attributes:

        topic: the topic.
        partition: the partition.
        committed: the group's committed offset (``None``: the group never committed here).
        log_end: the log-end offset.
        lag: ``log_end - committed``; without a commit, counted from where the group starts
            (the log start for ``auto_offset_reset="earliest"``, 0 for ``"latest"``).
        log_start: the log-start offset (the oldest retained record).
    """

    topic: str
    partition: int
    committed: int | None
    log_end: int | None
    lag: int | None
    log_start: int | None = None


def log_end_estimate(*candidates: int | None) -> int | None:
    """The best estimate of a log-end offset: the largest known lower bound."""
    known = [c for c in candidates if c is not None and c >= 0]
    return max(known) if known else None


def broker_lag(log_end: int | None, committed: int | None, start: int | None = None) -> int | None:
    """``log_end - committed`` (or ``- start`` before the first commit), never negative;
    ``None`` while unknown."""
    position = committed if committed is not None else start
    return None if log_end is None or position is None else max(0, log_end - position)


def in_flight(fetched: int | None, completed: int | None) -> int:
    """``fetched - completed``, never negative; 0 while either is unknown."""
    return 0 if fetched is None or completed is None else max(0, fetched - completed)


class LogEndReader:
    """Log-end and log-start offsets through a group-less consumer; reusable; ``aclose()``."""

    def __init__(self, bootstrap_servers: Bootstrap, *, connect_timeout: float = 15.0,
                 client_id: str = "streamguard-lag") -> None:
        self._bootstrap = bootstrap_servers
        self._timeout = connect_timeout
        self._client_id = client_id
        self._consumer: Any = None

    async def consumer(self) -> Any:
        """The reader's connected consumer (started on first use)."""
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

    async def log_end_offsets(self, tps: Iterable[TP]) -> dict[TP, int]:
        """The log-end offset of each partition in *tps*."""
        tps = sorted(set(tps))
        if not tps:
            return {}
        consumer = await self.consumer()
        async with asyncio.timeout(self._timeout):
            listed: dict[TP, int] = await consumer.end_offsets(tps)
            consumer.assign(tps)  # a fresh assignment: no high-watermark known yet
            for tp in tps:
                consumer.seek(tp, listed[tp])
            while any(consumer.highwater(tp) is None for tp in tps):
                await consumer.getmany(*tps, timeout_ms=100)
        return {tp: log_end_estimate(consumer.highwater(tp), listed.get(tp)) or 0 for tp in tps}

    async def log_start_offsets(self, tps: list[TP]) -> dict[TP, int]:
        """The offset of the oldest retained record of each partition in *tps*."""
        consumer = await self.consumer()
        async with asyncio.timeout(self._timeout):
            return dict(await consumer.beginning_offsets(tps)) if tps else {}

    async def aclose(self) -> None:
        """Close the consumer."""
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await close_quietly(consumer)


class SourceLag:
    """The lag of a running source's partitions (its ``lag()`` and ``LagSampled`` events):
    :meth:`refresh` (every ``lag_interval``) learns where uncommitted partitions start and
    the log ends of paused ones (stale ``highwater()``); :meth:`of` is then synchronous."""

    def __init__(self, bootstrap_servers: Bootstrap, *, connect_timeout: float, client_id: str):
        # Connects on first use only: a source that never pauses never opens it.
        self._ends = LogEndReader(bootstrap_servers, connect_timeout=connect_timeout,
                                  client_id=f"{client_id}-lag")

    async def refresh(self, consumer: Any, parts: Iterable[PartitionState],
                      paused: Collection[TP]) -> None:
        """Learn start positions and the log ends of *paused* partitions."""
        parts = [p for p in parts if not p.revoking]
        unknown = {p.tp: p for p in parts if p.tracker.committed is None and p.start is None}
        if unknown:
            # Where auto_offset_reset put the consumer, once the fetcher has reset it; the
            # fetch loop awaits this, so a position not known yet is asked again next time.
            asks = {asyncio.ensure_future(consumer.position(tp)): tp for tp in unknown}
            done, pending = await asyncio.wait(asks, timeout=0.05)
            for task in pending:
                task.cancel()
            for task in done:
                if not task.cancelled() and task.exception() is None:
                    unknown[asks[task]].start = task.result()
        stale = [p.tp for p in parts if p.tp in paused]
        if stale:
            with contextlib.suppress(KafkaError, KafkaAdapterError, TimeoutError):
                ends = await self._ends.log_end_offsets(stale)
                for part in parts:
                    part.listed_end = ends.get(part.tp, part.listed_end)

    @staticmethod
    def of(part: PartitionState, consumer: Any, *, paused: bool) -> PartitionLag:
        """The lag of *part* now (*consumer* ``None`` while closing: no high-watermark)."""
        highwater = None
        if consumer is not None:
            with contextlib.suppress(Exception):  # not assigned any more: no high-watermark
                highwater = consumer.highwater(part.tp)
        log_end = log_end_estimate(highwater, part.listed_end, part.fetched)
        committed, completed = part.tracker.committed, part.completed
        return PartitionLag(
            topic=part.tp.topic, partition=part.tp.partition, log_end=log_end,
            committed=committed, fetched=part.fetched, completed=completed,
            broker=broker_lag(log_end, committed, part.start),
            in_flight=in_flight(part.fetched, completed), backlog=part.backlog,
            backlog_bytes=part.backlog_bytes, paused=paused,
        )

    async def aclose(self) -> None:
        """Close the side reader."""
        await self._ends.aclose()


class GroupLagReader:
    """One group's committed offsets and lag, read from outside the group; reusable, close
    with :meth:`aclose`. Without topics, OffsetFetch asks for "every partition"; Tansu 0.6
    drops the connection on that, and from then on the reader names every partition (from one
    topic listing per check) and keeps those the group committed."""

    def __init__(self, bootstrap_servers: Bootstrap, group: str, *,
                 auto_offset_reset: OffsetReset = "earliest",
                 connect_timeout: float = 15.0) -> None:
        check_bootstrap(bootstrap_servers)
        check_str(group, "group")
        require(auto_offset_reset in ("earliest", "latest"),
                "auto_offset_reset must be 'earliest' or 'latest'", auto_offset_reset)
        self.bootstrap_servers = bootstrap_servers
        self.group = group
        self.auto_offset_reset = auto_offset_reset
        self._timeout = connect_timeout
        self._ends = LogEndReader(bootstrap_servers, connect_timeout=connect_timeout)
        self._admin: Any = None
        self._named_only = False  # the broker refused the "every partition" OffsetFetch

    async def read(self, topics: Iterable[str] = ()) -> list[GroupPartitionLag]:
        """One row per partition the group committed; with *topics*, one per partition of
        those topics (committed or not) and nothing else. Raises
        :class:`~streamguard.kafka.UnknownTopicError` for a topic that does not exist."""
        wanted = sorted(set(topics))
        try:
            async with asyncio.timeout(self._timeout):
                return await self._read(wanted)
        except (TimeoutError, KafkaConnectionError) as exc:
            raise BrokerUnreachableError(
                f"cannot read the lag of group {self.group!r} from {self.bootstrap_servers!r} "
                f"within {self._timeout} s ({type(exc).__name__}); check bootstrap_servers"
            ) from exc
        except KafkaError as exc:
            raise KafkaAdapterError(
                f"reading the lag of group {self.group!r} failed: {type(exc).__name__}: {exc}"
            ) from exc

    async def _read(self, wanted: list[str]) -> list[GroupPartitionLag]:
        committed = None
        if not wanted and not self._named_only:
            try:
                committed = await self._committed(None)
            except KafkaConnectionError:
                self._named_only = True
        if committed is None:  # named partitions, from one listing of the cluster's topics
            known = await topic_partitions(await self._ends.consumer())
            missing = [t for t in wanted if t not in known]
            if missing:
                named = (f"topic {missing[0]!r} does not exist" if len(missing) == 1 else
                         f"topics {', '.join(map(repr, missing))} do not exist")
                raise UnknownTopicError(f"{named} on {self.bootstrap_servers!r}")
            names = wanted or sorted(t for t in known if not t.startswith("__"))
            tps = [TP(t, p) for t in names for p in sorted(known[t])]
            committed = await self._committed(tps)
            if not wanted:
                tps = sorted(committed)
        else:
            tps = sorted(committed)
        ends = await self._ends.log_end_offsets(tps)
        starts = await self._ends.log_start_offsets([tp for tp in tps if tp not in committed])
        rows = []
        for tp in tps:
            end, start = ends.get(tp), starts.get(tp)
            if self.auto_offset_reset == "latest" and tp not in committed:
                start = end
            rows.append(GroupPartitionLag(tp.topic, tp.partition, committed.get(tp), end,
                                          broker_lag(end, committed.get(tp), start), start))
        return rows

    async def _committed(self, tps: list[TP] | None) -> dict[TP, int]:
        if tps is not None and not tps:
            return {}
        if self._admin is None:
            admin = make_admin(bootstrap_servers=self.bootstrap_servers,
                               request_timeout_ms=int(self._timeout * 1000))
            await start_client(admin, bootstrap=self.bootstrap_servers, within=self._timeout,
                               what="offset reader")
            self._admin = admin
        raw = await self._admin.list_consumer_group_offsets(self.group, partitions=tps)
        return {TP(tp.topic, tp.partition): meta.offset for tp, meta in raw.items()
                if meta.offset >= 0}

    async def aclose(self) -> None:
        """Close the reader's clients."""
        await self._ends.aclose()
        if self._admin is not None:
            admin, self._admin = self._admin, None
            await close_quietly(admin)


async def read_group_lag(
    bootstrap_servers: Bootstrap, group: str, *, topics: Iterable[str] = (),
    auto_offset_reset: OffsetReset = "earliest", connect_timeout: float = 15.0,
) -> list[GroupPartitionLag]:
    """Committed offset, log-end offset and lag per partition of *group*, like
    ``kafka-consumer-groups --describe``.

    Without *topics*: every partition the group committed. With *topics*: every partition of
    those topics, also those the group never committed (``committed=None``; their lag counts
    from where the group would start, see *auto_offset_reset*). Raises
    :class:`~streamguard.kafka.UnknownTopicError` for a topic that does not exist and
    :class:`~streamguard.kafka.BrokerUnreachableError` when no broker answers in time.
    """
    reader = GroupLagReader(bootstrap_servers, group, auto_offset_reset=auto_offset_reset,
                            connect_timeout=connect_timeout)
    try:
        return await reader.read(topics)
    finally:
        await reader.aclose()


class GroupLagProbe:
    """A :data:`LagProbe` for :func:`~streamguard.kafka.throttle_by_lag`: the total lag of
    consumer group *group* on *topic* (partitions it never committed count from where it
    starts, see :func:`read_group_lag`). :meth:`aclose` it when done: it keeps its clients
    open between checks (none joins the group)."""

    def __init__(self, bootstrap_servers: Bootstrap, *, group: str, topic: str,
                 auto_offset_reset: OffsetReset = "earliest",
                 connect_timeout: float = 15.0) -> None:
        self.group = group
        self.topic = topic
        self._reader = GroupLagReader(bootstrap_servers, group,
                                      auto_offset_reset=auto_offset_reset,
                                      connect_timeout=connect_timeout)

    async def __call__(self) -> int:
        """The summed lag over the topic's partitions."""
        return sum(row.lag or 0 for row in await self._reader.read((self.topic,)))

    async def aclose(self) -> None:
        """Close the probe's clients."""
        await self._reader.aclose()
