"""Sources over async iterables and async generator functions.

The source pulls the next item only when there is demand for it, and closes the iterator
(``aclose()``) when the stream ends, fails, is cancelled or drained.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, TypeVar

from ..core._ack import Ack
from ..core._errors import require
from ..core._protocol import ChunkSubscriber
from ..core._publisher import Publisher
from ..core._stream import Stream

T = TypeVar("T")


class AsyncIterableSubscription(Publisher[T]):
    """Pulls from an async iterator in a task, one item per unit of demand."""

    kind = "from_async_iterable"

    def __init__(
        self, make: Callable[[], AsyncIterable[T]], down: ChunkSubscriber[T],
        ack: Callable[[T], Ack] | None, name: str,
    ) -> None:
        super().__init__(down, name)
        self._make = make
        self._ack = ack
        self._wakeup: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    def _on_request(self) -> None:
        if self._task is None:
            self._task = self._rt.spawn(self._pump(), "async-source")
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    def _on_cancel(self) -> None:
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    async def _pump(self) -> None:
        iterator: AsyncIterator[T] | None = None
        try:
            iterator = aiter(self._make())
            while not self._finished:
                if self._demand == 0:
                    self._wakeup = asyncio.get_running_loop().create_future()
                    await self._wakeup
                    continue
                try:
                    item = await anext(iterator)
                except StopAsyncIteration:
                    self._complete()
                    return
                self._emit([item], None if self._ack is None else [self._ack(item)])
        except Exception as exc:
            self._error(exc)
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                # Cleanup must run even when we are being cancelled.
                await asyncio.shield(aclose())

    def _on_drain(self, timeout: float | None) -> None:
        # Stop pulling; complete once the iterator is closed (when the pump task ends).
        task = self._task
        self._stop()
        if task is None or task.done():
            self._complete()
        else:
            task.add_done_callback(lambda _: self._complete())


def from_async_iterable(
    iterable: AsyncIterable[T] | Callable[[], AsyncIterable[T]], *,
    ack: Callable[[T], Ack] | None = None, name: str | None = None,
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
    if hasattr(iterable, "__aiter__"):
        obj: Any = iterable
        make = lambda: obj  # noqa: E731
    elif callable(iterable):
        make = iterable
    else:
        raise TypeError(
            f"from_async_iterable takes an async iterable or an async generator function, "
            f"got {iterable!r}; use from_iterable() for a plain iterable")
    require(ack is None or callable(ack),
            "from_async_iterable: ack must be a callable (item) -> Ack or None", ack)
    require(name is None or isinstance(name, str),
            "from_async_iterable: name must be a str or None", name)
    label = name or "from_async_iterable"

    def subscribe(down: ChunkSubscriber[T]) -> None:
        AsyncIterableSubscription(make, down, ack, label).start()

    return Stream(subscribe)
