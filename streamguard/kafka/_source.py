"""`KafkaSource`: a consumer group as a demand-driven stream, at least once.

This module is the public face; each concern lives in a module of its own:

* :mod:`._lifecycle` — the state machine (``NEW → OPENING → RUNNING → DRAINING → CLOSING →
  CLOSED``) and opening the consumer;
* :mod:`._pump` — the fetch loop, decoding, per-partition buffers and emission on demand;
* :mod:`._outlet` — the subscription (demand, cancel, terminal signals);
* :mod:`._completion` — one ack per record, completion counting, waiting for in-flight work;
* :mod:`._commits` — commits beside fetching (one in flight, coalesced), final commits;
* :mod:`._dead_letter` — the dead-letter route, lossless whatever the codec;
* :mod:`._pause` (the pure planner) and :mod:`._flow` (applying its plan);
* :mod:`._breakers` — pausing while a breaker refuses calls;
* :mod:`._rebalance` — revoke and assign; :mod:`._source_lag` — lag samples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from streamguard.core._clock import SYSTEM_CLOCK, Clock
from streamguard.core._draining import Draining, check_drain_timeout
from streamguard.core._errors import StreamClosedError
from streamguard.core._events import EventBus, default_bus
from streamguard.core._pipeline import PipelineResult, draining_of
from streamguard.core._protocol import ChunkSubscriber
from streamguard.core._runtime import Runtime, current_runtime
from streamguard.core._stream import Stream

from ._breakers import BreakerWatch, PausingBreaker
from ._codec import Codec, codec_of
from ._completion import Completion
from ._config import KafkaSourceConfig
from ._context import SourceContext
from ._dead_letter import DeadLetters
from ._flow import PauseApplier
from ._gap import gap_gate
from ._lag import PartitionLag
from ._lifecycle import Ending, Phase
from ._outlet import Outlet
from ._partition import PartitionState
from ._pause import PauseReason
from ._pump import Pump
from ._source_lag import LagView
from ._types import TP, KafkaRecord

V = TypeVar("V")
DRAINER_GRACE = 1.0
"""Seconds a drained source waits beyond the drainer's deadline for the drainer's cancel."""


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
        phase: where the source is in its life (``new``, ``opening``, ``running``,
            ``draining``, ``closing``, ``closed``).
        skipped: records fetched and not delivered because the committed metadata showed
            them completed before (``completed_metadata``).
        gap_holds: times a partition stopped handing out records because its completed
            offsets above the committed one would soon outgrow the commit metadata
            (``completed_metadata_bound``); gap_held: partitions held so now.
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
    phase: str
    skipped: int = 0
    gap_holds: int = 0
    gap_held: int = 0


class KafkaSource(Generic[V]):
    """Consume Kafka topics as a :class:`~streamguard.Stream` of records, at least once.

    Example::

        source = KafkaSource(KafkaSourceConfig(
            bootstrap_servers="127.0.0.1:9092", topics=("orders",), group_id="billing",
            dead_letter_topic="orders.dlq"), codec="json")
        await source.stream().pipe(
            op.sink(store, concurrency=8, on_error=source.dead_letter),
        ).run()

    A record counts as completed when the pipeline completes its ack (a sink returned, a
    filter dropped it, it was dead-lettered); only completed offsets are committed, in order,
    and never past an abandoned record. :meth:`drain` ends the stream gracefully. The stream
    is subscribable once.

    Args:
        config: what to consume and how (see :class:`KafkaSourceConfig`).
        codec: ``"bytes"`` (default), ``"str"``, ``"json"``, a :class:`Codec` or a function
            ``bytes -> value``; values it cannot decode go to the dead-letter topic.
        name: names the source in events and statistics (default ``kafka:<group or topic>``).
        bus: where events go (default :func:`~streamguard.default_bus`).
        clock: time for commit intervals, pauses and lag samples.
        pause_on: circuit breakers whose refusing calls (``OPEN``, ``FORCED_OPEN``) pauses
            every partition (reason ``breaker``) until none refuses.
    """

    def __init__(
        self, config: KafkaSourceConfig, *, codec: str | Codec[V] | Callable[[bytes], V] = "bytes",
        name: str | None = None, bus: EventBus | None = None, clock: Clock = SYSTEM_CLOCK,
        pause_on: Iterable[PausingBreaker] = (),
    ) -> None:
        self.config = config
        self.name = name or f"kafka:{config.group_id or ','.join(t for t, _ in config.partitions)}"
        ctx = SourceContext(config, self.name, codec_of(codec), bus or default_bus(), clock)
        self._ctx = ctx
        self._pauses = PauseApplier(ctx)
        self._lag = LagView(ctx)
        self._watch = BreakerWatch(pause_on, self._breakers_changed)
        self._rt: Runtime | None = None  # the pipeline's, once subscribed
        self._pump: Pump | None = None
        self._outlet: Outlet[KafkaRecord[V]] | None = None
        self._dead = DeadLetters(ctx, self._fail)
        self._completion = Completion(ctx, self._pauses.apply, self._chunk_failed, gap_gate(ctx))

    # ================================================================== public API
    def stream(self) -> Stream[KafkaRecord[V]]:
        """The stream of records (subscribable once: one source is one consumer)."""
        return Stream(self._subscribe)

    def dead_letter(self, item: Any, error: BaseException) -> None:
        """Send the record behind *item* to the dead-letter topic because of *error*.

        Synchronous: it schedules the write and holds the record's commit until the broker
        has it. It fits every callback slot — ``op.sink(..., on_error=source.dead_letter)``,
        ``guarded_sink(..., dead_letter=source.dead_letter)``, ``on_reject=`` — also after
        ``op.map`` turned the record into something else: the record is found through the
        ack the calling stage settles next. The dead letter carries the original key, value
        bytes and headers, plus headers naming topic, partition, offset, timestamp, error and
        the stage that failed it — the stage whose error callback this is (``on_error`` of
        ``op.map``/``op.map_async``/``op.sink``, ``dead_letter``/``fallback`` of
        ``guarded_sink``); no stage header when called elsewhere, e.g. from an
        ``on_reject`` (:mod:`streamguard.kafka._dead_letter`).
        """
        self._dead.dead_letter(item, error)

    def pause(self, partitions: Iterable[tuple[str, int]] | None = None) -> None:
        """Pause *partitions* (default: all, also those assigned later) until :meth:`resume`."""
        self._ctx.pause.pause(PauseReason.USER, _tps(partitions))
        self._pauses.apply()

    def resume(self, partitions: Iterable[tuple[str, int]] | None = None) -> None:
        """Take back a :meth:`pause` (default: every user pause)."""
        self._ctx.pause.resume(PauseReason.USER, _tps(partitions))
        self._pauses.apply()

    def paused(self) -> frozenset[TP]:
        """The partitions not fetched from right now (paused for a reason in
        :meth:`pause_reasons`, or held by ``min_pause``)."""
        if self._ctx.usable_consumer is None:
            return frozenset()
        return self._ctx.pause.paused & frozenset(self._ctx.parts)

    def pause_reasons(self) -> dict[TP, frozenset[str]]:
        """Why each assigned partition should be paused (empty set: it should run)."""
        pause = self._ctx.pause
        return {tp: frozenset(str(r) for r in pause.reasons(tp)) for tp in sorted(pause.assigned)}

    def assignment(self) -> frozenset[TP]:
        """The partitions assigned to this consumer now."""
        return frozenset(self._ctx.parts)

    def lag(self) -> tuple[PartitionLag, ...]:
        """The lag of every assigned partition now (see :class:`PartitionLag`)."""
        return self._lag.all()

    async def commit(self) -> bool:
        """Commit what completed now; False if the broker refused (a rebalance raced it)."""
        committer = None if self._pump is None else self._pump.committer
        if committer is None or self._ctx.usable_consumer is None:
            return False
        return await committer.commit(self._ctx.parts.values(), "manual")

    def drain(self, timeout: float | None = None) -> Draining[PipelineResult]:
        """End the stream gracefully: stop fetching (at once, also the ``getmany`` under
        way), let what is in flight finish (at most
        *timeout* seconds, default ``close_timeout``), commit what completed, leave the
        group, complete the stream. Records not finished by then are not committed.

        The drain starts when the call returns (a signal handler may call it); await the
        returned :class:`~streamguard.core.Draining` for the end of the pipeline this source
        feeds and its :class:`~streamguard.core.PipelineResult` (for a source never
        subscribed, at once).

        ``Pipeline.drain(timeout)`` and ``streamguard run`` pass their own deadline here; the
        source waits a moment longer (``DRAINER_GRACE``) so that it is the drainer's cancel
        at the deadline, abandoning what is left, that ends the wait — never the source
        giving up while the pipeline still finishes work it would then not commit."""
        check_drain_timeout(timeout)
        if self._rt is not None:
            self._rt.drained = True
        if timeout is not None:
            self._ctx.drain_timeout = timeout + DRAINER_GRACE
        ended = self._end(Ending.COMPLETED)
        if ended and self._ctx.life.phase is Phase.CLOSED and self._outlet is not None:
            self._outlet.complete()  # drained before the first request: nothing to wait for
        return draining_of(self._rt, self.name)

    def cancel(self) -> None:
        """End the stream now: commit what completed (never a record that did not), leave
        the group, no terminal signal.

        The close starts at once, whatever ``poll_timeout`` is: the ``getmany`` under way
        is stopped. Records it fetched and did not hand out stay uncommitted; the next
        owner reads them again from the committed offset."""
        if self._outlet is not None:
            self._outlet.cancel()
        else:
            self._on_cancel()

    @property
    def phase(self) -> str:
        """Where the source is in its life: ``new``, ``opening``, ``running``, ``draining``,
        ``closing`` or ``closed``."""
        return self._ctx.life.phase.value

    def statistics(self) -> KafkaSourceStatistics:
        """A snapshot of the source's counters."""
        ctx, counts = self._ctx, self._ctx.counts
        committer = None if self._pump is None else self._pump.committer
        gate = self._completion.gate
        return KafkaSourceStatistics(
            name=self.name, fetched=counts.fetched, emitted=counts.emitted,
            completed=counts.completed, dead_lettered=counts.dead_lettered,
            commits=committer.commits if committer else 0,
            commit_failures=committer.failures if committer else 0,
            pauses=counts.pauses, resumes=counts.resumes, paused=len(ctx.pause.paused),
            assigned=len(ctx.parts),
            backlog=sum(p.backlog for p in ctx.parts.values()), phase=ctx.life.phase.value,
            skipped=counts.skipped,
            gap_holds=0 if gate is None else gate.bound.holds,
            gap_held=0 if gate is None else gate.held,
        )

    # ================================================================== wiring
    def _subscribe(self, down: ChunkSubscriber[KafkaRecord[V]]) -> None:
        if self._outlet is not None:
            raise StreamClosedError(
                f"KafkaSource {self.name!r} already has a subscriber; create one source per "
                "pipeline (one source is one consumer)"
            )
        self._rt = current_runtime()
        outlet: Outlet[KafkaRecord[V]] = Outlet(
            down, self.name, on_request=self._on_request, on_cancel=self._on_cancel,
            on_drain=self.drain)
        self._outlet = outlet
        self._pump = Pump(self._ctx, outlet, self._completion, self._dead, self._pauses,
                          self._lag, self._watch, self._spawn)
        outlet.start()

    def _on_request(self) -> None:
        life = self._ctx.life
        if life.phase is Phase.NEW:
            life.move(Phase.OPENING)
            assert self._pump is not None
            self._spawn(self._pump.run(), f"kafka-source:{self.name}")
        elif self._pump is not None:
            self._pump.emit_available()

    def _end(self, ending: Ending, error: BaseException | None = None) -> bool:
        """End the stream's life (True if this ended it) and stop the poll under way: the
        close starts now, not when that poll's ``poll_timeout`` runs out."""
        ended = self._ctx.life.end(ending, error)
        self._pauses.stop()
        return ended

    def _on_cancel(self) -> None:
        self._end(Ending.CANCELLED)
        self._completion.wake()

    def _spawn(self, coro: Any, name: str) -> Any:
        assert self._rt is not None, "spawned only once subscribed"
        return self._rt.spawn(coro, name)

    def _fail(self, error: BaseException) -> None:
        """End the stream with *error* (from the pump, never inside a downstream call)."""
        self._end(Ending.FAILED, error)
        self._completion.wake()

    def _chunk_failed(self, part: PartitionState, chunk: Any, error: BaseException) -> None:
        self._dead.chunk_failed(part.tp, chunk, error)

    def _breakers_changed(self, refusing: bool) -> None:
        if refusing:
            self._ctx.pause.pause(PauseReason.BREAKER)
        else:
            self._ctx.pause.resume(PauseReason.BREAKER)
        self._pauses.apply()


def _tps(partitions: Iterable[tuple[str, int]] | None) -> frozenset[TP] | None:
    return None if partitions is None else frozenset(TP(t, p) for t, p in partitions)
