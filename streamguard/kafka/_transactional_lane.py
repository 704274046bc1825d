"""One input partition of a :class:`TransactionalPipeline`: its records waiting for a batch,
its producer, and the writing of one batch — transform, produce, offsets, commit or abort.

Exactly-once writes a batch as one Kafka transaction of the partition's own producer::

    begin → send the outputs (and dead letters) → send_offsets_to_transaction(next offset)
          → commit                      (any failure: abort, rewind to the batch's first offset)

so the output records and the input offset become visible together or not at all. At least
once sends the outputs with the shared producer, waits until the broker has them all, then
commits the offset.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import KafkaError, ProducerFenced

from streamguard.core._events import EventBus

from ._client import make_producer, start_client
from ._codec import Undecodable, best_effort_bytes
from ._dead_letter import dead_letter_headers, raw_value
from ._errors import IdempotenceUnsupportedError, RecordFailedError, TransactionsUnsupportedError
from ._events import BatchCommitted
from ._sink import OutgoingRecord
from ._transactional_config import TransactionalConfig
from ._types import TP

_log = logging.getLogger("streamguard.kafka")

Transform = Callable[[Any], Any]

# The broker says another producer took this transactional id: the partition has a new owner.
_FENCED: tuple[type[BaseException], ...] = (ProducerFenced,)
with contextlib.suppress(ImportError):
    from aiokafka.errors import InvalidProducerEpoch

    _FENCED = (ProducerFenced, InvalidProducerEpoch)


@dataclass(slots=True)
class Counters:
    """What every lane of one pipeline adds to (read by ``statistics()``)."""

    consumed: int = 0
    committed: int = 0
    produced: int = 0
    dead_lettered: int = 0
    batches: int = 0
    aborts: int = 0
    fenced: int = 0
    pauses: int = 0
    resumes: int = 0


@dataclass(slots=True)
class Lane:
    """The state of one assigned input partition.

    Attributes:
        pending: records fetched and not yet in a batch, in offset order.
        first_at: when the oldest of them arrived (the batch clock).
        fetch_next: the lowest offset the lane accepts: records below it were already
            taken, or were fetched before a rewind.
        producer: the partition's transactional producer (``None`` at least once: the
            pipeline's shared producer is used).
        task: the batch writer running now, if any.
        paused: left out of the pipeline's ``getmany`` (:meth:`update_pause`).
        gone: revoked or fenced: nothing more is written for this partition here.
    """

    tp: TP
    producer: Any = None
    pending: list[Any] = field(default_factory=list)
    first_at: float | None = None
    fetch_next: int = 0
    task: asyncio.Task[None] | None = None
    aborts_in_row: int = 0
    paused: bool = False
    gone: bool = False

    def accept(self, records: list[Any], now: float) -> int:
        """Add the fetched *records* at or above :attr:`fetch_next`; return how many."""
        if self.gone:
            return 0
        if records and records[0].offset < self.fetch_next:
            records = [r for r in records if r.offset >= self.fetch_next]
        if not records:
            return 0
        if not self.pending:
            self.first_at = now
        self.pending.extend(records)
        self.fetch_next = records[-1].offset + 1
        return len(records)

    async def start(self, consumer: Any, auto_offset_reset: str) -> None:
        """Seek the partition to the group's committed offset (none: as *auto_offset_reset*
        says). Always: records fetched before the lane existed were not kept, and a fetch
        aiokafka still holds for it belongs to the previous assignment."""
        committed = await consumer.committed(self.tp)
        if committed is not None and committed >= 0:
            consumer.seek(self.tp, committed)
            self.fetch_next = committed
        elif auto_offset_reset == "earliest":
            await consumer.seek_to_beginning(self.tp)
        else:
            await consumer.seek_to_end(self.tp)

    def update_pause(self, max_buffered: int) -> bool:
        """Pause at *max_buffered* pending records, resume below half of it (hysteresis:
        a batch written does not flip the lane at once); a gone lane stays paused for good,
        since what is fetched for it would only be thrown away. Return :attr:`paused`."""
        if self.gone or len(self.pending) >= max_buffered:
            self.paused = True
        elif len(self.pending) < max_buffered // 2:
            self.paused = False
        return self.paused

    def take(self, limit: int, now: float) -> list[Any]:
        """The next batch: at most *limit* of the pending records."""
        batch, self.pending = self.pending[:limit], self.pending[limit:]
        self.first_at = now if self.pending else None
        return batch

    def rewind(self, offset: int) -> None:
        """Forget what is pending and accept records again from *offset*."""
        self.pending.clear()
        self.first_at = None
        self.fetch_next = offset


def update_pauses(lanes: Iterable[Lane], max_buffered: int, counters: Counters) -> None:
    """Pause or resume each of *lanes* (:meth:`Lane.update_pause`), counting the changes."""
    for lane in lanes:
        was = lane.paused
        if lane.update_pause(max_buffered) != was:
            counters.pauses += not was
            counters.resumes += was


def paused_of(lanes: dict[TP, Lane]) -> list[TP]:
    """The partitions of the paused *lanes* (left out of the fetching)."""
    return [tp for tp, lane in lanes.items() if lane.paused]


class BatchWriter:
    """Writes the batches of every lane of one pipeline (see the module docstring)."""

    def __init__(self, config: TransactionalConfig, transform: Transform, counters: Counters,
                 consumer: Callable[[], Any], shared_producer: Callable[[], Any], *,
                 name: str, bus: EventBus) -> None:
        self._config = config
        self._name = name
        self._bus = bus
        self._transform = transform
        self._is_async = inspect.iscoroutinefunction(transform)
        self._counters = counters
        self._consumer = consumer
        self._shared = shared_producer

    async def write(self, lane: Lane, batch: list[Any]) -> None:
        """Write *batch* of *lane* and commit its offset; raise after an abort (the caller
        rewinds the lane)."""
        offsets = {lane.tp: batch[-1].offset + 1}
        if not self._config.transactional:
            futures = await self._produce(self._shared(), batch)
            await asyncio.gather(*futures)
            await self._consumer().commit(offsets)
            self._committed(lane, batch)
            return
        producer = lane.producer
        await producer.begin_transaction()
        try:
            futures = await self._produce(producer, batch)
            await producer.send_offsets_to_transaction(offsets, self._config.group_id)
            await asyncio.gather(*futures)  # a record the broker refused aborts the batch
            await producer.commit_transaction()
        except BaseException as exc:
            await self.abort(producer)
            cause = fatal_cause(producer)
            if cause is not None and cause is not exc and isinstance(exc, Exception):
                # Fenced between two sends of the batch: aiokafka then refuses the next send
                # with IllegalOperation ("not in transaction"), which hides that the
                # partition has a new owner (a zombie after a missed session, #13).
                raise cause from exc
            raise
        self._committed(lane, batch)

    def _committed(self, lane: Lane, batch: list[Any]) -> None:
        self._counters.batches += 1
        self._counters.committed += len(batch)
        if self._bus.active:
            self._bus.publish(BatchCommitted(
                source=self._name, topic=lane.tp.topic, partition=lane.tp.partition,
                records=len(batch), next_offset=batch[-1].offset + 1))

    async def abort(self, producer: Any) -> None:
        """Abort *producer*'s open transaction, if it can still be aborted."""
        manager = getattr(producer, "_txn_manager", None)
        if manager is None or manager.is_fatal_error() or not manager.is_in_transaction():
            return  # fenced or never begun: the next owner's init aborts it on the broker
        self._counters.aborts += 1
        with contextlib.suppress(Exception):
            await producer.abort_transaction()

    async def _produce(self, producer: Any, batch: list[Any]) -> list[Any]:
        """Transform every record of *batch* and send the results (dead letters included);
        return the delivery futures, in input order."""
        futures: list[Any] = []
        width = self._config.concurrency
        for start in range(0, len(batch), width):
            group = batch[start:start + width]
            if self._is_async:
                results: list[Any] = await asyncio.gather(
                    *(self._call_async(r) for r in group), return_exceptions=True)
            else:
                results = [self._call(r) for r in group]
            for record, result in zip(group, results, strict=True):
                if isinstance(result, _Failed):
                    futures.append(await self._dead_letter(producer, record, result.error))
                    continue
                for out in _outgoing(result, record):
                    futures.append(await producer.send(
                        out.topic or self._config.output_topic, value=out.value, key=out.key,
                        partition=out.partition, headers=list(out.headers) or None))
                    self._counters.produced += 1
        return futures

    def _call(self, record: Any) -> Any:
        value = record.value
        if isinstance(value, Undecodable):
            return _Failed(value.error)
        try:
            return self._transform(record)
        except Exception as exc:
            return _Failed(exc)

    async def _call_async(self, record: Any) -> Any:
        value = record.value
        if isinstance(value, Undecodable):
            return _Failed(value.error)
        try:
            return await self._transform(record)
        except Exception as exc:
            return _Failed(exc)

    async def _dead_letter(self, producer: Any, record: Any, error: Exception) -> Any:
        topic = self._config.dead_letter_topic
        if topic is None:
            raise RecordFailedError(
                f"record {record.topic}/{record.partition}@{record.offset} failed with "
                f"{type(error).__name__}: {error}; its batch was aborted and nothing of it "
                "was committed, so it is delivered again after a restart. To keep going past "
                "failing records, set TransactionalConfig.dead_letter_topic"
            ) from error
        self._counters.dead_lettered += 1
        return await producer.send(topic, value=raw_value(record), key=record.key,
                                   headers=dead_letter_headers(record, error, "transform"))


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _outgoing(result: Any, record: Any) -> Iterable[OutgoingRecord]:
    """The records a transform's *result* stands for: ``None`` none, a list each of its
    items, an :class:`OutgoingRecord` itself, any other value one record with the input's
    key and headers."""
    if result is None:
        return ()
    if isinstance(result, list | tuple):
        return [r for item in result for r in _outgoing(item, record)]
    if isinstance(result, OutgoingRecord):
        return (result,)
    return (OutgoingRecord(value=best_effort_bytes(result), key=record.key,
                           headers=tuple(record.headers or ())),)


def fatal_cause(producer: Any) -> BaseException | None:
    """What put *producer*'s transactions in their fatal state (its sender's error: e.g.
    ``ProducerFenced``), or ``None`` while they can go on."""
    manager = getattr(producer, "_txn_manager", None)
    task = getattr(getattr(producer, "_sender", None), "sender_task", None)
    if manager is None or not manager.is_fatal_error() or task is None or not task.done():
        return None
    return None if task.cancelled() else task.exception()


def is_fenced(error: BaseException) -> bool:
    """True if *error* says another producer now owns the transactional id."""
    return isinstance(error, _FENCED)


def is_retryable(error: BaseException) -> bool:
    """A Kafka error after which the batch may be read and written again."""
    return isinstance(error, KafkaError) and not is_fenced(error)


async def start_producer(cfg: TransactionalConfig, transactional_id: str | None, what: str
                         ) -> Any:
    """Start the pipeline's producer: transactional (for one input partition) when
    *transactional_id* is given, else the shared at-least-once one. A broker without
    transactions is a :class:`TransactionsUnsupportedError` naming it."""
    options: dict[str, Any] = {
        "bootstrap_servers": cfg.bootstrap_servers, "client_id": cfg.client_id,
        "acks": "all", "linger_ms": int(cfg.linger * 1000),
        "enable_idempotence": cfg.idempotence or transactional_id is not None,
        **dict(cfg.producer_options or {}),
    }
    if transactional_id is not None:
        options["transactional_id"] = transactional_id
        options["transaction_timeout_ms"] = int(cfg.transaction_timeout * 1000)
    producer = make_producer(**options)
    try:
        await start_client(producer, bootstrap=cfg.bootstrap_servers,
                           within=cfg.connect_timeout, what=what,
                           idempotence_setting="TransactionalConfig(idempotence=False)")
    except IdempotenceUnsupportedError as exc:
        if transactional_id is None:
            raise
        raise TransactionsUnsupportedError(
            f"{what}: the broker at {cfg.bootstrap_servers!r} refused a transactional "
            f"producer (InitProducerId for transactional id {transactional_id!r} "
            "failed): it does not support Kafka transactions, which "
            "guarantee='exactly_once' needs. Tansu 0.6 is such a broker; use Apache "
            "Kafka (or another broker with transactions), or "
            "guarantee='at_least_once' with idempotence=False") from exc
    return producer
