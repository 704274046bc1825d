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

from ..core._ack import Ack
from ..core._errors import ConfigError, require
from ..core._outbox import OutboxStage
from ..core._overflow import Overflow, parse_overflow
from ..core._protocol import ChunkSubscriber
from ..core._stream import Stream

T = TypeVar("T")


class _ObservableStage(OutboxStage[T, T]):
    """Holds what the Observable pushes until downstream asks for it."""

    kind = "from_observable"

    def __init__(
        self, down: ChunkSubscriber[T], observable: Observable[T], capacity: int,
        overflow: Overflow,
    ) -> None:
        super().__init__(down, None, capacity, overflow)
        self._observable = observable
        self._disposable: Any = None
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()

    def start(self) -> None:
        self.on_subscribe(_NoUpstream())
        if not self._done:
            self._disposable = self._observable.subscribe(
                on_next=self._on_rx_next, on_error=self._on_rx_error,
                on_completed=self._on_rx_completed,
            )

    def _from_rx_thread(self, fn: Any, *args: Any) -> bool:
        if threading.get_ident() != self._thread:
            self._loop.call_soon_threadsafe(fn, *args)
            return True
        return False

    def _on_rx_next(self, item: T) -> None:
        if self._from_rx_thread(self._on_rx_next, item) or self._done:
            return
        self._received += 1
        try:
            self._put(item, None)
        except Exception as exc:
            self._fail(exc)
            return
        self._drain()

    def _on_rx_error(self, error: Exception) -> None:
        if not self._from_rx_thread(self._on_rx_error, error):
            self._terminate(error)

    def _on_rx_completed(self) -> None:
        if not self._from_rx_thread(self._on_rx_completed):
            self.on_complete()

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:  # pragma: no cover
        raise AssertionError("from_observable has no upstream stage")

    def _on_cancel(self) -> None:
        if self._disposable is not None:
            self._disposable.dispose()

    def _on_terminate(self) -> None:
        super()._on_terminate()
        self._on_cancel()


class _NoUpstream:
    def request(self, n: int) -> None:
        pass

    def cancel(self) -> None:
        pass


def from_observable(
    observable: Observable[T], *, capacity: int, overflow: Overflow | str
) -> Stream[T]:
    """Feed a pipeline from a reactivex Observable through a bounded buffer.

    Args:
        observable: the Rx source (subscribed once per stream subscription).
        capacity: the most items held while downstream has no demand.
        overflow: required, and lossy: ``drop_oldest``, ``drop_newest``, ``keep_latest`` or
            ``error`` — ``backpressure`` is refused because Rx cannot be slowed down.
    """
    require(isinstance(capacity, int) and capacity >= 1, "capacity must be an int >= 1", capacity)
    strategy = parse_overflow(overflow)
    if strategy is Overflow.BACKPRESSURE:
        raise ConfigError(
            "overflow must be lossy for an Observable (it cannot be slowed down), got "
            "'backpressure'; choose drop_oldest, drop_newest, keep_latest or error"
        )

    def subscribe(down: ChunkSubscriber[T]) -> None:
        _ObservableStage(down, observable, capacity, strategy).start()

    return Stream(subscribe)


def to_observable(stream: Stream[T], *, prefetch: int = 1024) -> Observable[T]:
    """Expose *stream* as an Observable; each Rx subscription runs it as a task on the running
    event loop (subscribe from within that loop). Disposing cancels the pipeline."""

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


