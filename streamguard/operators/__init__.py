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
import math
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Never, TypeVar

from ..core._checks import check_function as _check_function
from ..core._checks import check_int as _check_int
from ..core._checks import check_seconds as _check_seconds
from ..core._checks import is_async_callable as _is_async_callable
from ..core._checks import is_int as _is_int
from ..core._checks import is_number as _is_number
from ..core._concurrent import ConcurrencyLimit as _ConcurrencyLimit
from ..core._errors import require as _require
from ..core._overflow import Overflow as _Overflow
from ..core._overflow import OverflowPolicy
from ..core._overflow import parse_overflow as _parse_overflow
from ..core._pipeline import DEFAULT_PREFETCH as _DEFAULT_PREFETCH
from ..core._stream import Operator
from ..core._stream import lift as _lift
from ._batch import BatchStage as _BatchStage
from ._buffer import BufferStage as _BufferStage
from ._errors import OnError
from ._errors import check_on_error as _check_on_error
from ._filter import FilterStage as _FilterStage
from ._map import MapStage as _MapStage
from ._map_async import MapAsyncStage as _MapAsyncStage
from ._sink import SyncSinkStage as _SyncSinkStage
from ._take import TakeStage as _TakeStage
from ._take import TakeWhileStage as _TakeWhileStage

__all__ = [
    "EventWindow",
    "LateRecord",
    "OnError",
    "OnLate",
    "OverflowPolicy",
    "StreamTimeoutError",
    "TimeoutPer",
    "batch",
    "buffer",
    "debounce",
    "delay",
    "distinct",
    "filter",
    "hopping_window",
    "interval",
    "map",
    "map_async",
    "pairwise",
    "prefetch",
    "reduce",
    "sample",
    "scan",
    "session_window",
    "sink",
    "take",
    "take_while",
    "throttle_first",
    "timeout",
    "tumbling_window",
    "window",
]

_A = TypeVar("_A")
_B = TypeVar("_B")
_T = TypeVar("_T")


def map(
    fn: Callable[[_A], _B], *, on_error: OnError = "fail", name: str | None = None
) -> Operator[_A, _B]:
    """Apply *fn* to every item.

    Args:
        fn: a plain function; use :func:`map_async` for coroutines (an ``async def`` here is
            refused when the pipeline is built).
        on_error: ``"fail"`` (default), ``"skip"``, or a plain function
            ``(item, error) -> replacement``.
        name: the stage's name in statistics and metrics.
    """
    _check_function("op.map", "fn", fn, "sync")
    _check_on_error("op.map", on_error, "sync")
    _check_name("op.map", name)
    return _lift(lambda down: _MapStage(down, fn, on_error, name), name="op.map")


def filter(
    predicate: Callable[[_T], object], *, name: str | None = None
) -> Operator[_T, _T]:
    """Keep the items for which *predicate* (a plain function) is true; the others complete
    at their source."""
    _check_function("op.filter", "predicate", predicate, "sync")
    _check_name("op.filter", name)
    return _lift(lambda down: _FilterStage(down, predicate, name), name="op.filter")


def _check_concurrency(operator: str, concurrency: object) -> None:
    if not isinstance(concurrency, int) and isinstance(concurrency, _ConcurrencyLimit):
        return
    _check_int(operator, "concurrency", concurrency, 1)


def _check_key(operator: str, key: object, max_per_key: object) -> None:
    _require(key is None or callable(key),
             f"{operator}: key must be a function item -> hashable key, or None", key)
    if max_per_key is not None:
        _require(key is not None, f"{operator}: max_per_key needs key=", max_per_key)
        _check_int(operator, "max_per_key", max_per_key, 1)


def map_async(
    fn: Callable[[_A], Awaitable[_B]], *, concurrency: int | _ConcurrencyLimit = 1,
    ordered: bool = True, key: Callable[[_A], Hashable] | None = None,
    max_per_key: int | None = None,
    on_error: OnError = "fail", name: str | None = None,
) -> Operator[_A, _B]:
    """Await ``fn(item)`` for every item on up to *concurrency* long-lived workers.

    With ``ordered=True`` (default) results leave in arrival order; otherwise as they finish.
    *concurrency* may be a :class:`~streamguard.adaptive.AdaptiveLimit`: every call is timed
    and fed to it, and the workers and the demand follow its limit.
    The stage holds at most ``2 × concurrency`` items (in flight, waiting for a worker,
    finished and waiting for downstream, requested from upstream). *fn* must be an
    ``async def`` (a plain function is refused when the pipeline is built: use :func:`map`);
    *on_error* may be a plain or an async function ``(item, error) -> replacement``.

    With ``key=`` (and ``ordered=False``) items of one key are processed one at a time in
    arrival order and items of different keys concurrently: key ordering. At most
    *max_per_key* items of one key are held (default a quarter of what the stage holds, at
    least 2).
    """
    _check_function("op.map_async", "fn", fn, "async")
    _check_concurrency("op.map_async", concurrency)
    _require(isinstance(ordered, bool), "op.map_async: ordered must be a bool", ordered)
    _check_key("op.map_async", key, max_per_key)
    _require(key is None or not ordered,
             "op.map_async: key= keeps the order per key and needs ordered=False", ordered)
    _check_on_error("op.map_async", on_error, "any")
    _check_name("op.map_async", name)
    return _lift(lambda down: _MapAsyncStage(
        down, fn, concurrency=concurrency, ordered=ordered, on_error=on_error, name=name,
        key=key, max_per_key=max_per_key), name="op.map_async")


def batch(
    size: int, *, timeout: float | None = None, name: str | None = None,
    clock: _Clock | None = None,
) -> Operator[_T, list[_T]]:
    """Group items into lists of *size*, or fewer when *timeout* seconds (on *clock*) passed
    since a batch's first item. Completing a batch completes each of its items."""
    _check_int("op.batch", "size", size, 1)
    _check_seconds("op.batch", "timeout", timeout, optional=True)
    _check_name("op.batch", name)
    _check_clock("op.batch", clock)
    return _lift(lambda down: _BatchStage(down, size, timeout, name, clock), name="op.batch")


def buffer(
    capacity: int, *, overflow: OverflowPolicy = "backpressure",
    replenish: int | None = None, name: str | None = None,
) -> Operator[_T, _T]:
    """A bounded buffer of *capacity* items.

    Args:
        capacity: the most items held.
        overflow: what to do when full: ``"backpressure"`` (the default, lossless: upstream
            is only asked for what fits), ``"drop_oldest"``, ``"drop_newest"``,
            ``"keep_latest"`` or ``"error"``. Every drop is counted and completes at its
            source.
        replenish: with backpressure, ask upstream again once this many slots are free
            (default ``max(1, capacity // 4)``).
    """
    _check_int("op.buffer", "capacity", capacity, 1)
    strategy = _parse_overflow(overflow, "op.buffer")
    refill = builtins.max(1, capacity // 4) if replenish is None else replenish
    _require(_is_int(refill) and 1 <= refill <= capacity,
             f"op.buffer: replenish must be an int between 1 and capacity={capacity}",
             replenish)
    _check_name("op.buffer", name)
    return _lift(lambda down: _BufferStage(down, capacity, strategy, refill, name),
                 name="op.buffer")


def prefetch(n: int = _DEFAULT_PREFETCH, *, low_tide: float = 0.75,
             name: str | None = None) -> Operator[_T, _T]:
    """Request *n* items ahead and refill once ``low_tide × n`` were consumed (Reactor's
    ``limitRate``): big requests upstream, bounded memory, lossless. ``prefetch`` means the
    same wherever it appears (``run``, ``start``, ``iterate``, ``sink``), with the same
    default (:data:`~streamguard.core.DEFAULT_PREFETCH`)."""
    _check_int("op.prefetch", "n", n, 1)
    _require(_is_number(low_tide) and 0 < low_tide <= 1,
             "op.prefetch: low_tide must be a number in (0, 1]", low_tide)
    _check_name("op.prefetch", name)
    refill = builtins.max(1, math.ceil(n * low_tide))
    return _lift(lambda down: _BufferStage(down, n, _Overflow.BACKPRESSURE, refill,
                                         name or "prefetch"), name="op.prefetch")


def take(count: int, *, name: str | None = None) -> Operator[_T, _T]:
    """Emit the first *count* items, then complete and cancel upstream; items upstream
    stages still held are abandoned at their source."""
    _check_int("op.take", "count", count, 0)
    _check_name("op.take", name)
    return _lift(lambda down: _TakeStage(down, count, name), name="op.take")


def take_while(predicate: Callable[[_T], object], *, name: str | None = None) -> Operator[_T, _T]:
    """Emit items while *predicate* (a plain function) holds, then complete and cancel
    upstream. The first item failing it completes at its source (it was looked at); the
    rest of its chunk is abandoned."""
    _check_function("op.take_while", "predicate", predicate, "sync")
    _check_name("op.take_while", name)
    return _lift(lambda down: _TakeWhileStage(down, predicate, name), name="op.take_while")


def sink(
    fn: Callable[[_T], Any], *, concurrency: int | _ConcurrencyLimit = 1,
    prefetch: int = _DEFAULT_PREFETCH, key: Callable[[_T], Hashable] | None = None,
    max_per_key: int | None = None,
    on_error: OnError = "fail", name: str | None = None,
) -> Operator[_T, Never]:
    """End the pipeline with *fn*, called (or awaited) once per item. Nothing may follow a
    sink: an operator after it is refused when the pipeline is built.

    The sink creates demand on its own; an item completes at its source once *fn* returned
    for it. A plain function is called chunk by chunk, requesting *prefetch* items ahead;
    an ``async def`` runs on up to *concurrency* long-lived workers holding at most
    ``2 × concurrency`` items (a plain *fn* refuses ``concurrency`` > 1). *on_error*
    ``(item, error)`` handles a failed item (it then completes at its source); a plain sink
    refuses an async one.

    A plain *fn* (or plain *on_error*) that returns a coroutine — ``lambda x: store(x)`` with
    an async ``store`` — has done no work: the item's ack fails and the pipeline fails with a
    ``TypeError`` (pass ``store`` itself, or an ``async def``). An async sink awaits what *fn*
    and its *on_error* return, and refuses the same way what comes out of that await if it is
    awaitable in turn — ``async def fn(x): return store(x)``, with no ``await`` — with a
    ``TypeError`` naming the fix (``await store(x)``); the rest of what the sink holds is
    abandoned at its source. (``map_async`` emits such a result: there it is the item.)

    With ``key=`` (async *fn* only) items of one key are processed one at a time in arrival
    order and items of different keys concurrently; at most *max_per_key* items of one key
    are held (see :func:`map_async`).
    """
    _check_function("op.sink", "fn", fn, "any")
    _check_concurrency("op.sink", concurrency)
    _check_int("op.sink", "prefetch", prefetch, 1)
    _check_name("op.sink", name)
    _check_key("op.sink", key, max_per_key)
    if _is_async_callable(fn):
        _check_on_error("op.sink", on_error, "any")
        return _lift(lambda down: _MapAsyncStage(
            down, fn, concurrency=concurrency, ordered=False, on_error=on_error,
            name=name or "sink", emits=False, key=key, max_per_key=max_per_key),
            name="op.sink", ends=True)
    _require(key is None, "op.sink: key= needs an async fn (a plain sink runs one item at "
             "a time, in order)", key)
    # A plain function blocks the event loop while it runs: two calls can never overlap.
    _require(_is_int(concurrency) and concurrency == 1,
             "op.sink: concurrency= needs an async fn (a plain sink runs one item at a time, "
             "in order; run blocking work in `async def f(item): await "
             "asyncio.to_thread(...)`)", concurrency)
    _check_on_error("op.sink", on_error, "sync")
    return _lift(lambda down: _SyncSinkStage(down, fn, prefetch, on_error, name),
                 name="op.sink", ends=True)


def _check_name(owner: str, name: object) -> None:
    _require(name is None or isinstance(name, str), f"{owner}: name must be a str or None", name)


# ---------------------------------------------------------------------------------------------
# State, processing time and event time (issue #12, operators-time). Every time operator takes
# ``clock=`` (default: the event loop's clock), so tests drive it with a VirtualClock.

from collections.abc import Hashable as _Hashable  # noqa: E402

from ..core._clock import Clock as _Clock  # noqa: E402
from ..core._protocol import ChunkSubscriber as _ChunkSubscriber  # noqa: E402
from ..core._stage import Stage as _Stage  # noqa: E402
from ..core._stream import Stream as _Stream  # noqa: E402
from ._debounce import DebounceStage as _DebounceStage  # noqa: E402
from ._delay import DelayStage as _DelayStage  # noqa: E402
from ._distinct import DistinctStage as _DistinctStage  # noqa: E402
from ._event_window import Assigner as _Assigner  # noqa: E402
from ._event_window import EventWindow, LateRecord, OnLate  # noqa: E402
from ._event_window import EventWindowStage as _EventWindowStage  # noqa: E402
from ._event_window import SessionAssigner as _SessionAssigner  # noqa: E402
from ._interval import IntervalSource as _IntervalSource  # noqa: E402
from ._pairwise import PairwiseStage as _PairwiseStage  # noqa: E402
from ._reduce import ReduceStage as _ReduceStage  # noqa: E402
from ._sample import SampleStage as _SampleStage  # noqa: E402
from ._scan import ScanStage as _ScanStage  # noqa: E402
from ._throttle_first import ThrottleFirstStage as _ThrottleFirstStage  # noqa: E402
from ._timeout import StreamTimeoutError, TimeoutPer  # noqa: E402
from ._timeout import TimeoutStage as _TimeoutStage  # noqa: E402
from ._window import SlidingCountStage as _SlidingCountStage  # noqa: E402
from ._window import SlidingTimeStage as _SlidingTimeStage  # noqa: E402
from ._window import TumblingWindowStage as _TumblingWindowStage  # noqa: E402

_K = TypeVar("_K", bound=_Hashable)


def _seconds(owner: str, field: str, value: object) -> float:
    """A positive, finite duration (a bool is not a number here)."""
    _require(isinstance(value, int | float) and not isinstance(value, bool),
             f"{owner}: {field} must be a number of seconds", value)
    assert isinstance(value, int | float)
    _require(0 < value < math.inf, f"{owner}: {field} must be > 0 and finite", value)
    return float(value)


def _count(owner: str, field: str, value: object, minimum: int = 1) -> int:
    _check_int(owner, field, value, minimum)
    assert isinstance(value, int)
    return value


def _check_clock(owner: str, clock: object) -> None:
    _require(clock is None or isinstance(clock, _Clock),
             f"{owner}: clock must be a Clock (now() and sleep()) or None", clock)


def scan(fn: Callable[[_A, _T], _A], seed: _A, *, name: str | None = None) -> Operator[_T, _A]:
    """Emit the running fold ``acc = fn(acc, item)`` for every item, starting from *seed*.

    Memory: one accumulator; acks pass through 1:1. Example: running totals::

        op.scan(lambda total, x: total + x, 0)   # 1, 2, 3 -> 1, 3, 6
    """
    _require(callable(fn), "op.scan: fn must be callable (acc, item) -> acc", fn)
    _check_name("op.scan", name)
    return _lift(lambda down: _ScanStage(down, fn, seed, name))


def reduce(fn: Callable[[_A, _T], _A], seed: _A, *, name: str | None = None) -> Operator[_T, _A]:
    """Fold the whole stream into one value, emitted when upstream completes (*seed* for an
    empty stream).

    Memory: one accumulator, plus one ack per item when the source gives acks: members
    complete when the result is delivered. For endless streams, reduce windows instead.
    """
    _require(callable(fn), "op.reduce: fn must be callable (acc, item) -> acc", fn)
    _check_name("op.reduce", name)
    return _lift(lambda down: _ReduceStage(down, fn, seed, name))


def distinct(
    key: Callable[[_T], _Hashable] | None = None, *, capacity: int = 10_000,
    name: str | None = None,
) -> Operator[_T, _T]:
    """Drop items whose key (the item itself by default) is among the *capacity* keys seen
    most recently (an LRU set).

    Memory: at most *capacity* keys. Duplicates are counted in ``dropped``, published as
    ``ItemsDropped(reason="duplicate")`` and completed at their source.
    """
    _require(key is None or callable(key),
             "op.distinct: key must be callable item -> hashable, or None", key)
    cap = _count("op.distinct", "capacity", capacity)
    _check_name("op.distinct", name)
    return _lift(lambda down: _DistinctStage(down, key, cap, name))


def pairwise(*, name: str | None = None) -> Operator[_T, tuple[_T, _T]]:
    """Emit ``(previous, current)`` for every item after the first.

    Memory: one item. An item's ack travels with its second pair.
    """
    _check_name("op.pairwise", name)
    return _lift(lambda down: _PairwiseStage(down, name))


def window(
    count: int | None = None, *, duration: float | None = None, step: int | None = None,
    every: float | None = None, max_items: int = 10_000, name: str | None = None,
    clock: _Clock | None = None,
) -> Operator[_T, list[_T]]:
    """Processing-time windows, emitted as lists; downstream demand counts windows.

    * ``window(count=n)``: tumbling by count; ``window(count=n, step=s)``: sliding, the
      last *n* items every *s* items (``s <= n``).
    * ``window(duration=d)``: tumbling by time — a window opens with its first item and
      closes *d* seconds later, or at *count* items if given (``batch(size, timeout)``).
    * ``window(duration=d, every=e)``: sliding by time — every *e* seconds (``e <= d``), the
      items of the last *d* seconds.

    A member completes when the last window holding it is delivered. Memory (item
    references): ``count × max(2, ⌈1024 / count⌉)`` tumbling by count,
    ``max(2 × count, 1024)`` sliding by count, *max_items* per time window (a time window
    closes early at *max_items*) plus the windows waiting for demand.

    Example::

        op.window(count=100)                      # lists of 100
        op.window(duration=1.0, every=0.25)       # the last second, four times a second
    """
    owner = "op.window"
    _check_clock(owner, clock)
    _check_name(owner, name)
    limit = _count(owner, "max_items", max_items)
    if duration is None:
        _require(count is not None, f"{owner}: needs count= or duration=", count)
        _require(every is None, f"{owner}: every= needs duration= (use step= for count windows)",
                 every)
        n = _count(owner, "count", count)
        if step is None or step == n:
            return _lift(lambda down: _TumblingWindowStage(down, n, None, name, clock))
        s = _count(owner, "step", step)
        _require(s <= n, f"{owner}: step must be <= count={n} (a larger step would skip items)",
                 step)
        return _lift(lambda down: _SlidingCountStage(down, n, s, name))
    d = _seconds(owner, "duration", duration)
    _require(step is None, f"{owner}: step= is for count windows; use every= with duration=",
             step)
    if every is None:
        n = limit if count is None else _count(owner, "count", count)
        return _lift(lambda down: _TumblingWindowStage(down, n, d, name, clock))
    _require(count is None, f"{owner}: count= cannot be combined with every=", count)
    e = _seconds(owner, "every", every)
    _require(e <= d, f"{owner}: every must be <= duration={d} (a larger one would skip items)",
             every)
    return _lift(lambda down: _SlidingTimeStage(down, d, e, limit, name, clock))


def debounce(
    seconds: float, *, name: str | None = None, clock: _Clock | None = None
) -> Operator[_T, _T]:
    """Emit an item once *seconds* passed without a newer one; the newer one replaces it.

    Memory: two items. Superseded items are counted in ``dropped`` (reason ``"debounce"``)
    and completed; the last item is emitted when upstream completes.
    """
    s = _seconds("op.debounce", "seconds", seconds)
    _check_clock("op.debounce", clock)
    _check_name("op.debounce", name)
    return _lift(lambda down: _DebounceStage(down, s, name, clock))


def throttle_first(
    seconds: float, *, name: str | None = None, clock: _Clock | None = None
) -> Operator[_T, _T]:
    """Emit the first item of every *seconds* window and drop the others (counted, reason
    ``"throttle"``, completed). Memory: one item. For lossless rate limiting, use
    ``streamguard.ratelimit``."""
    s = _seconds("op.throttle_first", "seconds", seconds)
    _check_clock("op.throttle_first", clock)
    _check_name("op.throttle_first", name)
    return _lift(lambda down: _ThrottleFirstStage(down, s, name, clock))


def sample(
    seconds: float, *, name: str | None = None, clock: _Clock | None = None
) -> Operator[_T, _T]:
    """Every *seconds*, emit the latest item that arrived since the last tick; the last item
    is emitted on completion. Memory: two items; superseded items are counted (reason
    ``"sample"``) and completed."""
    s = _seconds("op.sample", "seconds", seconds)
    _check_clock("op.sample", clock)
    _check_name("op.sample", name)
    return _lift(lambda down: _SampleStage(down, s, name, clock))


def timeout(
    seconds: float, *, per: TimeoutPer = "item", name: str | None = None,
    clock: _Clock | None = None,
) -> Operator[_T, _T]:
    """Fail the stream with :class:`StreamTimeoutError` when items stop coming.

    ``per="item"``: a requested item must arrive within *seconds* (time without demand does
    not count). ``per="idle"``: no item for *seconds*, whatever the demand. Memory: O(1).
    """
    s = _seconds("op.timeout", "seconds", seconds)
    _require(per in ("item", "idle"), "op.timeout: per must be 'item' or 'idle'", per)
    _check_clock("op.timeout", clock)
    _check_name("op.timeout", name)
    return _lift(lambda down: _TimeoutStage(down, s, per, name, clock))


def delay(
    seconds: float, *, capacity: int = 1024, name: str | None = None,
    clock: _Clock | None = None,
) -> Operator[_T, _T]:
    """Pass every item on *seconds* after it arrived, in order, losslessly.

    Memory: at most *capacity* items; upstream is asked only for what fits.
    """
    s = _seconds("op.delay", "seconds", seconds)
    cap = _count("op.delay", "capacity", capacity)
    _check_clock("op.delay", clock)
    _check_name("op.delay", name)
    return _lift(lambda down: _DelayStage(down, s, cap, name, clock))


def interval(
    period: float, *, name: str | None = None, clock: _Clock | None = None
) -> _Stream[int]:
    """A source emitting 0, 1, 2, … every *period* seconds from the first request.

    A tick without demand is not queued: it is counted in ``dropped`` (reason
    ``"no demand"``) and its number skipped. Memory: O(1). End it with ``take``.
    """
    p = _seconds("op.interval", "period", period)
    _check_clock("op.interval", clock)
    _check_name("op.interval", name)

    def subscribe(down: _ChunkSubscriber[int]) -> None:
        _IntervalSource(down, p, name, clock).start()

    return _Stream(subscribe)


def _event_window(
    assigner: _Assigner | _SessionAssigner, timestamp: Callable[[_T], float],
    key: Callable[[_T], _K] | None, delay: float, lateness: float, on_late: OnLate,
    max_items: int, name: str | None, kind: str,
    partition: Callable[[_T], _Hashable] | None, min_partitions: int,
) -> Operator[_T, EventWindow[_K, _T]]:
    owner = f"op.{kind}"
    _require(callable(timestamp), f"{owner}: timestamp must be callable item -> number",
             timestamp)
    _require(key is None or callable(key),
             f"{owner}: key must be callable item -> hashable, or None", key)
    _require(isinstance(delay, int | float) and not isinstance(delay, bool) and delay >= 0,
             f"{owner}: delay must be a number >= 0", delay)
    _require(isinstance(lateness, int | float) and not isinstance(lateness, bool)
             and lateness >= 0, f"{owner}: lateness must be a number >= 0", lateness)
    _require(on_late == "drop" or callable(on_late),
             f"{owner}: on_late must be 'drop' or a callable (item, LateRecord)", on_late)
    cap = _count(owner, "max_items", max_items)
    _require(partition is None or callable(partition),
             f"{owner}: partition must be callable item -> hashable, or None", partition)
    parts = _count(owner, "min_partitions", min_partitions)
    _check_name(owner, name)

    def factory(down: _ChunkSubscriber[EventWindow[_K, _T]]) -> _Stage[_T, EventWindow[_K, _T]]:
        stage: _Stage[_T, EventWindow[_K, _T]] = _EventWindowStage(
            down, timestamp=timestamp, key=key, assigner=assigner, delay=float(delay),
            lateness=float(lateness), on_late=on_late, max_items=cap, name=name or kind,
            partition=partition, min_partitions=parts)
        return stage

    return _lift(factory)


def tumbling_window(
    size: float, *, timestamp: Callable[[_T], float], key: Callable[[_T], _K] | None = None,
    delay: float = 0.0, lateness: float = 0.0, on_late: OnLate = "drop",
    partition: Callable[[_T], _Hashable] | None = None, min_partitions: int = 1,
    max_items: int = 100_000, name: str | None = None,
) -> Operator[_T, EventWindow[_K, _T]]:
    """Event-time tumbling windows ``[k·size, (k+1)·size)`` per key.

    Args:
        size: window length, in the unit of *timestamp*.
        timestamp: the record's event time (seconds, milliseconds… — one unit throughout).
        key: groups windows by key (``None``: one group).
        delay: the watermark trails the highest timestamp seen by this much (bounded
            out-of-orderness): a window fires once ``max timestamp - delay >= end``.
        lateness: a fired window keeps accepting records this long; each fires it again,
            complete, with ``late=True``.
        on_late: records later than that: ``(item, LateRecord) -> None``, counted in
            ``rejected``; or ``"drop"`` (default), counted in ``dropped`` and published as
            ``ItemsDropped(reason="late")``. Never silent; the record's ack completes.
        partition: the input a record came from (e.g. ``lambda r: (r.topic, r.partition)``)
            when inputs are read at different speeds: each input keeps its own highest
            timestamp and the watermark follows the slowest one.
        min_partitions: the watermark stays at ``-inf`` until this many inputs were seen.
        max_items: the memory bound (item references held); see the module notes.

    A member completes when its window's firing is delivered. Example: counts per user
    and minute, timestamps in seconds::

        op.tumbling_window(60, timestamp=lambda e: e.ts, key=lambda e: e.user, delay=5)
    """
    sz = _seconds("op.tumbling_window", "size", size)
    return _event_window(_Assigner(sz, sz), timestamp, key, delay, lateness, on_late,
                         max_items, name, "tumbling_window", partition, min_partitions)


def hopping_window(
    size: float, slide: float, *, timestamp: Callable[[_T], float],
    key: Callable[[_T], _K] | None = None, delay: float = 0.0, lateness: float = 0.0,
    on_late: OnLate = "drop", partition: Callable[[_T], _Hashable] | None = None,
    min_partitions: int = 1, max_items: int = 100_000, name: str | None = None,
) -> Operator[_T, EventWindow[_K, _T]]:
    """Event-time hopping windows of *size*, one starting every *slide* (``slide <= size``;
    a record is in ``⌈size / slide⌉`` windows). Other arguments as :func:`tumbling_window`;
    a record's ack completes with the last of its windows."""
    sz = _seconds("op.hopping_window", "size", size)
    sl = _seconds("op.hopping_window", "slide", slide)
    _require(sl <= sz,
             f"op.hopping_window: slide must be <= size={sz} (a larger slide would skip records)",
             slide)
    return _event_window(_Assigner(sz, sl), timestamp, key, delay, lateness, on_late,
                         max_items, name, "hopping_window", partition, min_partitions)


def session_window(
    gap: float, *, timestamp: Callable[[_T], float], key: Callable[[_T], _K] | None = None,
    delay: float = 0.0, lateness: float = 0.0, on_late: OnLate = "drop",
    partition: Callable[[_T], _Hashable] | None = None, min_partitions: int = 1,
    max_items: int = 100_000, name: str | None = None,
) -> Operator[_T, EventWindow[_K, _T]]:
    """Event-time session windows per key: records closer than *gap* belong to one session
    ``[first, last + gap)``; a record bridging two sessions merges them. Other arguments as
    :func:`tumbling_window`."""
    assigner = _SessionAssigner(_seconds("op.session_window", "gap", gap))
    return _event_window(assigner, timestamp, key, delay, lateness, on_late, max_items, name,
                         "session_window", partition, min_partitions)


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

from ..core._public import publish as _publish  # noqa: E402 - after every name it renames

_publish(__name__, globals(), __all__)
