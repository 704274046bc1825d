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

import builtins
import inspect
import math
from collections.abc import Awaitable, Callable
from typing import Any, Never, TypeVar

from ..core._errors import require as _require
from ..core._lift import lift as _lift
from ..core._overflow import Overflow
from ..core._overflow import parse_overflow as _parse_overflow
from ..core._stream import Operator
from ._batch import BatchStage as _BatchStage
from ._buffer import BufferStage as _BufferStage
from ._errors import OnError
from ._errors import check_on_error as _check_on_error
from ._filter import FilterStage as _FilterStage
from ._map import MapStage as _MapStage
from ._map_async import ConcurrentStage
from ._map_async import MapAsyncStage as _MapAsyncStage
from ._sink import SyncSinkStage as _SyncSinkStage
from ._take import TakeStage as _TakeStage
from ._take import TakeWhileStage as _TakeWhileStage

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

_A = TypeVar("_A")
_B = TypeVar("_B")
_T = TypeVar("_T")


def map(
    fn: Callable[[_A], _B], *, on_error: OnError = "fail", name: str | None = None
) -> Operator[_A, _B]:
    """Apply *fn* to every item.

    Args:
        fn: a plain function; use :func:`map_async` for coroutines.
        on_error: ``"fail"`` (default), ``"skip"``, or ``(error, item) -> replacement``.
        name: the stage's name in statistics and metrics.
    """
    _check_on_error(on_error)
    if inspect.iscoroutinefunction(fn):
        raise TypeError(f"map() takes a plain function, got coroutine function {fn!r}; "
                        "use map_async() for async functions")
    return _lift(lambda down: _MapStage(down, fn, on_error, name))


def filter(
    predicate: Callable[[_T], object], *, name: str | None = None
) -> Operator[_T, _T]:
    """Keep the items for which *predicate* is true; the others complete at their source."""
    return _lift(lambda down: _FilterStage(down, predicate, name))


def map_async(
    fn: Callable[[_A], Awaitable[_B]], *, concurrency: int = 1, ordered: bool = True,
    on_error: OnError = "fail", name: str | None = None,
) -> Operator[_A, _B]:
    """Await ``fn(item)`` for every item, at most *concurrency* calls in flight.

    With ``ordered=True`` (default) results leave in arrival order; otherwise as they finish.
    Calls in flight, finished results and items requested from upstream never exceed
    *concurrency* together.
    """
    _require(isinstance(concurrency, int) and concurrency >= 1,
            "concurrency must be an int >= 1", concurrency)
    _check_on_error(on_error)
    return _lift(lambda down: _MapAsyncStage(
        down, fn, concurrency=concurrency, ordered=ordered, on_error=on_error, name=name))


def batch(
    size: int, *, timeout: float | None = None, name: str | None = None
) -> Operator[_T, list[_T]]:
    """Group items into lists of *size*, or fewer when *timeout* seconds passed since a
    batch's first item. Completing a batch completes each of its items."""
    _require(isinstance(size, int) and size >= 1, "size must be an int >= 1", size)
    _require(timeout is None or timeout > 0, "timeout must be > 0 seconds or None", timeout)
    return _lift(lambda down: _BatchStage(down, size, timeout, name))


def buffer(
    capacity: int, *, overflow: Overflow | str = Overflow.BACKPRESSURE,
    replenish: int | None = None, name: str | None = None,
) -> Operator[_T, _T]:
    """A bounded buffer of *capacity* items.

    Args:
        capacity: the most items held.
        overflow: what to do when full (see :class:`Overflow`); the default,
            ``backpressure``, is lossless.
        replenish: with backpressure, ask upstream again once this many slots are free
            (default ``max(1, capacity // 4)``).
    """
    _require(isinstance(capacity, int) and capacity >= 1, "capacity must be an int >= 1", capacity)
    strategy = _parse_overflow(overflow)
    refill = max(1, capacity // 4) if replenish is None else replenish
    _require(1 <= refill <= capacity, f"replenish must be between 1 and capacity={capacity}",
            replenish)
    return _lift(lambda down: _BufferStage(down, capacity, strategy, refill, name))


def prefetch(n: int, *, low_tide: float = 0.75, name: str | None = None) -> Operator[_T, _T]:
    """Request *n* items ahead and refill once ``low_tide × n`` were consumed (Reactor's
    ``limitRate``): big requests upstream, bounded memory, lossless."""
    _require(isinstance(n, int) and n >= 1, "n must be an int >= 1", n)
    _require(0 < low_tide <= 1, "low_tide must be in (0, 1]", low_tide)
    refill = builtins.max(1, math.ceil(n * low_tide))
    return _lift(lambda down: _BufferStage(down, n, Overflow.BACKPRESSURE, refill,
                                         name or "prefetch"))


def take(count: int, *, name: str | None = None) -> Operator[_T, _T]:
    """Emit the first *count* items, then complete and cancel upstream."""
    _require(isinstance(count, int) and count >= 0, "count must be an int >= 0", count)
    return _lift(lambda down: _TakeStage(down, count, name))


def take_while(predicate: Callable[[_T], object], *, name: str | None = None) -> Operator[_T, _T]:
    """Emit items while *predicate* holds, then complete and cancel upstream."""
    return _lift(lambda down: _TakeWhileStage(down, predicate, name))


def sink(
    fn: Callable[[_T], Any], *, concurrency: int = 1, prefetch: int = 1024,
    on_error: OnError = "fail", name: str | None = None,
) -> Operator[_T, Never]:
    """End the pipeline with *fn*, called (or awaited) once per item.

    The sink creates demand on its own; an item completes at its source once *fn* returned
    for it. Async functions run with at most *concurrency* calls in flight.
    """
    _require(isinstance(concurrency, int) and concurrency >= 1,
            "concurrency must be an int >= 1", concurrency)
    _require(isinstance(prefetch, int) and prefetch >= 1, "prefetch must be an int >= 1", prefetch)
    _check_on_error(on_error)
    if inspect.iscoroutinefunction(fn):
        return _lift(lambda down: _MapAsyncStage(
            down, fn, concurrency=concurrency, ordered=False, on_error=on_error,
            name=name or "sink", emits=False))
    return _lift(lambda down: _SyncSinkStage(down, fn, prefetch, on_error, name))

# ---- fan-in, fan-out, nesting and error recovery (#12; stages in their own modules) -------
from ._graph import (  # noqa: E402
    Branch,
    broadcast,
    concat,
    concat_map,
    flat_map,
    group_by,
    merge,
    on_error_resume,
    partition,
    retry,
    zip,
)
from ._group_by import GroupedStream, GroupLimitError  # noqa: E402

__all__ += ["Branch", "GroupLimitError", "GroupedStream", "broadcast", "concat", "concat_map",
            "flat_map", "group_by", "merge", "on_error_resume", "partition", "retry", "zip"]
for _fn in (GroupLimitError, GroupedStream, broadcast, concat, concat_map, flat_map, group_by,
            merge, on_error_resume, partition, retry, zip):
    _fn.__module__ = __name__
