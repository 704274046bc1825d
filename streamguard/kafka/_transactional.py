"""`TransactionalPipeline`: topic → transform → topic, exactly once (or at least once).

Fencing: **one transactional producer per input partition**, transactional id
``"<prefix>-<topic>-<partition>"``, created when the partition is assigned and closed when it
is revoked. aiokafka 0.14 sends the consumer offsets with ``TxnOffsetCommit`` v0, which
carries only the group id — not the generation and member id that KIP-447's group-metadata
fencing needs — so a zombie can only be fenced through the transactional id: the new owner's
``InitProducerId`` bumps the id's epoch (the old owner's next commit fails with
``ProducerFenced``) and completes or aborts the transaction the old owner left open, *before*
the new owner reads the committed offset it starts from.

A ``getmany`` loop hands records to per-partition lanes (:mod:`._transactional_lane`); a
lane whose batch is due (count or time) writes it in a task of its own, so partitions commit
concurrently while fetching goes on. A failed batch is aborted and its partition rewound.
A lane holding ``max_buffered`` records, or given up (fenced), is paused the package's one
way (:mod:`._flow`): left out of ``getmany``, never ``consumer.pause``d.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any, Generic, TypeVar

from streamguard.core._clock import SYSTEM_CLOCK, Clock
from streamguard.core._draining import Draining, Ended, check_drain_timeout
from streamguard.core._errors import require
from streamguard.core._events import EventBus, default_bus
from streamguard.core._pipeline import Outcome, PipelineResult

from ._client import check_topics, close_quietly, make_consumer, set_prefetch_backoff, start_client
from ._codec import Codec, batch_decoder, codec_of
from ._connection import DEFAULT_PREFETCH_BACKOFF
from ._errors import KafkaAdapterError
from ._events import BatchAborted
from ._flow import SoftPause
from ._rebalance import RebalanceBridge
from ._transactional_config import TransactionalConfig, TransactionalStatistics, batch_due
from ._transactional_lane import (
    BatchWriter,
    Counters,
    Lane,
    is_fenced,
    is_retryable,
    paused_of,
    start_producer,
    update_pauses,
)
from ._types import TP

V = TypeVar("V")
_log = logging.getLogger("streamguard.kafka")


class TransactionalPipeline(Generic[V]):
    """Read topics, transform each record, write the results to a topic — exactly once.

    Example::

        pipeline = TransactionalPipeline(TransactionalConfig(
            bootstrap_servers="127.0.0.1:9092", topics=("orders",), group_id="enricher",
            output_topic="orders.enriched", dead_letter_topic="orders.dlq",
        ), transform=lambda record: enrich(record.value), codec="json")
        await pipeline.run()     # until drain() or cancel(); raises if it failed

    Per input partition, records are written in batches (``batch_records`` or
    ``batch_interval``): the outputs, the dead letters and the partition's next offset go in
    one Kafka transaction, so after any crash the committed output holds each input's results
    exactly once. Consumers of the output must read with ``isolation_level="read_committed"``.

    Args:
        config: topics, group, output, guarantee and batching (:class:`TransactionalConfig`).
        transform: ``record -> result`` (a plain or an ``async`` function; the record is a
            :class:`KafkaRecord` with the decoded value). The result is ``None`` (nothing),
            a value (one record, the input's key and headers), an :class:`OutgoingRecord`,
            or a list of those. A raised exception sends the record to the dead-letter topic.
        codec: how values are decoded (as :class:`KafkaSource`'s).
        name: names the pipeline in errors, events and statistics.
        bus: where :class:`BatchCommitted` and :class:`BatchAborted` go (default
            :func:`~streamguard.default_bus`).
        clock: time for ``batch_interval``.
    """

    def __init__(
        self, config: TransactionalConfig, transform: Callable[[Any], Any], *,
        codec: str | Codec[V] | Callable[[bytes], V] = "bytes", name: str | None = None,
        bus: EventBus | None = None, clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        require(isinstance(config, TransactionalConfig),
                "config must be a TransactionalConfig", config)
        require(callable(transform), "transform must be a function record -> result",
                transform)
        self.config = config
        self.name = name or f"kafka-transactional:{config.group_id}"
        self._decode = batch_decoder(codec_of(codec))
        self._clock = clock
        self._counters = Counters()
        self._bus = bus or default_bus()
        self._writer = BatchWriter(config, transform, self._counters, lambda: self._consumer,
                                   lambda: self._shared, name=self.name, bus=self._bus)
        self._lanes: dict[TP, Lane] = {}
        self._soft = SoftPause(lambda: self._lanes, lambda: paused_of(self._lanes))
        self._consumer: Any = None
        self._shared: Any = None
        self._draining = False
        self._drain_timeout = config.close_timeout
        self._error: BaseException | None = None
        self._started = False  # run() was called
        self._outcome: Outcome = "completed"  # as Pipeline's; drain() and cancel() change it
        self._end: Ended[PipelineResult] = Ended()

    # ================================================================== public API
    async def run(self) -> TransactionalStatistics:
        """Run until :meth:`drain` or :meth:`cancel`; raise what made it fail."""
        require(not self._started, "a TransactionalPipeline runs once", self.name)
        self._started = True
        if self._end.done:  # drained or cancelled before it ran: nothing to do
            return self.statistics()
        failure = None  # what ended run() with an error
        try:
            await self._open()
            while self._error is None and not self._soft.stopped:
                await self._poll_once()
            if self._draining and self._error is None:
                await self._flush(self._drain_timeout)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            try:
                await self._close()
            finally:
                self._ended(self._error or failure)
        if self._error is not None:
            raise self._error
        return self.statistics()

    def drain(self, timeout: float | None = None) -> Draining[PipelineResult]:
        """Stop fetching, write and commit what was fetched (at most *timeout* seconds, default
        ``close_timeout``), leave the group; :meth:`run` then returns (drained before it: at
        once). Starts at the call (a signal handler may make it); the ``Draining`` gives run()'s
        end: a ``PipelineResult`` of the records committed (``items``), no stage statistics,
        outcome ``"drained"`` (``"drain_expired"``: a batch was still being written)."""
        check_drain_timeout(timeout)
        self._drain_timeout = self._drain_timeout if timeout is None else timeout
        if self._outcome == "completed":  # as Pipeline.drain: a cancel is not undone
            self._outcome = "drained"
        self._draining = True
        self._soft.stop()  # a poll under way returns now
        if not self._started:
            self._ended(None)  # nothing opened yet, nothing to write: ended (run() returns)
        return self._end.handle()

    def cancel(self) -> None:
        """Stop now: open transactions are aborted, nothing more is committed; the close
        starts at once, also while a poll waits (before :meth:`run`: it never connects)."""
        self._draining = False
        self._soft.stop()
        if not self._end.done and self._outcome != "drain_expired":
            self._outcome = "cancelled"
            if not self._started:
                self._ended(None)

    def assignment(self) -> frozenset[TP]:
        """The input partitions this pipeline owns now."""
        return frozenset(self._lanes)

    def statistics(self) -> TransactionalStatistics:
        """A snapshot of the counters."""
        return TransactionalStatistics(
            name=self.name, guarantee=self.config.guarantee, assigned=len(self._lanes),
            pending=sum(len(lane.pending) for lane in self._lanes.values()),
            **asdict(self._counters))

    def _ended(self, error: BaseException | None) -> None:
        if isinstance(error, asyncio.CancelledError):
            self._outcome = "cancelled"
        self._end.set(PipelineResult(self.name, self._counters.committed, (), self._outcome), error)

    # ================================================================== the loop
    async def _poll_once(self) -> None:
        cfg = self.config
        batch = await self._soft.getmany(self._consumer, max_records=cfg.max_poll_records,
                                         timeout_ms=int(cfg.poll_timeout * 1000))
        now = self._clock.now()
        for tp, records in batch.items():
            lane = self._lanes.get(tp)
            if lane is None or not records:
                continue
            if self._decode is not None:
                self._decode(records)
            self._counters.consumed += lane.accept(records, now)
        for lane in self._lanes.values():
            self._maybe_write(lane, now)
        self._apply_pauses()

    def _maybe_write(self, lane: Lane, now: float, *, force: bool = False) -> None:
        busy = lane.task is not None and not lane.task.done()
        if busy or lane.gone or not (force or batch_due(len(lane.pending), lane.first_at, now,
                                                          self.config)):
            return
        lane.task = asyncio.get_running_loop().create_task(
            self._drive(lane, force), name=f"{self.name}:{lane.tp.topic}/{lane.tp.partition}")

    async def _drive(self, lane: Lane, force: bool) -> None:
        """Write *lane*'s batches while one is due (with *force*: until nothing is pending)."""
        cfg = self.config
        while not lane.gone and self._error is None and lane.pending and (
                force or batch_due(len(lane.pending), lane.first_at, self._clock.now(), cfg)):
            batch = lane.take(cfg.batch_records, self._clock.now())
            self._apply_pauses()  # a resume wakes the poll waiting without this lane
            try:
                await self._writer.write(lane, batch)
            except Exception as exc:
                self._aborted(lane, batch, exc)
                return
            lane.aborts_in_row = 0

    def _aborted(self, lane: Lane, batch: list[Any], error: Exception) -> None:
        """*batch* of *lane* failed and was aborted: rewind, then go on, give up or fail."""
        first = batch[0].offset
        lane.rewind(first)
        if not lane.gone and self._consumer is not None:
            with contextlib.suppress(Exception):  # no longer assigned: the owner starts there
                self._consumer.seek(lane.tp, first)
        where = f"{lane.tp.topic}/{lane.tp.partition}"
        if is_fenced(error):
            lane.gone, outcome = True, "fenced"
            self._counters.fenced += 1
        elif is_retryable(error) and lane.aborts_in_row < self.config.max_aborts:
            lane.aborts_in_row, outcome = lane.aborts_in_row + 1, "retry"
        else:
            outcome = "failed"
            self._fail(KafkaAdapterError(
                f"pipeline {self.name!r}: {lane.aborts_in_row + 1} batches of {where} aborted "
                f"in a row (last: {type(error).__name__}: {error}); nothing of them was "
                "committed") if is_retryable(error) else error)
        _log.warning("pipeline %r: batch of %s at offset %d aborted (%s): %r", self.name,
                     where, first, outcome, error)
        if self._bus.active:
            self._bus.publish(BatchAborted(
                source=self.name, topic=lane.tp.topic, partition=lane.tp.partition,
                first_offset=first, records=len(batch), outcome=outcome, error=error))
        self._apply_pauses()

    def _apply_pauses(self) -> None:
        update_pauses(self._lanes.values(), self.config.max_buffered, self._counters)
        self._soft.changed()

    def _fail(self, error: BaseException) -> None:
        self._error = self._error or error
        self._soft.stop()

    async def _flush(self, within: float) -> None:
        """Drain: write every lane's pending records, at most *within* seconds."""
        now = self._clock.now()
        for lane in list(self._lanes.values()):  # a rebalance may revoke some meanwhile
            if lane.task is not None and not lane.task.done():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(lane.task), within)
            self._maybe_write(lane, now, force=True)
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if tasks and (await asyncio.wait(tasks, timeout=within))[1]:
            self._outcome = "drain_expired"

    # ================================================================== open / close
    async def _open(self) -> None:
        cfg = self.config
        what = f"TransactionalPipeline {self.name!r}"
        self._consumer = make_consumer(
            bootstrap_servers=cfg.bootstrap_servers, group_id=cfg.group_id,
            client_id=cfg.client_id, enable_auto_commit=False,
            isolation_level="read_committed", auto_offset_reset=cfg.auto_offset_reset,
            session_timeout_ms=int(cfg.session_timeout * 1000),
            heartbeat_interval_ms=int(cfg.heartbeat_interval * 1000),
            **dict(cfg.consumer_options or {}))
        await start_client(self._consumer, bootstrap=cfg.bootstrap_servers,
                           within=cfg.connect_timeout, what=what)
        set_prefetch_backoff(self._consumer, DEFAULT_PREFETCH_BACKOFF)  # lanes pause softly
        wanted = [*cfg.topics, cfg.output_topic]
        if cfg.dead_letter_topic is not None:
            wanted.append(cfg.dead_letter_topic)
        await check_topics(self._consumer, wanted, bootstrap=cfg.bootstrap_servers,
                           within=cfg.connect_timeout, what=what)
        if cfg.transactional:  # fail fast: aiokafka's rebalance callback would only log it
            probe = f"{cfg.transactional_id_prefix or cfg.group_id}-probe"
            await close_quietly(await start_producer(self.config, probe, what))
        else:
            self._shared = await start_producer(self.config, None, what)
        self._consumer.subscribe(topics=list(cfg.topics),
                                 listener=RebalanceBridge(self._revoked, self._assigned))

    async def _assigned(self, assigned: frozenset[TP]) -> None:
        """New partitions: start their producers (fencing the previous owner), then start
        each from its committed offset, read after the fencing settled it."""
        if self._soft.stopped:  # stopping: a producer started now would outlive the close
            return
        cfg = self.config
        new = sorted(tp for tp in assigned if tp not in self._lanes)
        lanes = [Lane(tp) for tp in new]
        try:
            if cfg.transactional:
                what = f"TransactionalPipeline {self.name!r}"
                producers = await asyncio.gather(*(
                    start_producer(self.config, cfg.transactional_id(tp.topic, tp.partition), what)
                    for tp in new), return_exceptions=True)
                for lane, producer in zip(lanes, producers, strict=True):  # every one, then raise,
                    lane.producer = None if isinstance(producer, BaseException) else producer
                if errors := [p for p in producers if isinstance(p, BaseException)]:
                    raise errors[0]  # so that the except also closes those after the failed one
            for lane in lanes:
                await lane.start(self._consumer, cfg.auto_offset_reset)
                self._lanes[lane.tp] = lane
            self._soft.changed()  # a poll waiting without the new lanes stops
        except Exception as exc:  # aiokafka would only log it
            for lane in lanes:
                if lane.producer is not None:
                    await close_quietly(lane.producer)
            self._fail(exc)

    async def _revoked(self, revoked: frozenset[TP]) -> None:
        """Finish the batch being written (``close_timeout``), drop the rest, close."""
        await self._retire(revoked, self.config.close_timeout)

    async def _retire(self, tps: Iterable[TP], within: float) -> None:
        lanes = [self._lanes.pop(tp) for tp in sorted(tps) if tp in self._lanes]
        for lane in lanes:
            lane.gone = True
        tasks = [lane.task for lane in lanes if lane.task is not None and not lane.task.done()]
        if tasks:
            _done, late = await asyncio.wait(tasks, timeout=within)
            for task in late:
                task.cancel()  # its transaction is aborted
            if late:
                await asyncio.wait(late)
        for lane in lanes:
            lane.pending.clear()
            if lane.producer is not None:
                await close_quietly(lane.producer)

    async def _close(self) -> None:
        await self._retire(list(self._lanes), 0 if not self._draining else self._drain_timeout)
        if self._consumer is not None:
            await close_quietly(self._consumer)  # waits for a rebalance under way: lanes
            await self._retire(list(self._lanes), 0)  # it assigned meanwhile wrote nothing
        if self._shared is not None:
            await close_quietly(self._shared)
