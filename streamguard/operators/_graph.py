"""The public factories of the fan-in, fan-out, nesting and error-recovery operators.

They are re-exported by :mod:`streamguard.operators` (one block there); each stage lives in
its own private module. Every factory checks its arguments when the pipeline is built.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

from ..core._checks import check_int
from ..core._clock import SYSTEM_CLOCK, Clock
from ..core._errors import require
from ..core._overflow import Overflow, parse_overflow
from ..core._protocol import ChunkSubscriber
from ..core._stream import Operator, Stream, lift
from ..retry._retry import Retry
from ._fan_out import Hub
from ._flat_map import FlatMapStage
from ._group_by import GroupByStage, GroupedStream, OnLimit
from ._merge import combine
from ._resume import ResumeStage
from ._retry import RetryStage
from ._zip import ZipStage

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
A = TypeVar("A")
B = TypeVar("B")

DEFAULT_INNER_PREFETCH = 256
"""Items requested ahead from each input of ``merge``, ``concat``, ``zip`` and ``flat_map``."""


def _check_prefetch(owner: str, prefetch: object) -> None:
    check_int(owner, "prefetch", prefetch, 1)


def _check_name(owner: str, name: object) -> None:
    require(name is None or isinstance(name, str), f"{owner}: name must be a str or None", name)


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
    _check_prefetch("op.merge", prefetch)
    _check_name("op.merge", name)
    return combine(streams, concurrency=max(1, len(streams)), prefetch=prefetch, kind="merge",
                   name=name)


def concat(*streams: Stream[T], prefetch: int = DEFAULT_INNER_PREFETCH,
           name: str | None = None) -> Stream[T]:
    """The items of each of *streams* in turn: the next is subscribed once the previous
    completed. Memory: at most *prefetch* items held."""
    _check_streams("concat", streams)
    _check_prefetch("op.concat", prefetch)
    _check_name("op.concat", name)
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
    check_int("op.flat_map", "concurrency", concurrency, 1)
    _check_prefetch("op.flat_map", prefetch)
    _check_name("op.flat_map", name)
    if not callable(fn):
        raise TypeError(f"flat_map() takes a function item -> Stream, got {fn!r}")
    return lift(lambda down: FlatMapStage(down, fn, concurrency=concurrency, prefetch=prefetch,
                                          name=name))


def concat_map(fn: Callable[[A], Stream[B]], *, prefetch: int = DEFAULT_INNER_PREFETCH,
               name: str | None = None) -> Operator[A, B]:
    """Map every item to a stream and emit those streams' items one stream after another,
    in upstream order (``flat_map`` with concurrency 1). Memory: at most *prefetch* items."""
    _check_prefetch("op.concat_map", prefetch)
    _check_name("op.concat_map", name)
    if not callable(fn):
        raise TypeError(f"concat_map() takes a function item -> Stream, got {fn!r}")
    return lift(lambda down: FlatMapStage(down, fn, concurrency=1, prefetch=prefetch, name=name,
                                          kind="concat_map"))




def zip(*streams: Stream[Any], prefetch: int = DEFAULT_INNER_PREFETCH,
        name: str | None = None) -> Stream[tuple[Any, ...]]:
    """Tuples of the n-th items of *streams*; completes when the shortest input completed.

    Each input is asked for *prefetch* items ahead. A tuple's ack completes (or fails) the
    records of all its members. Memory: at most ``len(streams) × prefetch`` items held.
    At least one stream is needed (``merge()`` and ``concat()`` of nothing complete empty).

    Example::

        pairs = op.zip(prices, volumes)   # (price, volume), (price, volume), …
    """
    _check_streams("zip", streams)
    # a zip of nothing has no shortest input to end with: refused here, not at run time
    require(len(streams) >= 1, "op.zip: needs at least one stream", len(streams))
    _check_prefetch("op.zip", prefetch)
    _check_name("op.zip", name)

    def subscribe(down: ChunkSubscriber[tuple[Any, ...]]) -> None:
        ZipStage(down, len(streams), prefetch, name).start(streams)

    return Stream(subscribe)


Branch = Callable[[Stream[T]], Stream[Any]]
"""A branch of ``broadcast`` or ``partition``: a function from its input stream to the
stream it makes (often ending in a sink), e.g. ``lambda s: s.pipe(op.sink(store))``."""


def _fan_out(kind: str, branches: tuple[Branch[T], ...], route: Callable[[T], int] | None,
             buffer: int, overflow: Overflow | str | Sequence[Overflow | str],
             name: str | None) -> Operator[T, Any]:
    owner = f"op.{kind}"
    require(len(branches) >= 1, f"{owner}: needs at least one branch", len(branches))
    for i, branch in enumerate(branches):
        if not callable(branch):
            raise TypeError(f"{kind}() branches are functions Stream -> Stream, got "
                            f"{branch!r} at position {i}")
    check_int(owner, "buffer", buffer, 0)
    strategies = ([parse_overflow(o, owner) for o in overflow]
                  if isinstance(overflow, (list, tuple)) else
                  [parse_overflow(overflow, owner)] * len(branches))
    require(len(strategies) == len(branches),
            f"{owner}: overflow must be one strategy or one per branch ({len(branches)})",
            overflow)
    for strategy in strategies:
        require(strategy is Overflow.BACKPRESSURE or buffer >= 1,
                f"{owner}: buffer must be >= 1 with overflow={strategy.value!r}", buffer)
    _check_name(owner, name)

    def operator(source: Stream[T]) -> Stream[Any]:
        def subscribe(down: ChunkSubscriber[Any]) -> None:
            hub = Hub(source, len(branches), route, buffer, strategies, name)
            outs = tuple(branch(hub.stream(i)) for i, branch in enumerate(branches))
            _check_streams(f"{kind} branch", outs)
            outs = tuple(hub.watch(i, out) for i, out in enumerate(outs))
            combine(outs, concurrency=len(outs), prefetch=DEFAULT_INNER_PREFETCH,
                    kind=f"{hub.kind}.join", name=None)._subscribe_chunked(down)
        return Stream(subscribe)

    return operator


def broadcast(*branches: Branch[T], buffer: int = 0,
              overflow: Overflow | str | Sequence[Overflow | str] = Overflow.BACKPRESSURE,
              name: str | None = None) -> Operator[T, Any]:
    """Send every item to every branch; emit what the branches emit, merged.

    **Slowest-consumer backpressure**: upstream is asked only for what every backpressured
    branch can take (its demand plus the free room of its *buffer*), so the slowest branch
    sets the pace; a branch with a lossy *overflow* (``"drop_oldest"``, ``"drop_newest"``,
    ``"keep_latest"``; one strategy, or one per branch) drops (counted) instead of holding
    the others back. An acked item completes its record once every branch completed it
    (fails if one failed). A branch that left (``take``, or its consumer ended: its stream
    completed) has no say in the items it did not receive, buffered or later: the branches
    still taking part settle them alone, whatever *buffer* is; an item no branch took part
    in is abandoned. A branch that failed or was cancelled from downstream abandons what it
    held, so a Kafka source delivers those records again.

    Memory: at most ``branches × buffer`` items held between upstream and the branches.

    Example::

        await orders.pipe(op.broadcast(
            lambda s: s.pipe(op.sink(store)),
            lambda s: s.pipe(op.map(to_event), op.sink(publish)),
        )).run()
    """
    return _fan_out("broadcast", branches, None, buffer, overflow, name)


def partition(fn: Callable[[T], int], *branches: Branch[T], buffer: int = 0,
              overflow: Overflow | str | Sequence[Overflow | str] = Overflow.BACKPRESSURE,
              name: str | None = None) -> Operator[T, Any]:
    """Send each item to one branch: ``fn(item)`` is its index in *branches*.

    Demand, buffers and overflow work as in :func:`broadcast`: upstream is asked only for
    what every backpressured branch can take, so a slow branch slows them all unless it
    has a *buffer* (and a lossy *overflow*). An index outside ``range(len(branches))``
    fails the item and the stream. Items keep their acks.

    Memory: at most ``branches × buffer`` items held.

    Example::

        await payments.pipe(op.partition(
            lambda p: 0 if p.amount < 1000 else 1,
            lambda small: small.pipe(op.sink(approve)),
            lambda large: large.pipe(op.sink(review)),
        )).run()
    """
    if not callable(fn):
        raise TypeError(f"partition() takes a routing function item -> int first, got {fn!r}")
    return _fan_out("partition", branches, fn, buffer, overflow, name)


def group_by(key: Callable[[T], K], *, max_groups: int = 1024,
             idle_timeout: float | None = None, buffer: int = 1024,
             on_limit: OnLimit = "error", clock: Clock | None = None,
             name: str | None = None) -> Operator[T, GroupedStream[K, T]]:
    """Split the stream into one :class:`GroupedStream` per key (``group.key``), each with
    its own demand. Consume the groups with ``flat_map(..., concurrency=max_groups)``.

    Args:
        key: the key of an item (hashable).
        max_groups: the most groups open at once. At the bound a new key fails the stream
            with :class:`GroupLimitError` (``on_limit="error"``, the default) or closes the
            group that saw an item least recently (``on_limit="evict"``).
        idle_timeout: close a group that received nothing for this many seconds of *clock*
            (its subscriber gets what it held, then completion); ``None``: never.
        buffer: items held across all groups plus items requested from upstream — the
            memory bound shared by every group.
        clock: the clock *idle_timeout* is measured on (default: the event loop's).

    Example::

        counts = events.pipe(
            op.group_by(lambda e: e.user, max_groups=100, idle_timeout=60),
            op.flat_map(lambda g: g.pipe(op.batch(100, timeout=1.0)), concurrency=100),
        )
    """
    if not callable(key):
        raise TypeError(f"group_by() takes a key function item -> key, got {key!r}")
    check_int("op.group_by", "max_groups", max_groups, 1)
    require(idle_timeout is None or (isinstance(idle_timeout, (int, float))
                                     and not isinstance(idle_timeout, bool)
                                     and 0 < idle_timeout < float("inf")),
            "op.group_by: idle_timeout must be > 0 seconds or None", idle_timeout)
    check_int("op.group_by", "buffer", buffer, 1)
    require(on_limit in ("error", "evict"), "op.group_by: on_limit must be 'error' or 'evict'",
            on_limit)
    require(clock is None or isinstance(clock, Clock),
            "op.group_by: clock must be a Clock (now() and sleep()) or None", clock)
    _check_name("op.group_by", name)
    the_clock = SYSTEM_CLOCK if clock is None else clock
    return lift(lambda down: GroupByStage(
        down, key, max_groups=max_groups, idle_timeout=idle_timeout, buffer=buffer,
        on_limit=on_limit, clock=the_clock, name=name))


def on_error_resume(fn: Callable[[Exception], Stream[T]], *,
                    errors: tuple[type[Exception], ...] = (Exception,),
                    name: str | None = None) -> Operator[T, T]:
    """When the upstream fails with one of *errors*, continue with the stream ``fn(error)``.

    Downstream demand carries over to the fallback; the fallback's own errors end the
    stream. Memory: nothing held.

    Example::

        prices = live_feed.pipe(op.on_error_resume(lambda e: cached_prices()))
    """
    if not callable(fn):
        raise TypeError(f"on_error_resume() takes a function error -> Stream, got {fn!r}")
    require(isinstance(errors, tuple) and bool(errors)
            and all(isinstance(t, type) and issubclass(t, Exception) for t in errors),
            "op.on_error_resume: errors must be a non-empty tuple of Exception classes", errors)
    _check_name("op.on_error_resume", name)

    def operator(source: Stream[T]) -> Stream[T]:
        def subscribe(down: ChunkSubscriber[T]) -> None:
            ResumeStage(down, fn, errors, name).start(source)
        return Stream(subscribe)

    return operator


def retry(policy: Retry | None = None, *, name: str | None = None) -> Operator[T, T]:
    """Subscribe to the (cold) upstream again when it fails, as *policy* allows.

    *policy* is a :class:`~streamguard.retry.Retry`: its ``RetryConfig`` (attempts — counting
    every subscription —, backoff, retryable errors), its ``RetryBudget`` and its clock apply
    as they do to calls. Giving up fails the stream with ``RetryError``. A resubscribed
    upstream starts again from its beginning. Default: ``Retry("retry")`` (3 attempts, full
    jitter). Memory: nothing held.

    Example::

        feed = from_async_iterable(connect).pipe(
            op.retry(Retry("feed", RetryConfig(attempts=5), budget=budget)))
    """
    if policy is not None and not isinstance(policy, Retry):
        raise TypeError(f"retry() takes a streamguard.retry.Retry, got {policy!r}")
    _check_name("op.retry", name)
    the_policy = Retry(name or "retry") if policy is None else policy

    def operator(source: Stream[T]) -> Stream[T]:
        def subscribe(down: ChunkSubscriber[T]) -> None:
            RetryStage(down, the_policy, name).start(source)
        return Stream(subscribe)

    return operator
