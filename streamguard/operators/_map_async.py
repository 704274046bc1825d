"""``map_async``: at most N calls of an async function in flight, ordered or not.

Memory is bounded by *concurrency*: calls in flight, results waiting for downstream demand
and items requested from upstream together never exceed it. :class:`ConcurrentStage` is the
reusable base for stages that do per-item async work (``sink`` with an async function, the
rate limiter's stage, the guarded sink).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from ..core._ack import Ack
from ..core._outbox import OutboxStage
from ..core._protocol import ChunkSubscriber
from ._errors import OnError, item_failed

A = TypeVar("A")
B = TypeVar("B")

_PENDING: Any = object()
_SKIPPED: Any = object()


class _Rejected:
    """What :meth:`ConcurrentStage.process` returns for an item it routed elsewhere."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ConcurrentStage.REJECTED"


REJECTED: Any = _Rejected()


class _Slot(Generic[B]):
    __slots__ = ("ack", "value")

    def __init__(self, ack: Ack | None) -> None:
        self.ack = ack
        self.value: B = _PENDING


class ConcurrentStage(OutboxStage[A, B]):
    """Runs :meth:`process` for each item with bounded concurrency.

    Subclasses override :meth:`process` and may override :meth:`_may_request` (return
    ``False`` to stop asking upstream, e.g. while a breaker is open). With ``emits=False`` the
    stage is a sink: an item completes at its source when ``process`` returns, and the stage
    asks upstream for more on its own, without downstream demand.
    """

    kind = "map_async"

    REJECTED: Any = REJECTED
    """Return this from :meth:`process` when the item was routed elsewhere (dead-lettered,
    rejected by a limiter): it completes at its source and counts as rejected, not emitted."""

    def __init__(
        self, downstream: ChunkSubscriber[B], *, concurrency: int, ordered: bool,
        on_error: OnError, name: str | None, emits: bool = True,
    ) -> None:
        super().__init__(downstream, name, capacity=concurrency)
        self._concurrency = concurrency
        self._ordered = ordered
        self._on_error = on_error
        self._emits = emits
        self._slots: deque[_Slot[B]] = deque()
        self._in_flight_n = 0
        self._outstanding = 0  # requested from upstream, not yet received
        self._started = False
        self._tasks: set[asyncio.Task[Any]] = set()

    async def process(self, item: A) -> B:
        """Do the work for one item."""
        raise NotImplementedError

    def _may_request(self) -> bool:
        return True

    # ---------------------------------------------------------------- statistics
    def _in_flight(self) -> int:
        return self._in_flight_n

    def _buffered(self) -> int:
        return len(self._outbox) + len(self._slots) - (self._in_flight_n if self._ordered else 0)

    def _busy(self) -> bool:
        return self._in_flight_n > 0 or bool(self._slots)

    # ---------------------------------------------------------------- demand
    def on_subscribe(self, subscription: Any) -> None:
        super().on_subscribe(subscription)
        if not self._emits and not self._done:
            self._started = True
            self._top_up()

    def request(self, n: int) -> None:
        self._started = True
        super().request(n)

    def _top_up(self) -> None:
        if not self._started or self._done or self._upstream_done or not self._may_request():
            return
        held = self._in_flight_n + len(self._outbox) + len(self._slots) + self._outstanding
        if self._ordered:
            held -= self._in_flight_n  # in-flight items are also slots
        free = self._concurrency - held
        if free > 0:
            self._outstanding += free
            self._up.request(free)

    # ---------------------------------------------------------------- items
    def on_chunk(self, items: list[A], acks: list[Ack] | None) -> None:
        if self._done:
            return
        self._received += len(items)
        self._outstanding = max(0, self._outstanding - len(items))
        for i, item in enumerate(items):
            slot: _Slot[B] = _Slot(None if acks is None else acks[i])
            if self._ordered:
                self._slots.append(slot)
            self._in_flight_n += 1
            task = self._spawn(self._run(item, slot))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, item: A, slot: _Slot[B]) -> None:
        try:
            slot.value = await self.process(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self._resolve_error(item, slot, exc):
                return
        finally:
            self._in_flight_n -= 1
        self._settle(slot)

    def _resolve_error(self, item: A, slot: _Slot[B], exc: Exception) -> bool:
        """Apply the error policy; return True if the slot is settled and may go on."""
        self._failed += 1
        self._publish_failed(exc)
        policy: Any = self._on_error
        if policy == "skip":
            if slot.ack is not None:
                slot.ack.fail(item_failed(self.name, item, exc))
            slot.ack = None
            slot.value = _SKIPPED
            return True
        if policy != "fail":
            try:
                slot.value = policy(exc, item)
                return True
            except Exception as exc2:
                exc = exc2
        failure = item_failed(self.name, item, exc)
        if slot.ack is not None:
            slot.ack.fail(failure)
        self._fail(failure)
        return False

    def _settle(self, slot: _Slot[B]) -> None:
        if self._done:
            return
        if not self._ordered:
            self._deliver(slot)
        else:
            while self._slots and self._slots[0].value is not _PENDING:
                self._deliver(self._slots.popleft())
        self._drain()
        self._top_up()

    def _deliver(self, slot: _Slot[B]) -> None:
        if slot.value is _SKIPPED:
            return
        if slot.value is REJECTED:
            self._rejected += 1
            if slot.ack is not None:
                slot.ack.done()
            return
        if self._emits:
            self._put(slot.value, slot.ack)
        else:
            self._emitted += 1  # counted as delivered to the sink's target
            if slot.ack is not None:
                slot.ack.done()

    def _on_cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _on_terminate(self) -> None:
        super()._on_terminate()
        self._on_cancel()
        self._slots.clear()


class MapAsyncStage(ConcurrentStage[A, B]):
    """``map_async``: ``process`` awaits the user's function."""

    def __init__(
        self, downstream: ChunkSubscriber[B], fn: Callable[[A], Awaitable[B]], *,
        concurrency: int, ordered: bool, on_error: OnError, name: str | None,
        emits: bool = True,
    ) -> None:
        super().__init__(downstream, concurrency=concurrency, ordered=ordered,
                         on_error=on_error, name=name, emits=emits)
        self._fn = fn

    async def process(self, item: A) -> B:
        return await self._fn(item)
