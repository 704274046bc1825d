"""A source over a synchronous iterable: chunks under demand, with a bounded slice of the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TypeVar

from ..core._ack import Ack
from ..core._errors import ConfigError, require
from ..core._protocol import ChunkSubscriber
from ..core._publisher import Publisher
from ..core._stream import Stream

T = TypeVar("T")

DEFAULT_CHUNK = 256
# Chunks emitted in one go before yielding the event loop, so an unbounded request over a
# huge iterable cannot starve other tasks (timers, I/O, other pipelines).
_CHUNKS_PER_SLICE = 64


class IterableSubscription(Publisher[T]):
    """Emits ``min(demand, chunk_size)`` items per call to ``on_chunk``."""

    kind = "from_iterable"

    def __init__(
        self, iterable: Iterable[T], down: ChunkSubscriber[T], chunk_size: int,
        ack: Callable[[T], Ack] | None, name: str,
    ) -> None:
        super().__init__(down, name)
        self._src = iterable
        self._it: Iterator[T] | None = None
        self._chunk = chunk_size
        self._ack = ack
        self._scheduled = False  # a continuation is scheduled on the loop

    def _on_request(self) -> None:
        if self._scheduled:
            return  # the scheduled continuation will emit it
        chunk, ack = self._chunk, self._ack
        for _ in range(_CHUNKS_PER_SLICE):
            demand = self._demand
            if self._finished or demand == 0:
                return
            want = chunk if demand > chunk else demand
            try:
                if self._it is None:
                    self._it = iter(self._src)
                items = list(islice(self._it, want))
            except Exception as exc:
                self._error(exc)
                return
            if items:
                self._emit(items, None if ack is None else [ack(x) for x in items])
            if len(items) < want:
                self._complete()
                return
        try:
            asyncio.get_running_loop().call_soon(self._continue)
            self._scheduled = True
        except RuntimeError:  # no loop: subscribed synchronously; keep going in place
            self._ready()

    def _continue(self) -> None:
        self._scheduled = False
        self._ready()


def from_iterable(
    iterable: Iterable[T], *, chunk_size: int = DEFAULT_CHUNK,
    ack: Callable[[T], Ack] | None = None, name: str | None = None,
) -> Stream[T]:
    """A stream over *iterable*, re-iterated for every subscription.

    Args:
        iterable: the items: anything ``iter()`` accepts (refused when the stream is built
            otherwise; a generator is not touched before a subscription).
        chunk_size: at most this many items are handed downstream per call.
        ack: optional factory giving each item an :class:`~streamguard.core.Ack`, for sources
            that must learn when each item is finished.
        name: the source's name in errors (default ``"from_iterable"``).

    Example::

        await from_iterable(range(3)).to_list()  # [0, 1, 2]
    """
    _check_iterable(iterable)
    require(isinstance(chunk_size, int) and not isinstance(chunk_size, bool)
            and chunk_size >= 1, "from_iterable: chunk_size must be an int >= 1", chunk_size)
    require(ack is None or callable(ack), "from_iterable: ack must be a callable (item) -> Ack "
            "or None", ack)
    require(name is None or isinstance(name, str), "from_iterable: name must be a str or None",
            name)
    label = name or "from_iterable"

    def subscribe(down: ChunkSubscriber[T]) -> None:
        IterableSubscription(iterable, down, chunk_size, ack, label).start()

    return Stream(subscribe)




def _check_iterable(iterable: object) -> None:
    """Refuse what ``iter()`` would refuse, when the stream is built: read from the type
    (``__iter__``, or the old ``__getitem__`` protocol), so a generator is not started or
    consumed before a subscription."""
    kind = type(iterable)
    if hasattr(kind, "__iter__") or hasattr(kind, "__getitem__"):
        return
    article = "an" if kind.__name__[:1].lower() in "aeiou" else "a"
    hint = (" (an async iterable: use from_async_iterable)" if hasattr(kind, "__aiter__")
            else "")
    raise ConfigError(f"from_iterable: iterable must be iterable (a list, a range, a "
                      f"generator …){hint}, got {iterable!r} ({article} {kind.__name__})")
