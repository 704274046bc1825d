"""`Emitter`: a push source whose ``await emit(x)`` waits while there is no demand."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Generic, TypeVar

from ..core._ack import Ack
from ..core._demand import UNBOUNDED, add_demand, demand_error
from ..core._errors import StreamClosedError, WouldBlock
from ..core._protocol import ChunkSubscriber
from ..core._stream import Stream, closed_error

T = TypeVar("T")


class Emitter(Generic[T]):
    """Feed a pipeline from code that produces items when it likes.

    ``await emit(item)`` returns once the item was handed downstream, which happens only when
    there is demand: a slow pipeline slows the producer down. The emitter has one
    subscriber; :meth:`stream` returns the stream to build the pipeline on.

    Example::

        emitter = Emitter[int]()
        task = asyncio.create_task(emitter.stream().pipe(op.sink(print)).run())
        for i in range(3):
            await emitter.emit(i)
        emitter.complete()
        await task
    """

    def __init__(self, *, name: str = "emitter") -> None:
        self.name = name
        self._down: ChunkSubscriber[T] | None = None
        self._demand = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self._cancelled = False

    def stream(self) -> Stream[T]:
        """The stream this emitter feeds (subscribable once)."""
        return Stream(self._subscribe)

    def _subscribe(self, down: ChunkSubscriber[T]) -> None:
        if self._down is not None:
            raise StreamClosedError(f"Emitter {self.name!r} already has a subscriber; "
                                    "create one emitter per pipeline")
        self._down = down
        down.on_subscribe(_EmitterSubscription(self))

    @property
    def demand(self) -> int:
        """Outstanding demand: how many items may be emitted without waiting."""
        return self._demand

    async def emit(self, item: T, ack: Ack | None = None) -> None:
        """Hand *item* downstream, waiting while there is no demand."""
        while self._demand == 0:
            self._check_open()
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        self.emit_nowait(item, ack)

    def emit_nowait(self, item: T, ack: Ack | None = None) -> None:
        """Hand *item* downstream now; raise :class:`WouldBlock` if there is no demand."""
        self._check_open()
        if self._demand == 0 or self._down is None:
            raise WouldBlock(f"Emitter {self.name!r} has no demand; await emit() to wait for it")
        if self._demand < UNBOUNDED:
            self._demand -= 1
        self._down.on_chunk([item], None if ack is None else [ack])

    def complete(self) -> None:
        """End the stream; waiting emitters get :class:`StreamClosedError`."""
        if not self._closed:
            self._closed = True
            if self._down is not None and not self._cancelled:
                self._down.on_complete()
            self._wake_all()

    def fail(self, error: BaseException) -> None:
        """End the stream with *error*."""
        if not self._closed:
            self._closed = True
            if self._down is not None and not self._cancelled:
                self._down.on_error(error)
            self._wake_all()

    def _check_open(self) -> None:
        if self._cancelled:
            raise StreamClosedError(f"Emitter {self.name!r} was cancelled by its subscriber")
        if self._closed:
            raise closed_error(f"Emitter {self.name!r}")

    def _request(self, n: int) -> None:
        if self._cancelled or self._closed:
            return
        if n <= 0:
            self._cancelled = True
            assert self._down is not None
            self._down.on_error(demand_error(f"Emitter {self.name!r}", n))
            self._wake_all()
            return
        self._demand = add_demand(self._demand, n)
        for _ in range(min(n, len(self._waiters))):
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _cancel(self) -> None:
        self._cancelled = True
        self._wake_all()

    def _wake_all(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)


class _EmitterSubscription:
    __slots__ = ("_emitter",)

    def __init__(self, emitter: Emitter[Any]) -> None:
        self._emitter = emitter

    def request(self, n: int) -> None:
        self._emitter._request(n)

    def cancel(self) -> None:
        self._emitter._cancel()
