"""The public factories of the fan-in, fan-out, nesting and error-recovery operators.

They are re-exported by :mod:`streamguard.operators` (one block there); each stage lives in
its own private module. Every factory checks its arguments when the pipeline is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..core._errors import require
from ..core._lift import lift
from ..core._stream import Operator, Stream
from ._flat_map import FlatMapStage
from ._merge import combine

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")

DEFAULT_INNER_PREFETCH = 256
"""Items requested ahead from each input of ``merge``, ``concat``, ``zip`` and ``flat_map``."""


def _check_prefetch(prefetch: object) -> None:
    require(isinstance(prefetch, int) and not isinstance(prefetch, bool) and prefetch >= 1,
            "prefetch must be an int >= 1", prefetch)


def _check_streams(what: str, streams: tuple[object, ...]) -> None:
    for i, s in enumerate(streams):
        if not isinstance(s, Stream):
            raise TypeError(f"{what}() takes streams, got {type(s).__name__} {s!r} at position "
                            f"{i}; wrap plain values with from_iterable(...)")


def merge(*streams: Stream[T], prefetch: int = DEFAULT_INNER_PREFETCH,
          name: str | None = None) -> Stream[T]:
    """Interleave the items of *streams* as they arrive; complete when all completed.

    Every input is subscribed at once and asked for *prefetch* items ahead; downstream
    demand is served round-robin across the inputs that have items waiting, so one slow
    input never blocks the others. The first error fails the merged stream (and cancels the
    other inputs). Items keep their own acks.

    Memory: at most ``len(streams) × prefetch`` items held.

    Example::

        both = op.merge(orders, refunds)
    """
    _check_streams("merge", streams)
    _check_prefetch(prefetch)
    return combine(streams, concurrency=max(1, len(streams)), prefetch=prefetch, kind="merge",
                   name=name)


def concat(*streams: Stream[T], prefetch: int = DEFAULT_INNER_PREFETCH,
           name: str | None = None) -> Stream[T]:
    """The items of each of *streams* in turn: the next is subscribed once the previous
    completed. Memory: at most *prefetch* items held."""
    _check_streams("concat", streams)
    _check_prefetch(prefetch)
    return combine(streams, concurrency=1, prefetch=prefetch, kind="concat", name=name)


def flat_map(fn: Callable[[A], Stream[B]], *, concurrency: int = 16,
             prefetch: int = DEFAULT_INNER_PREFETCH, name: str | None = None) -> Operator[A, B]:
    """Map every item to a stream and interleave the items of those streams.

    At most *concurrency* inner streams are subscribed at once (the upstream is asked for a
    new item only when one finished); each is asked for *prefetch* items ahead and served
    round-robin. An acked item completes at its source once its inner stream completed and
    every item derived from it completed downstream (fails if one failed).

    Memory: at most ``concurrency × prefetch`` items held.

    Example::

        lines = files.pipe(op.flat_map(read_lines, concurrency=4))
    """
    require(isinstance(concurrency, int) and not isinstance(concurrency, bool)
            and concurrency >= 1, "concurrency must be an int >= 1", concurrency)
    _check_prefetch(prefetch)
    if not callable(fn):
        raise TypeError(f"flat_map() takes a function item -> Stream, got {fn!r}")
    return lift(lambda down: FlatMapStage(down, fn, concurrency=concurrency, prefetch=prefetch,
                                          name=name))


def concat_map(fn: Callable[[A], Stream[B]], *, prefetch: int = DEFAULT_INNER_PREFETCH,
               name: str | None = None) -> Operator[A, B]:
    """Map every item to a stream and emit those streams' items one stream after another,
    in upstream order (``flat_map`` with concurrency 1). Memory: at most *prefetch* items."""
    _check_prefetch(prefetch)
    if not callable(fn):
        raise TypeError(f"concat_map() takes a function item -> Stream, got {fn!r}")
    return lift(lambda down: FlatMapStage(down, fn, concurrency=1, prefetch=prefetch, name=name,
                                          kind="concat_map"))


