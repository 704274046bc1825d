"""reactivex ⇄ streamguard.

An Observable cannot be slowed down, so :func:`from_observable` takes a bounded buffer and an
explicit, lossy overflow strategy: what is dropped is counted and published, never silent.
:func:`to_observable` runs a stream on the current event loop for each Rx subscriber.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, TypeVar

import reactivex
from reactivex import Observable
from reactivex.abc import ObserverBase, SchedulerBase
from reactivex.disposable import Disposable

from ..core._errors import BufferOverflowError, ConfigError, require
from ..core._overflow import BoundedQueue, Overflow, OverflowPolicy, parse_overflow
from ..core._pipeline import DEFAULT_PREFETCH
from ..core._protocol import ChunkSubscriber
from ..core._publisher import Publisher
from ..core._runtime import StageStatistics
from ..core._stage import ItemsDropped
from ..core._stream import Stream

T = TypeVar("T")


class _ObservablePublisher(Publisher[T]):
    """Holds what the Observable pushes until downstream asks for it."""

    kind = "from_observable"

    def __init__(
        self, down: ChunkSubscriber[T], observable: Observable[T], capacity: int,
        overflow: Overflow,
    ) -> None:
        super().__init__(down, "from_observable")
        self._queue: BoundedQueue[T] = BoundedQueue(capacity, overflow, f"{self.kind} buffer")
        self._observable = observable
        self._disposable: Any = None
        self._rx_done = False
        self._loop_ref = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._received = 0
        self._emitted = 0
        self._dropped = 0
        self._rt.register(self)

    def start(self) -> None:
        super().start()
        if not self._finished:
            self._disposable = self._observable.subscribe(
                on_next=self._on_rx_next, on_error=self._on_rx_error,
                on_completed=self._on_rx_completed,
            )

    def statistics(self) -> StageStatistics:
        """A snapshot of the bridge's counters (drops included)."""
        return StageStatistics(
            pipeline=self._rt.name, stage=self.name, received=self._received,
            emitted=self._emitted, dropped=self._dropped, rejected=0, failed=0, in_flight=0,
            buffered=len(self._queue), capacity=self._queue.capacity, demand=self._demand)

    def _from_rx_thread(self, fn: Any, *args: Any) -> bool:
        if threading.get_ident() != self._thread:
            self._loop_ref.call_soon_threadsafe(fn, *args)
            return True
        return False

    def _on_rx_next(self, item: T) -> None:
        if self._from_rx_thread(self._on_rx_next, item) or self._finished or self._rx_done:
            return
        self._received += 1
        try:
            dropped, _ = self._queue.offer(item, None)
        except BufferOverflowError as exc:
            self._stop()
            self._error(exc)
            return
        if dropped:
            self._dropped += 1
            bus = self._rt.bus
            if bus.active:
                bus.publish(ItemsDropped(
                    source=f"{self._rt.name}/{self.name}", pipeline=self._rt.name,
                    stage=self.name, count=1, reason=f"overflow={self._queue.strategy.value}"))
        self._ready()

    def _on_rx_error(self, error: Exception) -> None:
        if not self._from_rx_thread(self._on_rx_error, error):
            self._rx_done = True
            self._error(error)

    def _on_rx_completed(self) -> None:
        if not self._from_rx_thread(self._on_rx_completed):
            self._rx_done = True
            self._ready()

    def _on_request(self) -> None:
        queue = self._queue
        while self._demand > 0 and queue.items and not self._finished:
            items, acks = queue.take(self._demand)
            self._emitted += len(items)
            self._emit(items, acks)
        if self._rx_done and not queue.items:
            self._complete()

    def _on_cancel(self) -> None:
        self._queue.clear()
        if self._disposable is not None:
            self._disposable.dispose()

    def _on_drain(self, timeout: float | None) -> None:
        # Stop taking from the Observable; what is held still goes downstream.
        self._rx_done = True
        if self._disposable is not None:
            self._disposable.dispose()
        self._ready()


def from_observable(
    observable: Observable[T], *, capacity: int, overflow: OverflowPolicy
) -> Stream[T]:
    """Feed a pipeline from a reactivex Observable through a bounded buffer.

    Args:
        observable: the Rx source (subscribed once per stream subscription).
        capacity: the most items held while downstream has no demand.
        overflow: required, and lossy: ``drop_oldest``, ``drop_newest``, ``keep_latest`` or
            ``error`` — ``backpressure`` is refused because Rx cannot be slowed down.
    """
    require(isinstance(capacity, int) and not isinstance(capacity, bool) and capacity >= 1,
            "from_observable: capacity must be an int >= 1", capacity)
    strategy = parse_overflow(overflow, "from_observable")
    if strategy is Overflow.BACKPRESSURE:
        raise ConfigError(
            "from_observable: overflow must be lossy for an Observable (it cannot be slowed "
            "down), got 'backpressure'; choose drop_oldest, drop_newest, keep_latest or error"
        )

    def subscribe(down: ChunkSubscriber[T]) -> None:
        _ObservablePublisher(down, observable, capacity, strategy).start()

    return Stream(subscribe)


def to_observable(stream: Stream[T], *, prefetch: int = DEFAULT_PREFETCH) -> Observable[T]:
    """Expose *stream* as an Observable; each Rx subscription runs it as a task on the running
    event loop (subscribe from within that loop). Disposing cancels the pipeline."""
    require(isinstance(prefetch, int) and not isinstance(prefetch, bool) and prefetch >= 1,
            "to_observable: prefetch must be an int >= 1", prefetch)

    def on_subscribe(observer: ObserverBase[T], scheduler: SchedulerBase | None = None) -> Any:
        loop = asyncio.get_running_loop()

        async def pump() -> None:
            try:
                async with stream.iterate(prefetch=prefetch) as items:
                    async for item in items:
                        observer.on_next(item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                observer.on_error(exc)
            else:
                observer.on_completed()

        task = loop.create_task(pump())

        def dispose() -> None:
            task.cancel()

        return Disposable(dispose)

    return reactivex.create(on_subscribe)


