"""Sources over async iterables and async generator functions.

The source pulls the next item only when there is demand for it, and closes the iterator
(``aclose()``) when the stream ends, fails or is cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, Generic, TypeVar

from ..core._ack import Ack
from ..core._demand import add_demand, demand_error
from ..core._protocol import ChunkSubscriber
from ..core._runtime import current_runtime
from ..core._stream import Stream

T = TypeVar("T")


class AsyncIterableSubscription(Generic[T]):
    """Pulls from an async iterator in a task, one item per unit of demand."""

    def __init__(
        self, make: Callable[[], AsyncIterable[T]], down: ChunkSubscriber[T],
        ack: Callable[[T], Ack] | None,
    ) -> None:
        self._make = make
        self._down = down
        self._ack = ack
        self._demand = 0
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._cancelled = False
        self._rt = current_runtime()

    def request(self, n: int) -> None:
        if self._cancelled:
            return
        if n <= 0:
            self.cancel()
            self._down.on_error(demand_error("from_async_iterable", n))
            return
        self._demand = add_demand(self._demand, n)
        if self._task is None:
            self._wakeup = asyncio.Event()
            self._task = self._rt.spawn(self._pump(), "async-source")
        assert self._wakeup is not None
        self._wakeup.set()

    def cancel(self) -> None:
        if self._cancelled:
            return
        self._cancelled = True
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    async def _pump(self) -> None:
        assert self._wakeup is not None
        iterator: AsyncIterator[T] | None = None
        try:
            iterator = aiter(self._make())
            while not self._cancelled:
                while self._demand == 0:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                try:
                    item = await anext(iterator)
                except StopAsyncIteration:
                    self._finish(None)
                    return
                if self._cancelled:
                    return
                self._demand -= 1
                self._down.on_chunk([item], None if self._ack is None else [self._ack(item)])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._finish(exc)
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                # Cleanup must run even when we are being cancelled.
                await asyncio.shield(aclose())

    def _finish(self, error: Exception | None) -> None:
        if self._cancelled:
            return
        self._cancelled = True
        if error is None:
            self._down.on_complete()
        else:
            self._down.on_error(error)


def from_async_iterable(
    iterable: AsyncIterable[T] | Callable[[], AsyncIterable[T]], *,
    ack: Callable[[T], Ack] | None = None,
) -> Stream[T]:
    """A stream over an async iterable, or over an async generator function.

    Pass the *function* (``from_async_iterable(ticks)``) to get a fresh generator per
    subscription; an iterator object can only be consumed once.

    Example::

        async def ticks():
            for i in range(3):
                yield i

        await from_async_iterable(ticks).to_list()  # [0, 1, 2]
    """
    make: Callable[[], AsyncIterable[T]]
    if callable(iterable) and not hasattr(iterable, "__aiter__"):
        make = iterable
    else:
        obj: Any = iterable
        make = lambda: obj  # noqa: E731

    def subscribe(down: ChunkSubscriber[T]) -> None:
        down.on_subscribe(AsyncIterableSubscription(make, down, ack))

    return Stream(subscribe)
