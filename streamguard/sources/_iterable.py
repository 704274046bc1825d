"""A source over a synchronous iterable: chunks under demand, with a bounded slice of the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Generic, TypeVar

from ..core._ack import Ack
from ..core._demand import UNBOUNDED, add_demand, demand_error
from ..core._errors import require
from ..core._protocol import ChunkSubscriber
from ..core._stream import Stream

T = TypeVar("T")

DEFAULT_CHUNK = 256
# Chunks emitted in one go before yielding the event loop, so an unbounded request over a
# huge iterable cannot starve other tasks (timers, I/O, other pipelines).
_CHUNKS_PER_SLICE = 64


class IterableSubscription(Generic[T]):
    """Emits ``min(demand, chunk_size)`` items per call to ``on_chunk``.

    ``request`` called from inside ``on_chunk`` only adds demand; the outer loop emits it,
    so there is no recursion between ``request`` and ``on_chunk`` (rule 3.3).
    """

    __slots__ = ("_ack", "_busy", "_cancelled", "_chunk", "_demand", "_down", "_it", "_src")

    def __init__(
        self, iterable: Iterable[T], down: ChunkSubscriber[T], chunk_size: int,
        ack: Callable[[T], Ack] | None,
    ) -> None:
        self._src = iterable
        self._it: Iterator[T] | None = None
        self._down = down
        self._chunk = chunk_size
        self._ack = ack
        self._demand = 0
        self._busy = False  # emitting now, or a continuation is scheduled
        self._cancelled = False

    def request(self, n: int) -> None:
        if self._cancelled:
            return
        if n <= 0:
            self._cancelled = True
            self._down.on_error(demand_error("from_iterable", n))
            return
        self._demand = add_demand(self._demand, n)
        if not self._busy:
            self._busy = True
            self._drain()

    def cancel(self) -> None:
        self._cancelled = True

    def _drain(self) -> None:
        down = self._down
        for _ in range(_CHUNKS_PER_SLICE):
            if self._cancelled or self._demand == 0:
                self._busy = False
                return
            want = self._chunk if self._demand > self._chunk else self._demand
            try:
                if self._it is None:
                    self._it = iter(self._src)
                items = list(islice(self._it, want))
            except Exception as exc:
                self._cancelled = True
                down.on_error(exc)
                return
            if items:
                if self._demand < UNBOUNDED:
                    self._demand -= len(items)
                down.on_chunk(items, None if self._ack is None else [self._ack(x) for x in items])
            if len(items) < want:
                if not self._cancelled:
                    self._cancelled = True
                    down.on_complete()
                return
        try:
            asyncio.get_running_loop().call_soon(self._drain)
        except RuntimeError:  # no loop: subscribed synchronously; keep going in place
            self._drain()


def from_iterable(
    iterable: Iterable[T], *, chunk_size: int = DEFAULT_CHUNK,
    ack: Callable[[T], Ack] | None = None,
) -> Stream[T]:
    """A stream over *iterable*, re-iterated for every subscription.

    Args:
        iterable: the items.
        chunk_size: at most this many items are handed downstream per call.
        ack: optional factory giving each item an :class:`~streamguard.core.Ack`, for sources
            that must learn when each item is finished.

    Example::

        await from_iterable(range(3)).to_list()  # [0, 1, 2]
    """
    require(chunk_size >= 1, "chunk_size must be >= 1", chunk_size)

    def subscribe(down: ChunkSubscriber[T]) -> None:
        down.on_subscribe(IterableSubscription(iterable, down, chunk_size, ack))

    return Stream(subscribe)
