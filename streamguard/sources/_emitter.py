"""`Emitter`: a push source whose ``await emit(x)`` waits while there is no demand."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

from ..core._ack import Ack
from ..core._errors import StreamClosedError, WouldBlock, require
from ..core._protocol import ChunkSubscriber
from ..core._publisher import Publisher
from ..core._stream import Stream, closed_error

T = TypeVar("T")


class Emitter(Generic[T]):
    """Feed a pipeline from code that produces items when it likes.

    ``await emit(item)`` returns once the item was handed downstream, which happens only when
    there is demand: a slow pipeline slows the producer down. The emitter has one
    subscriber; :meth:`stream` returns the stream to build the pipeline on. Cancelling the
    pipeline makes the emitter forget its subscriber; a drain completes it.

    Example::

        emitter = Emitter[int]()
        task = asyncio.create_task(emitter.stream().pipe(op.sink(print)).run())
        for i in range(3):
            await emitter.emit(i)
        emitter.complete()
        await task
    """

    def __init__(self, *, name: str = "emitter") -> None:
        require(isinstance(name, str), "Emitter: name must be a str", name)
        self.name = name
        self._pub: _EmitterPublisher[T] | None = None
        self._subscribed = False
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self._cancelled = False

    def stream(self) -> Stream[T]:
        """The stream this emitter feeds (subscribable once)."""
        return Stream(self._subscribe)

    def _subscribe(self, down: ChunkSubscriber[T]) -> None:
        if self._subscribed:
            raise StreamClosedError(f"Emitter {self.name!r} already has a subscriber; "
                                    "create one emitter per pipeline")
        self._subscribed = True
        self._pub = _EmitterPublisher(self, down)
        if self._closed:
            self._pub._complete()
            return
        self._pub.start()

    @property
    def demand(self) -> int:
        """Outstanding demand: how many items may be emitted without waiting."""
        return 0 if self._pub is None or self._pub.finished else self._pub._demand

    async def emit(self, item: T, ack: Ack | None = None) -> None:
        """Hand *item* downstream, waiting while there is no demand.

        *ack*, if given, is the item's completion handle: once the item is handed downstream
        the pipeline settles it (done, failed or abandoned) exactly once. If the item is
        never handed downstream, because the stream was completed, failed or cancelled
        (before or while this call waits) or this call itself was cancelled, *ack* is
        abandoned (the item was not processed) and the error is raised: whoever awaits the
        ack never waits forever.

        Raises:
            StreamClosedError: the stream ended or its subscriber cancelled it.
        """
        try:
            while self.demand == 0:
                self._check_open()
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                finally:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
        except BaseException:
            # The item never left the producer: nobody else will ever settle its ack.
            if ack is not None:
                ack.abandon()
            raise
        self.emit_nowait(item, ack)

    def emit_nowait(self, item: T, ack: Ack | None = None) -> None:
        """Hand *item* downstream now; raise :class:`WouldBlock` if there is no demand.

        *ack* is settled as in :meth:`emit`; on a closed or cancelled stream it is abandoned
        before :class:`StreamClosedError` is raised. On :class:`WouldBlock` it is left
        untouched: the item is still the caller's, to emit again later with the same ack.
        """
        try:
            self._check_open()
        except StreamClosedError:
            if ack is not None:
                ack.abandon()
            raise
        pub = self._pub
        if pub is None or pub._demand == 0:
            raise WouldBlock(f"Emitter {self.name!r} has no demand; await emit() to wait for it")
        pub._emit([item], None if ack is None else [ack])

    def complete(self) -> None:
        """End the stream; waiting emitters get :class:`StreamClosedError`."""
        if not self._closed:
            self._closed = True
            if self._pub is not None:
                self._pub._complete()
            self._wake_all()

    def fail(self, error: BaseException) -> None:
        """End the stream with *error*."""
        if not self._closed:
            self._closed = True
            if self._pub is not None:
                self._pub._error(error)
            self._wake_all()

    def _check_open(self) -> None:
        if self._cancelled:
            raise StreamClosedError(f"Emitter {self.name!r} was cancelled by its subscriber")
        if self._closed or (self._pub is not None and self._pub.finished):
            raise closed_error(f"Emitter {self.name!r}")

    def _on_demand(self, demand: int) -> None:
        for _ in range(min(demand, len(self._waiters))):
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _on_cancel(self) -> None:
        self._cancelled = True
        self._wake_all()

    def _wake_all(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)


class _EmitterPublisher(Publisher[T]):
    """The emitter's subscription: demand wakes waiting ``emit`` calls."""

    kind = "Emitter"

    def __init__(self, emitter: Emitter[T], down: ChunkSubscriber[T]) -> None:
        super().__init__(down, emitter.name)
        self._emitter: Emitter[T] | None = emitter

    def _on_request(self) -> None:
        if self._emitter is not None:
            self._emitter._on_demand(self._demand)

    def _on_cancel(self) -> None:
        if self._emitter is not None:
            self._emitter._on_cancel()

    def _on_drain(self, timeout: float | None) -> None:
        if self._emitter is not None:
            self._emitter.complete()
