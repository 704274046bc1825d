"""The base of every operator stage: subscriber of its upstream, subscription of its downstream.

A stage keeps plain integer counters (cheap on the hot path) and turns them into a frozen
:class:`StageStatistics` on request. It enforces the Reactive Streams rules that every stage
shares: ``request(n <= 0)`` fails the stream (3.9), demand saturates at ``2**63 - 1`` (3.17),
at most one terminal signal and nothing after it (1.7), ``cancel()`` is idempotent (3.5).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ._ack import Ack, abandon_all
from ._events import Event
from ._protocol import UNBOUNDED, ChunkSubscriber, Subscription, add_demand, demand_error
from ._runtime import StageStatistics, current_runtime

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass(frozen=True, slots=True)
class StageEvent(Event):
    """Base of the events a stage publishes; ``source`` is ``"pipeline/stage"``."""

    pipeline: str
    stage: str


@dataclass(frozen=True, slots=True)
class ItemsDropped(StageEvent):
    """A stage dropped *count* items on purpose (overflow strategy, take); all were completed."""

    count: int
    reason: str


@dataclass(frozen=True, slots=True)
class ItemFailed(StageEvent):
    """An item failed in a stage and was reported failed to its source."""

    error: BaseException


@dataclass(frozen=True, slots=True)
class StageTerminated(StageEvent):
    """A stage sent its terminal signal (or was cancelled); *statistics* are final."""

    outcome: str  # "completed", "failed" or "cancelled"
    statistics: StageStatistics
    error: BaseException | None = None


class _Unsubscribed:
    """Placeholder upstream until ``on_subscribe``; any use is a protocol bug."""

    __slots__ = ()

    def request(self, n: int) -> None:
        raise RuntimeError("stage used before on_subscribe")

    def cancel(self) -> None:
        pass


UNSUBSCRIBED: Subscription = _Unsubscribed()


class _Detached:
    """Stands in for the downstream after a cancel (rule 3.13: the subscription forgets its
    subscriber). Nothing should reach it; an item that does is abandoned, not lost."""

    __slots__ = ()

    def on_subscribe(self, subscription: Subscription) -> None:
        subscription.cancel()

    def on_next(self, item: object) -> None:
        pass

    def on_chunk(self, items: list[Any], acks: list[Ack] | None) -> None:
        abandon_all(acks)

    def on_error(self, error: BaseException) -> None:
        pass

    def on_complete(self) -> None:
        pass


DETACHED: Any = _Detached()


class Stage(Generic[In, Out]):
    """Base class of operator stages. Subclasses implement :meth:`on_chunk`.

    Protected API for subclasses:

    * ``_done``: set once nothing more may be sent downstream (terminal signal sent or
      downstream cancelled); every path that emits checks it, and a chunk arriving after it
      has its acks abandoned.
    * :meth:`_emit` (counts emitted), :meth:`_fail` (cancel upstream, error downstream),
      :meth:`_terminate` (the one terminal signal).
    * :meth:`_ask` / :meth:`_arrived` and ``_outstanding``: demand asked of upstream and not
      yet received; :meth:`_spawn_tracked`: a task cancelled whenever the stage ends.
    * hooks: :meth:`_on_cancel` (release timers and tasks), :meth:`_on_terminate` (the stage
      ends — completed, failed or cancelled — abandon the acks of what it still holds).
    * statistics: the counters ``_received``, ``_emitted``, ``_dropped``, ``_rejected``,
      ``_failed``; the hooks :meth:`_in_flight`, :meth:`_buffered`, :meth:`_capacity`.
    """

    kind = "stage"

    def __init__(self, downstream: ChunkSubscriber[Out], name: str | None = None) -> None:
        self._down = downstream
        self._up: Subscription = UNSUBSCRIBED
        self.name = name or self.kind
        self._rt = current_runtime()
        self._rt.register(self)
        self._done = False
        self._cancelled = False
        self._requested = 0
        self._received = 0
        self._emitted = 0
        self._dropped = 0
        self._rejected = 0
        self._failed = 0
        self._outstanding = 0  # requested from upstream and not yet received (see _ask)
        self._tasks: set[asyncio.Task[Any]] | None = None

    # ---------------------------------------------------------------- statistics
    @property
    def finished(self) -> bool:
        """True once the stage sent its terminal signal or was cancelled."""
        return self._done

    @property
    def pipeline(self) -> str:
        """Name of the pipeline this stage runs in."""
        return self._rt.name

    def _in_flight(self) -> int:
        return 0

    def _buffered(self) -> int:
        return 0

    def _capacity(self) -> int:
        return 0

    def statistics(self) -> StageStatistics:
        """Return a frozen snapshot of this stage's counters."""
        demand = UNBOUNDED if self._requested >= UNBOUNDED else self._requested - self._emitted
        return StageStatistics(
            pipeline=self._rt.name, stage=self.name, received=self._received,
            emitted=self._emitted, dropped=self._dropped, rejected=self._rejected,
            failed=self._failed, in_flight=self._in_flight(), buffered=self._buffered(),
            capacity=self._capacity(), demand=max(0, demand),
        )

    # ---------------------------------------------------------------- subscriber side
    def on_subscribe(self, subscription: Subscription) -> None:
        """Remember upstream and hand ourselves to downstream as its subscription."""
        if self._up is not UNSUBSCRIBED:
            subscription.cancel()  # rule 2.5: a second subscription is cancelled
            return
        self._up = subscription
        self._down.on_subscribe(self)

    def on_next(self, item: In) -> None:
        """Single-item entry point (for publishers outside streamguard)."""
        self.on_chunk([item], None)

    def on_chunk(self, items: list[In], acks: list[Ack] | None) -> None:
        """Receive a chunk from upstream."""
        raise NotImplementedError

    def on_error(self, error: BaseException) -> None:
        """Upstream failed: pass it on (once)."""
        self._terminate(error)

    def on_complete(self) -> None:
        """Upstream ended: pass it on (once)."""
        self._terminate(None)

    # ---------------------------------------------------------------- subscription side
    def request(self, n: int) -> None:
        """Downstream asks for *n* more items."""
        if n <= 0:
            self._fail(demand_error(f"stage {self.name!r}", n))
            return
        self._requested = add_demand(self._requested, n)
        self._up.request(n)

    def cancel(self) -> None:
        """Downstream is no longer interested: stop and cancel upstream (idempotent)."""
        if self._cancelled:
            return
        self._cancelled = True
        was_done = self._done
        self._done = True
        self._on_cancel()
        self._cancel_tasks()
        self._up.cancel()
        if not was_done:
            self._on_terminate()
            self._publish_terminated("cancelled", None)
        self._down = DETACHED

    def _on_cancel(self) -> None:
        """Hook: release what the stage holds (tasks, timers)."""

    # ---------------------------------------------------------------- helpers
    def _emit(self, items: list[Out], acks: list[Ack] | None) -> None:
        self._emitted += len(items)
        self._down.on_chunk(items, acks)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return self._rt.spawn(coro, self.name)

    def _spawn_tracked(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start a task of this stage that is cancelled when the stage ends (any way)."""
        tasks = self._tasks
        if tasks is None:
            tasks = self._tasks = set()
        task = self._rt.spawn(coro, self.name)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    def _cancel_tasks(self) -> None:
        """Cancel every task started with :meth:`_spawn_tracked` (but the running one)."""
        if self._tasks:
            current = asyncio.current_task()
            for task in list(self._tasks):
                if task is not current:
                    task.cancel()

    def _ask(self, n: int) -> None:
        """Request *n* from upstream, counting them in ``_outstanding`` (saturating)."""
        self._outstanding = add_demand(self._outstanding, n)
        self._up.request(n)

    def _arrived(self, n: int) -> None:
        """*n* items arrived from upstream: fewer are outstanding."""
        if self._outstanding < UNBOUNDED:
            self._outstanding = max(0, self._outstanding - n)

    def _fail(self, error: BaseException) -> None:
        """Fail the stream from inside this stage: cancel upstream, error downstream."""
        if self._done:
            return
        self._up.cancel()
        self._on_cancel()
        self._cancel_tasks()
        self._terminate(error)

    def _terminate(self, error: BaseException | None) -> None:
        if self._done:
            return
        self._done = True
        self._on_terminate()
        self._cancel_tasks()
        if error is None:
            self._publish_terminated("completed", None)
            self._down.on_complete()
        else:
            self._publish_terminated("failed", error)
            self._down.on_error(error)

    def _on_terminate(self) -> None:
        """Hook: the stage ends (completed, failed or cancelled); called once. Release what
        the stage holds and abandon the acks of items it will never deliver."""

    def _publish_terminated(self, outcome: str, error: BaseException | None) -> None:
        bus = self._rt.bus
        if bus.active:
            bus.publish(StageTerminated(
                source=f"{self._rt.name}/{self.name}", pipeline=self._rt.name, stage=self.name,
                outcome=outcome, statistics=self.statistics(), error=error,
            ))

    def _publish_dropped(self, count: int, reason: str) -> None:
        bus = self._rt.bus
        if bus.active:
            bus.publish(ItemsDropped(
                source=f"{self._rt.name}/{self.name}", pipeline=self._rt.name, stage=self.name,
                count=count, reason=reason,
            ))

    def _publish_failed(self, error: BaseException) -> None:
        bus = self._rt.bus
        if bus.active:
            bus.publish(ItemFailed(
                source=f"{self._rt.name}/{self.name}", pipeline=self._rt.name, stage=self.name,
                error=error,
            ))
