"""`KafkaSource`: a consumer group as a demand-driven stream, at least once.

One task (the *pump*) keeps a ``getmany`` call active at all times — also while every
partition is paused, so the group never evicts the consumer — and puts what it fetched into a
buffer per partition. Records leave those buffers only against downstream demand, in chunks
that share one completion handle (:mod:`._offsets`). A partition whose backlog (buffered plus
in the pipeline) reaches the high mark is paused on the consumer, and resumed at the low mark
(:mod:`._pause`); the pause state is streamguard's and is put back after every rebalance.
What completed is committed (:mod:`._commits`), in offset order only, batched by count and
time, on revoke and on close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiokafka.errors import KafkaError

from streamguard.core._clock import SYSTEM_CLOCK, Clock
from streamguard.core._errors import StreamClosedError
from streamguard.core._events import Event, EventBus, default_bus
from streamguard.core._protocol import UNBOUNDED, ChunkSubscriber, add_demand, demand_error
from streamguard.core._runtime import Runtime, current_runtime
from streamguard.core._stream import Stream

from ._client import check_partitions, check_topics, close_quietly, make_consumer, start_client
from ._codec import Codec, PoisonCounter, Undecodable, codec_of, safe_decoder
from ._commits import Committer
from ._config import KafkaSourceConfig
from ._dead_letter import DeadLetterWriter
from ._errors import KafkaAdapterError, RecordFailedError
from ._events import (
    LagSampled,
    PartitionPaused,
    PartitionResumed,
    PartitionsAssigned,
    PartitionsRevoked,
    PauseReasonsChanged,
    RecordDeadLettered,
)
from ._lag import PartitionLag, SourceLag
from ._offsets import ChunkAck, OffsetTracker
from ._partition import PartitionState, Poison, value_bytes
from ._pause import PauseController, PauseReason
from ._rebalance import RebalanceBridge
from ._types import TP, KafkaRecord

V = TypeVar("V")

_log = logging.getLogger("streamguard.kafka")

_NEW, _RUNNING, _STOPPING, _CLOSED = "new", "running", "stopping", "closed"
_OPEN_STATES = ("OPEN", "FORCED_OPEN")


@dataclass(frozen=True, slots=True)
class KafkaSourceStatistics:
    """A snapshot of a source's counters.

    Attributes:
        fetched: records received from the broker.
        emitted: records handed downstream.
        completed: records completed (committable).
        dead_lettered: records written to the dead-letter topic.
        commits: successful commits; commit_failures: refused ones.
        pauses / resumes: pause and resume calls made on the consumer.
        paused: partitions paused now; assigned: partitions assigned now.
        backlog: records fetched and not completed, over all partitions.
    """

    name: str
    fetched: int
    emitted: int
    completed: int
    dead_lettered: int
    commits: int
    commit_failures: int
    pauses: int
    resumes: int
    paused: int
    assigned: int
    backlog: int


class KafkaSource(Generic[V]):
    """Consume Kafka topics as a :class:`~streamguard.Stream` of records, at least once.

    Example::

        source = KafkaSource(KafkaSourceConfig(
            bootstrap_servers="127.0.0.1:9092", topics=("orders",), group_id="billing",
            dead_letter_topic="orders.dlq"), codec="json")
        await source.stream().pipe(
            op.sink(store, concurrency=8, on_error=source.dead_letter),
        ).run()

    A record counts as completed when the pipeline completes it (a sink returned, a filter
    dropped it, it was dead-lettered); only completed offsets are committed, in order. The
    stream is subscribable once. :meth:`stop` ends it gracefully: fetching stops, what is in
    flight finishes (up to ``close_timeout``), the completed offsets are committed.

    Args:
        config: what to consume and how (see :class:`KafkaSourceConfig`).
        codec: ``"bytes"`` (default), ``"str"``, ``"json"``, a :class:`Codec` or a function
            ``bytes -> value``; values it cannot decode go to the dead-letter topic.
        name: names the source in events and statistics (default ``kafka:<group or topic>``).
        bus: where events go (default :func:`~streamguard.default_bus`).
        clock: time for commit intervals, pauses and lag samples.
    """

    def __init__(
        self, config: KafkaSourceConfig, *, codec: str | Codec[V] | Callable[[bytes], V] = "bytes",
        name: str | None = None, bus: EventBus | None = None, clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config = config
        self.name = name or f"kafka:{config.group_id or ','.join(t for t, _ in config.partitions)}"
        self._codec = codec_of(codec)
        self._bus = bus or default_bus()
        self._clock = clock
        self._pause = PauseController(config.flow, clock)
        self._poison = PoisonCounter()
        self._poison_seen = 0
        self._parts: dict[TP, PartitionState] = {}
        self._ready: deque[PartitionState] = deque()
        self._state = _NEW
        self._down: ChunkSubscriber[KafkaRecord[V]] | None = None
        self._rt: Runtime | None = None
        self._consumer: Any = None
        self._committer: Committer | None = None
        self._dlq: DeadLetterWriter | None = None
        self._demand = 0
        self._draining = False
        self._again = False
        self._progress: asyncio.Event | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._cancelled = False
        self._finished = False
        self._open_breakers: set[str] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._lag = SourceLag(config.bootstrap_servers, connect_timeout=config.connect_timeout,
                              client_id=config.client_id)
        self._next_lag = 0.0
        self._unknown_committed = False
        self._fetched = self._emitted = self._completed = self._dead_lettered = 0
        self._pauses = self._resumes = 0

    # ================================================================== public API
    def stream(self) -> Stream[KafkaRecord[V]]:
        """The stream of records (subscribable once: one source is one consumer)."""
        return Stream(self._subscribe)

    def dead_letter(self, record: KafkaRecord[Any], error: BaseException) -> KafkaRecord[Any]:
        """An ``on_error`` policy for the pipeline's last stage: send the failed *record* to
        the dead-letter topic; it completes once the broker has it.

        ``op.sink(write, on_error=source.dead_letter)``
        """
        part = self._parts.get(TP(record.topic, record.partition))
        chunk = part.tracker.chunk_of(record.offset) if part is not None else None
        if chunk is None:
            raise RecordFailedError(
                f"source {self.name!r}: record {record.topic}/{record.partition}@{record.offset} "
                "is no longer in flight here (its partition was revoked); it will be delivered "
                "again"
            ) from error
        if self._dlq is None:
            raise self._no_dead_letter_topic(record, error) from error
        chunk.hold()
        self._send_dead_letter(record, self._raw_of(record), error, chunk.done)
        return record

    async def write_dead_letter(self, record: KafkaRecord[Any], error: BaseException) -> None:
        """A guarded sink's ``dead_letter``: write *record* to the dead-letter topic and
        return once the broker has it (the guarded sink then completes the record).

        ``guarded_sink(call, breaker=..., dead_letter=source.write_dead_letter)``
        """
        if self._dlq is None:
            raise self._no_dead_letter_topic(record, error) from error
        await self._dlq.write(record, self._raw_of(record), error)
        self._record_dead_letter(record, error)

    def pause(self, partitions: Iterable[tuple[str, int]] | None = None) -> None:
        """Pause *partitions* (default: all, also those assigned later) until :meth:`resume`."""
        self._pause.pause(PauseReason.USER, _tps(partitions))
        self._apply_pauses()

    def resume(self, partitions: Iterable[tuple[str, int]] | None = None) -> None:
        """Take back a :meth:`pause` (default: every user pause)."""
        self._pause.resume(PauseReason.USER, _tps(partitions))
        self._apply_pauses()

    def paused(self) -> frozenset[TP]:
        """The partitions paused on the consumer right now (aiokafka's own paused set)."""
        if self._consumer is None or self._state == _CLOSED:
            return frozenset()
        return frozenset(self._consumer.paused())

    def pause_reasons(self) -> dict[TP, frozenset[str]]:
        """Why each assigned partition should be paused (empty set: it should run)."""
        return {tp: frozenset(str(r) for r in self._pause.reasons(tp))
                for tp in sorted(self._pause.assigned)}

    def assignment(self) -> frozenset[TP]:
        """The partitions assigned to this consumer now."""
        return frozenset(self._parts)

    def lag(self) -> tuple[PartitionLag, ...]:
        """The lag of every assigned partition now (see :class:`PartitionLag`)."""
        return tuple(self._lag_of(part) for _, part in sorted(self._parts.items()))

    async def commit(self) -> bool:
        """Commit what completed now; False if the broker refused (a rebalance raced it)."""
        if self._committer is None:
            return False
        return await self._committer.commit(self._parts.values(), "manual")

    def stop(self) -> None:
        """End the stream gracefully: stop fetching, finish and commit what is in flight."""
        if self._state == _RUNNING:
            self._state = _STOPPING

    def statistics(self) -> KafkaSourceStatistics:
        """A snapshot of the source's counters."""
        committer = self._committer
        return KafkaSourceStatistics(
            name=self.name, fetched=self._fetched, emitted=self._emitted,
            completed=self._completed, dead_lettered=self._dead_lettered,
            commits=committer.commits if committer else 0,
            commit_failures=committer.failures if committer else 0,
            pauses=self._pauses, resumes=self._resumes, paused=len(self._pause.paused),
            assigned=len(self._parts), backlog=sum(p.backlog for p in self._parts.values()),
        )

    # ================================================================== subscription
    def _subscribe(self, down: ChunkSubscriber[KafkaRecord[V]]) -> None:
        if self._down is not None:
            raise StreamClosedError(
                f"KafkaSource {self.name!r} already has a subscriber; create one source per "
                "pipeline (one source is one consumer)"
            )
        self._down = down
        self._rt = current_runtime()
        down.on_subscribe(_Subscription(self))

    def _request(self, n: int) -> None:
        if self._state == _CLOSED:
            return
        if n <= 0:
            self._state = _CLOSED
            assert self._down is not None
            self._down.on_error(demand_error(f"KafkaSource {self.name!r}", n))
            return
        self._demand = add_demand(self._demand, n)
        if self._state == _NEW:
            self._state = _RUNNING
            assert self._rt is not None
            self._pump_task = self._rt.spawn(self._pump(), f"kafka-source:{self.name}")
        else:
            self._drain()

    def _cancel(self) -> None:
        self._cancelled = True
        self._state = _CLOSED

    # ================================================================== the pump
    async def _pump(self) -> None:
        self._progress = asyncio.Event()
        outcome: BaseException | None = None
        try:
            await self._open()
            while self._state == _RUNNING and self._error is None:
                await self._poll_once()
            if self._error is not None:
                outcome = self._error
        except asyncio.CancelledError:
            await self._close(wait=False)
            raise
        except Exception as exc:
            outcome = _translate(exc, self.name)
        if outcome is not None:
            await self._close(wait=False)  # commits what completed before the failure
            self._finish(outcome)
            return
        graceful = self._state == _STOPPING
        if graceful:
            self._finish(None)
        await self._close(wait=graceful)

    async def _poll_once(self) -> None:
        if self._unknown_committed:
            await self._learn_committed()
        batch = await self._consumer.getmany(
            timeout_ms=int(self.config.poll_timeout * 1000),
            max_records=self.config.max_poll_records,
        )
        if batch:
            self._accept(batch)
            self._drain()
        self._apply_pauses()
        assert self._committer is not None
        trigger = self._committer.due()
        if trigger is not None:
            await self._committer.commit(self._parts.values(), trigger)
        if self._clock.now() >= self._next_lag:
            await self._sample_lag()

    def _finish(self, error: BaseException | None) -> None:
        """Send the terminal signal downstream (once), unless downstream cancelled."""
        if self._cancelled or self._finished or self._down is None:
            return
        self._finished = True
        if error is None:
            self._down.on_complete()
        else:
            self._down.on_error(error)

    # ================================================================== open / close
    async def _open(self) -> None:
        cfg = self.config
        options: dict[str, Any] = {
            "bootstrap_servers": cfg.bootstrap_servers, "group_id": cfg.group_id,
            "client_id": cfg.client_id, "enable_auto_commit": False,
            "auto_offset_reset": cfg.auto_offset_reset,
            "session_timeout_ms": int(cfg.session_timeout * 1000),
            "heartbeat_interval_ms": int(cfg.heartbeat_interval * 1000),
            "max_poll_interval_ms": int(cfg.max_poll_interval * 1000),
            "fetch_max_bytes": cfg.fetch_max_bytes,
            "value_deserializer": safe_decoder(self._codec, self._poison),
            **dict(cfg.consumer_options or {}),
        }
        consumer = make_consumer(**options)
        what = f"KafkaSource {self.name!r}"
        await start_client(consumer, bootstrap=cfg.bootstrap_servers,
                           within=cfg.connect_timeout, what=what)
        self._consumer = consumer
        self._committer = Committer(
            consumer=consumer, name=self.name, bus=self._bus, clock=self._clock,
            every=cfg.commit_every, interval=cfg.commit_interval,
        )
        try:
            known = await check_topics(
                consumer, [*cfg.topics, *(t for t, _ in cfg.partitions)],
                bootstrap=cfg.bootstrap_servers, within=cfg.connect_timeout, what=what)
            check_partitions(known, cfg.partitions, bootstrap=cfg.bootstrap_servers, what=what)
            if cfg.dead_letter_topic is not None:
                self._dlq = DeadLetterWriter(
                    bootstrap_servers=cfg.bootstrap_servers, topic=cfg.dead_letter_topic,
                    idempotence=cfg.dead_letter_idempotence, client_id=cfg.client_id,
                    connect_timeout=cfg.connect_timeout,
                )
                await self._dlq.start()
            self._listen_to_breakers()
            await self._subscribe_consumer()
        except BaseException:
            await self._close(wait=False)
            raise

    async def _subscribe_consumer(self) -> None:
        cfg = self.config
        bridge = RebalanceBridge(self._on_revoked, self._on_assigned)
        if cfg.partitions:
            tps = frozenset(TP(t, p) for t, p in cfg.partitions)
            self._consumer.assign(list(tps))
            await self._on_assigned(tps)
        elif cfg.pattern is not None:
            self._consumer.subscribe(pattern=cfg.pattern, listener=bridge)
        else:
            self._consumer.subscribe(topics=list(cfg.topics), listener=bridge)

    async def _close(self, *, wait: bool) -> None:
        """Commit what completed and close every client, exactly once, even if cancelled."""
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(self._close_body(wait))
        cancelled = False
        while not self._close_task.done():
            try:
                await asyncio.shield(self._close_task)
            except asyncio.CancelledError:
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError

    async def _close_body(self, wait: bool) -> None:
        if self._state != _CLOSED and not wait:
            self._state = _CLOSED
        for part in self._parts.values():
            part.drop_buffer()
        self._ready.clear()
        if wait:
            await self._wait_in_flight(self._parts.values(), self.config.close_timeout)
        if self._state != _CLOSED:
            self._state = _CLOSED
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._consumer is not None and self._committer is not None and self.config.group_id:
            with contextlib.suppress(Exception):
                await self._committer.commit(self._parts.values(), "close")
        for part in self._parts.values():
            part.tracker.dead = True
        if self._consumer is not None:
            await close_quietly(self._consumer)
        if self._dlq is not None:
            await close_quietly(self._dlq)
        await self._lag.aclose()

    async def _wait_in_flight(self, parts: Iterable[PartitionState], limit: float) -> None:
        parts = list(parts)
        assert self._progress is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while any(p.tracker.pending_records for p in parts):
            left = deadline - loop.time()
            if left <= 0:
                return
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, 0.05)):
                    await self._progress.wait()

    # ================================================================== rebalance
    async def _on_revoked(self, revoked: frozenset[TP]) -> None:
        parts = [self._parts[tp] for tp in sorted(revoked) if tp in self._parts]
        if not parts or self._close_task is not None:
            return
        loop = asyncio.get_running_loop()
        began = loop.time()
        dropped = 0
        for part in parts:
            part.revoking = True
            dropped += part.drop_buffer()
        pending_before = sum(p.tracker.pending_records for p in parts)
        await self._wait_in_flight(parts, self.config.revoke_timeout)
        if self._committer is not None and self.config.group_id:
            await self._committer.commit(parts, "revoke")
        left = sum(p.tracker.pending_records for p in parts)
        for part in parts:
            part.tracker.dead = True
            del self._parts[part.tp]
        self._pause.revoke(frozenset(p.tp for p in parts))
        self._publish(PartitionsRevoked(
            source=self.name, partitions=tuple((p.tp.topic, p.tp.partition) for p in parts),
            completed=pending_before - left, dropped=dropped + left,
            waited=loop.time() - began,
        ))

    async def _on_assigned(self, assigned: frozenset[TP]) -> None:
        for tp in assigned:
            if tp not in self._parts:
                self._parts[tp] = self._new_partition(tp)
                self._unknown_committed = True
        self._pause.assign(assigned)
        paused = self._apply_pauses()
        self._publish(PartitionsAssigned(
            source=self.name,
            partitions=tuple((tp.topic, tp.partition) for tp in sorted(assigned)),
            paused=tuple((tp.topic, tp.partition) for tp in paused),
        ))

    def _new_partition(self, tp: TP) -> PartitionState:
        holder: list[PartitionState] = []
        tracker = OffsetTracker(
            on_progress=lambda _t, n: self._on_progress(holder[0], n),
            on_failure=lambda chunk, error: self._on_failure(holder[0], chunk, error),
        )
        part = PartitionState(tp, tracker)
        holder.append(part)
        return part

    async def _learn_committed(self) -> None:
        """Read the group's committed offsets of newly assigned partitions (for broker lag)."""
        self._unknown_committed = False
        if not self.config.group_id:
            return
        for part in list(self._parts.values()):
            if not part.committed_known and not part.revoking:
                part.committed_known = True
                try:
                    committed = await self._consumer.committed(part.tp)
                except KafkaError:
                    part.committed_known = False
                    self._unknown_committed = True
                    return
                if part.tracker.committed is None and committed is not None and committed >= 0:
                    part.tracker.committed = committed

    # ================================================================== fetched records
    def _accept(self, batch: dict[Any, list[Any]]) -> None:
        poisoned = self._poison.count != self._poison_seen
        self._poison_seen = self._poison.count
        for tp, records in batch.items():
            part = self._parts.get(tp)
            if part is None or part.revoking or not records:
                continue
            if poisoned:
                _add_checked(part, records)
            else:
                part.add(records, value_bytes(records))
            self._fetched += len(records)
            self._pause.backlog(tp, part.backlog, part.backlog_bytes)
            if not part.in_ready:
                part.in_ready = True
                self._ready.append(part)

    def _drain(self) -> None:
        if self._draining:
            self._again = True
            return
        self._draining = True
        try:
            self._again = True
            while self._again:
                self._again = False
                self._emit_available()
        finally:
            self._draining = False

    def _emit_available(self) -> None:
        ready = self._ready
        down = self._down
        assert down is not None
        limit = self.config.max_poll_records
        while self._demand > 0 and ready and self._state == _RUNNING and self._error is None:
            part = ready.popleft()
            if part.revoking or not part.buffered or self._parts.get(part.tp) is not part:
                part.in_ready = False
                continue
            taken = part.take(min(self._demand, limit))
            if part.buffered:
                ready.append(part)
            else:
                part.in_ready = False
            if isinstance(taken, Poison):
                self._dead_letter_poison(part, taken.record)
                continue
            records, nbytes = taken
            n = len(records)
            ack = part.tracker.open_chunk(records[0].offset, records[-1].offset, n, nbytes)
            if self._demand < UNBOUNDED:
                self._demand -= n
            self._emitted += n
            down.on_chunk(records, [ack] * n)

    # ================================================================== completion
    def _on_progress(self, part: PartitionState, n: int) -> None:
        self._completed += n
        if self._committer is not None:
            self._committer.since_last += n
        if not part.tracker.dead and self._pause.backlog(part.tp, part.backlog,
                                                         part.backlog_bytes):
            self._apply_pauses()
        if self._progress is not None:
            self._progress.set()

    def _on_failure(self, part: PartitionState, chunk: ChunkAck, error: BaseException) -> None:
        record = getattr(error, "item", None)
        if (self._dlq is not None and record is not None
                and getattr(record, "topic", None) == part.tp.topic
                and getattr(record, "partition", None) == part.tp.partition
                and chunk.first <= getattr(record, "offset", -1) <= chunk.last):
            cause = error.__cause__ or error
            chunk.hold()  # so that waits on revoke and close include the dead-letter write

            def written() -> None:
                part.tracker.settle_failure(chunk)
                chunk.done()

            self._send_dead_letter(record, self._raw_of(record), cause, written)
            return
        self._fail_soon(RecordFailedError(
            f"source {self.name!r}: a record of {part.tp.topic}/{part.tp.partition} (offsets "
            f"{chunk.first}..{chunk.last}) failed with {type(error).__name__}: {error}; it was "
            "not committed and will be delivered again. To keep going past failing records, "
            "route them to a dead-letter topic: sink(..., on_error=source.dead_letter)"
        ))

    def _fail_soon(self, error: BaseException) -> None:
        """Fail the stream from the pump (never from inside a downstream call)."""
        if self._error is None:
            self._error = error

    # ================================================================== dead letters
    def _no_dead_letter_topic(self, record: KafkaRecord[Any], error: BaseException) -> Exception:
        return RecordFailedError(
            f"source {self.name!r}: record {record.topic}/{record.partition}@{record.offset} "
            f"failed ({type(error).__name__}: {error}) and no dead_letter_topic is set; "
            "set KafkaSourceConfig.dead_letter_topic"
        )

    def _raw_of(self, record: Any) -> bytes | None:
        value = record.value
        if value is None:
            return None
        if isinstance(value, Undecodable):
            return value.raw
        return self._codec.encode(value)

    def _dead_letter_poison(self, part: PartitionState, record: Any) -> None:
        bad: Undecodable = record.value
        ack = part.tracker.open_chunk(record.offset, record.offset, 1, 0)
        if self._dlq is None:
            self._fail_soon(RecordFailedError(
                f"source {self.name!r}: record {record.topic}/{record.partition}@{record.offset} "
                f"could not be decoded with codec {self._codec.name!r} "
                f"({type(bad.error).__name__}: {bad.error}); it was not committed. Set "
                "KafkaSourceConfig.dead_letter_topic to route such records and keep going"
            ))
            return
        self._send_dead_letter(record, bad.raw, bad.error, ack.done)

    def _send_dead_letter(
        self, record: Any, raw: bytes | None, error: BaseException, on_written: Callable[[], None]
    ) -> None:
        assert self._rt is not None
        assert self._dlq is not None
        self._rt.spawn(self._write_dead_letter(record, raw, error, on_written), "dead-letter")

    async def _write_dead_letter(
        self, record: Any, raw: bytes | None, error: BaseException, on_written: Callable[[], None]
    ) -> None:
        assert self._dlq is not None
        try:
            await self._dlq.write(record, raw, error)
        except KafkaAdapterError as exc:
            self._fail_soon(exc)
            return
        self._record_dead_letter(record, error)
        on_written()

    def _record_dead_letter(self, record: Any, error: BaseException) -> None:
        assert self._dlq is not None
        self._dead_lettered += 1
        self._publish(RecordDeadLettered(
            source=self.name, topic=record.topic, partition=record.partition,
            offset=record.offset, error_type=type(error).__name__, error_message=str(error),
            dead_letter_topic=self._dlq.topic,
        ))

    # ================================================================== pause / resume
    def _apply_pauses(self) -> list[TP]:
        """Apply the controller's plan on the consumer; return the partitions paused now."""
        consumer = self._consumer
        if consumer is None or self._close_task is not None:
            return []
        changes = self._pause.plan()
        if not changes:
            return []
        assigned = consumer.assignment()
        to_pause = [c.tp for c in changes if c.paused and not c.again and c.tp in assigned]
        to_resume = [c.tp for c in changes if not c.paused and c.tp in assigned]
        if to_pause:
            consumer.pause(*to_pause)
            self._pauses += len(to_pause)
        if to_resume:
            consumer.resume(*to_resume)
            self._resumes += len(to_resume)
        for change in changes:
            if change.again:
                self._publish(PauseReasonsChanged(
                    source=self.name, topic=change.tp.topic, partition=change.tp.partition,
                    reasons=tuple(sorted(str(r) for r in change.reasons)),
                ))
            elif change.paused:
                self._publish(PartitionPaused(
                    source=self.name, topic=change.tp.topic, partition=change.tp.partition,
                    reasons=tuple(sorted(str(r) for r in change.reasons)),
                ))
            else:
                self._publish(PartitionResumed(
                    source=self.name, topic=change.tp.topic, partition=change.tp.partition,
                    paused_for=change.paused_for,
                ))
        return to_pause

    def _listen_to_breakers(self) -> None:
        names = set(self.config.pause_on_breakers)
        if not names:
            return

        def on_event(event: Event) -> None:
            to_state = getattr(event, "to_state", None)
            if event.source not in names or to_state is None:
                return
            if str(to_state) in _OPEN_STATES:
                self._open_breakers.add(event.source)
                self._pause.pause(PauseReason.BREAKER)
            else:
                self._open_breakers.discard(event.source)
                if not self._open_breakers:
                    self._pause.resume(PauseReason.BREAKER)
            self._apply_pauses()

        self._unsubscribe = self._bus.subscribe(on_event)

    # ================================================================== lag
    async def _sample_lag(self) -> None:
        self._next_lag = self._clock.now() + self.config.lag_interval
        await self._lag.refresh(self._consumer, self._parts.values(), self._pause.paused)
        if self._bus.active:
            self._bus.publish(LagSampled(source=self.name, partitions=self.lag()))

    def _lag_of(self, part: PartitionState) -> PartitionLag:
        consumer = self._consumer if self._close_task is None else None
        return SourceLag.of(part, consumer, paused=self._pause.is_paused(part.tp))

    def _publish(self, event: Event) -> None:
        if self._bus.active:
            self._bus.publish(event)


class _Subscription:
    __slots__ = ("_source",)

    def __init__(self, source: KafkaSource[Any]) -> None:
        self._source = source

    def request(self, n: int) -> None:
        self._source._request(n)

    def cancel(self) -> None:
        self._source._cancel()


def _add_checked(part: PartitionState, records: list[Any]) -> None:
    """Buffer *records*, setting undecodable ones apart in their place."""
    run: list[Any] = []
    for record in records:
        if isinstance(record.value, Undecodable):
            if run:
                part.add(run, value_bytes(run))
                run = []
            part.add_poison(record)
        else:
            run.append(record)
    if run:
        part.add(run, value_bytes(run))


def _tps(partitions: Iterable[tuple[str, int]] | None) -> frozenset[TP] | None:
    return None if partitions is None else frozenset(TP(t, p) for t, p in partitions)


def _translate(exc: Exception, name: str) -> BaseException:
    if isinstance(exc, KafkaAdapterError | StreamClosedError) or not isinstance(exc, KafkaError):
        return exc
    return KafkaAdapterError(f"source {name!r}: Kafka error {type(exc).__name__}: {exc}")
