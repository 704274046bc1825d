"""``flat_map``: subscribe to an inner stream per item, at most *concurrency* at a time, and
interleave what they emit (Reactor's ``flatMap(fn, concurrency, prefetch)``).

The same stage runs ``concat_map`` (concurrency 1), ``merge`` and ``concat`` (the outer items
are the streams themselves).

**Demand.** Each inner stream is asked for *prefetch* items and topped up once 75 % of
them were taken; what arrives waits in that inner's queue until downstream asks. Downstream
demand is served round-robin, one queued chunk per inner per turn, so a slow or silent inner
never holds the others back. The outer stream is asked for a new item only when an inner
slot is free.

**Memory bound.** At most ``concurrency × prefetch`` items are queued, and at most
*concurrency* inner streams are subscribed.

**Acks.** An item passes its own ack on. With an acked outer item, every derived item also
holds a share of the outer ack (:class:`~._fan_acks.SharedAck`): the outer record completes
once its inner stream completed and every derived item completed downstream — failed if one
of them failed, abandoned if one was abandoned or the inner stream was cancelled.

Stages inside inner streams run on the pipeline's tasks but are not listed in its
statistics (there may be millions of them over a run); this stage counts their items.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from ..core._ack import Ack, abandon_all
from ..core._protocol import UNBOUNDED, ChunkSubscriber, Subscription, add_demand, demand_error
from ..core._runtime import Runtime, StatisticsSource, activate
from ..core._stage import UNSUBSCRIBED, Stage
from ..core._stream import Stream
from ._errors import item_failed
from ._fan_acks import ChildAck, SharedAck

A = TypeVar("A")
B = TypeVar("B")


class InnerRuntime(Runtime):
    """The runtime inner streams are subscribed in: their tasks belong to the pipeline (so
    they are cancelled and awaited with it); their stages are not registered."""

    __slots__ = ("_owner",)

    def __init__(self, owner: Runtime) -> None:
        super().__init__(owner.name, owner.bus)
        self._owner = owner
        self.closed = True  # not a pipeline of its own: never listed by live_pipelines()

    def register(self, stage: StatisticsSource) -> None:
        """Inner stages are short-lived and uncounted (the owning stage counts their items)."""

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> Any:
        """Start *coro* as a task of the owning pipeline."""
        return self._owner.spawn(coro, name)


class Inner(Generic[B]):
    """The subscriber of one inner stream; its queue holds what downstream has not taken."""

    __slots__ = ("consumed", "ended", "parent", "queue", "queued", "ready", "settled", "stage",
                 "sub")

    def __init__(self, stage: FlatMapStage[Any, B], parent: SharedAck | None) -> None:
        self.stage = stage
        self.parent = parent
        self.sub: Subscription | None = None
        self.queue: deque[tuple[list[B], list[Ack] | None]] = deque()
        self.queued = 0
        self.consumed = 0
        self.ended = False  # the inner stream completed (or was cancelled, or failed)
        self.ready = False  # in the stage's round-robin of inners with queued items
        self.settled = False  # the inner stream's own share of the parent ack is settled

    def on_subscribe(self, subscription: Subscription) -> None:
        if self.sub is not None:
            subscription.cancel()  # rule 2.5
            return
        self.sub = subscription
        if self.ended:
            subscription.cancel()
            return
        subscription.request(self.stage._prefetch)

    def on_next(self, item: B) -> None:
        self.stage._inner_chunk(self, [item], None)

    def on_chunk(self, items: list[B], acks: list[Ack] | None) -> None:
        self.stage._inner_chunk(self, items, acks)

    def on_error(self, error: BaseException) -> None:
        self.stage._inner_error(self, error)

    def on_complete(self) -> None:
        self.stage._inner_complete(self)

    def settle(self, outcome: str, error: BaseException | None = None) -> None:
        """Settle the inner stream's own share of the outer ack (once)."""
        if self.settled or self.parent is None:
            self.settled = True
            return
        self.settled = True
        if outcome == "done":
            self.parent.done()
        elif outcome == "fail":
            assert error is not None
            self.parent.fail(error)
        else:
            self.parent.abandon()


class FlatMapStage(Stage[A, B]):
    """Maps each outer item to a stream (``fn=None``: the item is the stream) and merges
    up to *concurrency* of them."""

    kind = "flat_map"

    def __init__(
        self, downstream: ChunkSubscriber[B], fn: Callable[[A], Stream[B]] | None, *,
        concurrency: int, prefetch: int, name: str | None, kind: str | None = None,
    ) -> None:
        if kind is not None:
            self.kind = kind
        super().__init__(downstream, name)
        self._fn = fn
        self._concurrency = concurrency
        self._prefetch = prefetch
        self._limit = max(1, prefetch * 3 // 4)
        self._active: list[Inner[B]] = []
        self._ready: deque[Inner[B]] = deque()
        self._demand = 0
        self._upstream_done = False
        self._in_outer = False
        self._draining = False
        self._again = False
        self._inner_rt = InnerRuntime(self._rt)

    # ---------------------------------------------------------------- statistics
    def _in_flight(self) -> int:
        return len(self._active)

    def _buffered(self) -> int:
        return sum(inner.queued for inner in self._active)

    def _capacity(self) -> int:
        return self._concurrency * self._prefetch

    # ---------------------------------------------------------------- outer side
    def on_subscribe(self, subscription: Subscription) -> None:
        first = self._up is UNSUBSCRIBED
        super().on_subscribe(subscription)  # a second subscription is cancelled (rule 2.5)
        if first:
            self._top_up()

    def _top_up(self) -> None:
        """Ask the outer stream for as many items as there are free inner slots."""
        if self._done or self._upstream_done or self._in_outer:
            return
        free = self._concurrency - len(self._active) - self._outstanding
        # Ask in batches of half the slots (at least one), not one item per freed slot.
        if free > 0 and (free * 2 >= self._concurrency or self._outstanding == 0):
            self._ask(free)

    def on_chunk(self, items: list[A], acks: list[Ack] | None) -> None:
        if self._done:
            abandon_all(acks)
            return
        self._received += len(items)
        self._arrived(len(items))
        self._in_outer = True
        try:
            for i, item in enumerate(items):
                if self._done:
                    abandon_all(None if acks is None else acks[i:])
                    return
                self._start(item, None if acks is None else acks[i])
        finally:
            self._in_outer = False
        self._top_up()
        self._drain()

    def _start(self, item: A, ack: Ack | None) -> None:
        try:
            inner_stream = item if self._fn is None else self._fn(item)
            if not isinstance(inner_stream, Stream):
                raise TypeError(f"{self.kind}() needs a function returning a Stream, got "
                                f"{type(inner_stream).__name__} {inner_stream!r}; wrap values "
                                "with from_iterable(...)")
        except Exception as exc:
            self._failed += 1
            self._publish_failed(exc)
            failure = item_failed(self.name, item, exc)
            if ack is not None:
                ack.fail(failure)
            self._fail(failure)
            return
        inner: Inner[B] = Inner(self, None if ack is None else SharedAck(ack, 1))
        self._active.append(inner)
        with activate(self._inner_rt):
            inner_stream._subscribe_chunked(inner)

    def on_complete(self) -> None:
        self._upstream_done = True
        self._drain()

    # ---------------------------------------------------------------- inner side
    def _inner_chunk(self, inner: Inner[B], items: list[B], acks: list[Ack] | None) -> None:
        if self._done or inner.ended:
            abandon_all(acks)
            return
        n = len(items)
        if not n:
            return
        parent = inner.parent
        if parent is not None:
            parent.add(n)
            acks = [parent] * n if acks is None else [ChildAck(a, parent) for a in acks]
        if not self._ready and not self._draining and self._demand >= n:
            # Nothing else is waiting: hand the chunk straight on.
            if self._demand < UNBOUNDED:
                self._demand -= n
            inner.consumed += n
            self._emit(items, acks)
            self._replenish(inner)
            return
        inner.queue.append((items, acks))
        inner.queued += n
        if not inner.ready:
            inner.ready = True
            self._ready.append(inner)
        self._drain()

    def _replenish(self, inner: Inner[B]) -> None:
        if inner.consumed >= self._limit and not inner.ended and inner.sub is not None:
            n, inner.consumed = inner.consumed, 0
            inner.sub.request(n)

    def _inner_complete(self, inner: Inner[B]) -> None:
        if inner.ended:
            return
        inner.ended = True
        if not inner.queue:
            self._retire(inner)
        self._drain()

    def _inner_error(self, inner: Inner[B], error: BaseException) -> None:
        if inner.ended or self._done:
            return
        inner.ended = True
        inner.settle("fail", error)
        self._failed += 1
        self._publish_failed(error)
        self._fail(error)

    def _retire(self, inner: Inner[B]) -> None:
        """An inner stream completed and everything it emitted went downstream."""
        self._active.remove(inner)
        inner.settle("done")
        self._top_up()

    # ---------------------------------------------------------------- downstream side
    def request(self, n: int) -> None:
        if n <= 0:
            self._fail(demand_error(f"stage {self.name!r}", n))
            return
        if self._done:
            return
        self._requested = add_demand(self._requested, n)
        self._demand = add_demand(self._demand, n)
        self._drain()

    def _drain(self) -> None:
        if self._draining:
            self._again = True
            return
        self._draining = True
        try:
            while True:
                self._again = False
                ready = self._ready
                while self._demand > 0 and ready and not self._done:
                    inner = ready.popleft()
                    items, acks = inner.queue[0]
                    k = len(items)
                    if self._demand >= k:
                        inner.queue.popleft()
                    else:
                        k = self._demand
                        inner.queue[0] = (items[k:], None if acks is None else acks[k:])
                        items, acks = items[:k], None if acks is None else acks[:k]
                    inner.queued -= k
                    inner.consumed += k
                    if self._demand < UNBOUNDED:
                        self._demand -= k
                    if inner.queue:
                        ready.append(inner)  # round-robin: back of the line
                    else:
                        inner.ready = False
                    self._emit(items, acks)
                    if inner.ended and not inner.queue and not inner.settled:
                        self._retire(inner)
                    else:
                        self._replenish(inner)
                if self._done:
                    return
                if self._upstream_done and not self._active:
                    self._terminate(None)
                    return
                if not self._again:
                    return
        finally:
            self._draining = False

    # ---------------------------------------------------------------- endings
    def _on_cancel(self) -> None:
        self._release_all()

    def _on_terminate(self) -> None:
        self._release_all()

    def _release_all(self) -> None:
        """Cancel every inner stream; what they queued was not processed."""
        active, self._active = self._active, []
        self._ready.clear()
        for inner in active:
            was_ended, inner.ended = inner.ended, True
            if not was_ended and inner.sub is not None:
                inner.sub.cancel()
            for _, acks in inner.queue:
                abandon_all(acks)
            inner.queue.clear()
            inner.queued = 0
            inner.settle("abandon")

