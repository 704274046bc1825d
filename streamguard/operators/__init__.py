"""Operators: typed functions from stream to stream, composed with ``Stream.pipe``.

Every operator keeps memory bounded, passes completion (acks) along, counts what it drops,
and honours demand: no stage emits more than was requested of it.

Example::

    from streamguard import from_iterable
    from streamguard import operators as op

    evens = await from_iterable(range(10)).pipe(
        op.map(lambda x: x + 1),
        op.filter(lambda x: x % 2 == 0),
    ).to_list()
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
import math
from collections.abc import Awaitable, Callable
from typing import Any, Never, TypeVar

from ..core._errors import require
from ..core._lift import lift
from ..core._overflow import Overflow, parse_overflow
from ..core._stream import Operator
from ._batch import BatchStage
from ._buffer import BufferStage
from ._errors import OnError, check_on_error
from ._filter import FilterStage
from ._map import MapStage
from ._map_async import ConcurrentStage, MapAsyncStage
from ._sink import SyncSinkStage
from ._take import TakeStage, TakeWhileStage

__all__ = [
    "ConcurrentStage",
    "OnError",
    "Overflow",
    "batch",
    "buffer",
    "filter",
    "map",
    "map_async",
    "prefetch",
    "sink",
    "take",
    "take_while",
]

A = TypeVar("A")
B = TypeVar("B")
T = TypeVar("T")


def map(
    fn: Callable[[A], B], *, on_error: OnError = "fail", name: str | None = None
) -> Operator[A, B]:
    """Apply *fn* to every item.

    Args:
        fn: a plain function; use :func:`map_async` for coroutines.
        on_error: ``"fail"`` (default), ``"skip"``, or ``(error, item) -> replacement``.
        name: the stage's name in statistics and metrics.
    """
    check_on_error(on_error)
    if inspect.iscoroutinefunction(fn):
        raise TypeError(f"map() takes a plain function, got coroutine function {fn!r}; "
                        "use map_async() for async functions")
    return lift(lambda down: MapStage(down, fn, on_error, name))


def filter(
    predicate: Callable[[T], object], *, name: str | None = None
) -> Operator[T, T]:
    """Keep the items for which *predicate* is true; the others complete at their source."""
    return lift(lambda down: FilterStage(down, predicate, name))


def map_async(
    fn: Callable[[A], Awaitable[B]], *, concurrency: int = 1, ordered: bool = True,
    on_error: OnError = "fail", name: str | None = None,
) -> Operator[A, B]:
    """Await ``fn(item)`` for every item, at most *concurrency* calls in flight.

    With ``ordered=True`` (default) results leave in arrival order; otherwise as they finish.
    Calls in flight, finished results and items requested from upstream never exceed
    *concurrency* together.
    """
    require(isinstance(concurrency, int) and concurrency >= 1,
            "concurrency must be an int >= 1", concurrency)
    check_on_error(on_error)
    return lift(lambda down: MapAsyncStage(
        down, fn, concurrency=concurrency, ordered=ordered, on_error=on_error, name=name))


def batch(
    size: int, *, timeout: float | None = None, name: str | None = None
) -> Operator[T, list[T]]:
    """Group items into lists of *size*, or fewer when *timeout* seconds passed since a
    batch's first item. Completing a batch completes each of its items."""
    require(isinstance(size, int) and size >= 1, "size must be an int >= 1", size)
    require(timeout is None or timeout > 0, "timeout must be > 0 seconds or None", timeout)
    return lift(lambda down: BatchStage(down, size, timeout, name))


def buffer(
    capacity: int, *, overflow: Overflow | str = Overflow.BACKPRESSURE,
    replenish: int | None = None, name: str | None = None,
) -> Operator[T, T]:
    """A bounded buffer of *capacity* items.

    Args:
        capacity: the most items held.
        overflow: what to do when full (see :class:`Overflow`); the default,
            ``backpressure``, is lossless.
        replenish: with backpressure, ask upstream again once this many slots are free
            (default ``max(1, capacity // 4)``).
    """
    require(isinstance(capacity, int) and capacity >= 1, "capacity must be an int >= 1", capacity)
    strategy = parse_overflow(overflow)
    refill = max(1, capacity // 4) if replenish is None else replenish
    require(1 <= refill <= capacity, f"replenish must be between 1 and capacity={capacity}",
            replenish)
    return lift(lambda down: BufferStage(down, capacity, strategy, refill, name))


def prefetch(n: int, *, low_tide: float = 0.75, name: str | None = None) -> Operator[T, T]:
    """Request *n* items ahead and refill once ``low_tide × n`` were consumed (Reactor's
    ``limitRate``): big requests upstream, bounded memory, lossless."""
    require(isinstance(n, int) and n >= 1, "n must be an int >= 1", n)
    require(0 < low_tide <= 1, "low_tide must be in (0, 1]", low_tide)
    refill = builtins.max(1, math.ceil(n * low_tide))
    return lift(lambda down: BufferStage(down, n, Overflow.BACKPRESSURE, refill,
                                         name or "prefetch"))


def take(count: int, *, name: str | None = None) -> Operator[T, T]:
    """Emit the first *count* items, then complete and cancel upstream."""
    require(isinstance(count, int) and count >= 0, "count must be an int >= 0", count)
    return lift(lambda down: TakeStage(down, count, name))


def take_while(predicate: Callable[[T], object], *, name: str | None = None) -> Operator[T, T]:
    """Emit items while *predicate* holds, then complete and cancel upstream."""
    return lift(lambda down: TakeWhileStage(down, predicate, name))


def sink(
    fn: Callable[[T], Any], *, concurrency: int = 1, prefetch: int = 1024,
    on_error: OnError = "fail", name: str | None = None,
) -> Operator[T, Never]:
    """End the pipeline with *fn*, called (or awaited) once per item.

    The sink creates demand on its own; an item completes at its source once *fn* returned
    for it. Async functions run with at most *concurrency* calls in flight.
    """
    require(isinstance(concurrency, int) and concurrency >= 1,
            "concurrency must be an int >= 1", concurrency)
    require(isinstance(prefetch, int) and prefetch >= 1, "prefetch must be an int >= 1", prefetch)
    check_on_error(on_error)
    if inspect.iscoroutinefunction(fn) or asyncio.iscoroutinefunction(fn):
        return lift(lambda down: MapAsyncStage(
            down, fn, concurrency=concurrency, ordered=False, on_error=on_error,
            name=name or "sink", emits=False))
    return lift(lambda down: SyncSinkStage(down, fn, prefetch, on_error, name))
