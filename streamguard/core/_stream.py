"""`Stream`: a cold, demand-driven publisher, composed with ``pipe`` like reactivex."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar, overload

from ._ack import Ack, abandon_all
from ._errors import StreamClosedError, require
from ._events import EventBus
from ._pipeline import DEFAULT_PREFETCH, Pipeline, PipelineResult
from ._protocol import ChunkSubscriber, Subscriber, Subscription
from ._runtime import Runtime, _current, activate

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")
E = TypeVar("E")
F = TypeVar("F")
G = TypeVar("G")
H = TypeVar("H")

Operator = Callable[["Stream[A]"], "Stream[B]"]
"""An operator is a function from stream to stream, as in reactivex."""

class Stream(Generic[T]):
    """A cold publisher: every subscription runs the pipeline anew.

    Build one from a source (:func:`~streamguard.from_iterable` and friends), transform it with
    :meth:`pipe`, and consume it with :meth:`run`, :meth:`to_list` or ``async for``::

        from streamguard import from_iterable, operators as op

        total = await from_iterable(range(10)).pipe(op.map(lambda x: x * 2)).to_list()
    """

    __slots__ = ("_ends", "_subscribe_fn")

    def __init__(self, subscribe: Callable[[ChunkSubscriber[T]], None], *,
                 ends: str | None = None) -> None:
        self._subscribe_fn = subscribe
        self._ends = ends  # the sink that ends this stream: nothing may follow it

    # ---------------------------------------------------------------- subscribing
    def subscribe(self, subscriber: Subscriber[T]) -> None:
        """Subscribe a Reactive Streams subscriber (chunk-aware or plain ``on_next``)."""
        sub: ChunkSubscriber[T]
        sub = subscriber if hasattr(subscriber, "on_chunk") else _ItemAdapter(subscriber)  # type: ignore[assignment]
        self._subscribe_chunked(sub)

    def _subscribe_chunked(self, subscriber: ChunkSubscriber[T]) -> None:
        if _current.get() is None:
            with activate(Runtime()):
                self._subscribe_fn(subscriber)
        else:
            self._subscribe_fn(subscriber)

    # ---------------------------------------------------------------- composition
    @overload
    def pipe(self) -> Stream[T]: ...
    @overload
    def pipe(self, op1: Operator[T, A], /) -> Stream[A]: ...
    @overload
    def pipe(self, op1: Operator[T, A], op2: Operator[A, B], /) -> Stream[B]: ...
    @overload
    def pipe(
        self, op1: Operator[T, A], op2: Operator[A, B], op3: Operator[B, C], /
    ) -> Stream[C]: ...
    @overload
    def pipe(
        self, op1: Operator[T, A], op2: Operator[A, B], op3: Operator[B, C], op4: Operator[C, D], /
    ) -> Stream[D]: ...
    @overload
    def pipe(
        self, op1: Operator[T, A], op2: Operator[A, B], op3: Operator[B, C], op4: Operator[C, D],
        op5: Operator[D, E], /,
    ) -> Stream[E]: ...
    @overload
    def pipe(
        self, op1: Operator[T, A], op2: Operator[A, B], op3: Operator[B, C], op4: Operator[C, D],
        op5: Operator[D, E], op6: Operator[E, F], /,
    ) -> Stream[F]: ...
    @overload
    def pipe(
        self, op1: Operator[T, A], op2: Operator[A, B], op3: Operator[B, C], op4: Operator[C, D],
        op5: Operator[D, E], op6: Operator[E, F], op7: Operator[F, G], /,
    ) -> Stream[G]: ...
    @overload
    def pipe(
        self, op1: Operator[T, A], op2: Operator[A, B], op3: Operator[B, C], op4: Operator[C, D],
        op5: Operator[D, E], op6: Operator[E, F], op7: Operator[F, G], op8: Operator[G, H], /,
    ) -> Stream[H]: ...
    @overload
    def pipe(self, *ops: Operator[Any, Any]) -> Stream[Any]: ...
    def pipe(self, *ops: Operator[Any, Any]) -> Stream[Any]:
        """Apply operators left to right: ``s.pipe(f, g)`` is ``g(f(s))``.

        A sink must be the last stage: an operator after one is refused here, when the
        pipeline is built (a stage after a sink would receive nothing)."""
        stream: Stream[Any] = self
        for op in ops:
            if stream._ends is not None:
                raise after_sink_error(_describe(op), stream._ends)
            stream = op(stream)
        return stream

    # ---------------------------------------------------------------- consuming
    def start(
        self, *, name: str | None = None, bus: EventBus | None = None,
        prefetch: int = DEFAULT_PREFETCH,
    ) -> Pipeline:
        """Start the pipeline on the running event loop and return its :class:`Pipeline`
        handle at once: ``wait()`` for its end, ``drain(timeout)`` it, or ``cancel()`` it.

        What reaches the end of the pipeline is discarded (and completed at its source).
        """
        return Pipeline(self, name=name, bus=bus, prefetch=prefetch,
                        sink=self._ends is not None)

    async def run(
        self, *, name: str | None = None, bus: EventBus | None = None,
        prefetch: int = DEFAULT_PREFETCH,
    ) -> PipelineResult:
        """Run the pipeline to its end: ``await stream.start(...).wait()``.

        Cancelling the task that awaits this cancels every stage (what is held or in flight
        is abandoned at its source), runs every source's cleanup, and awaits every task the
        stages started. The first error of any stage is raised here.
        """
        return await Pipeline(self, name=name, bus=bus, prefetch=prefetch,
                              sink=self._ends is not None).wait()

    async def to_list(
        self, *, name: str | None = None, bus: EventBus | None = None,
        prefetch: int = DEFAULT_PREFETCH,
    ) -> list[T]:
        """Run the pipeline and return everything it emitted, in order."""
        out: list[T] = []
        await Pipeline(self, name=name, bus=bus, prefetch=prefetch, out=out).wait()
        return out

    def __aiter__(self) -> AsyncIterator[T]:
        """Iterate over the pipeline's items: ``async for item in stream``.

        Breaking out of the loop cancels the pipeline at once (when the loop lets go of the
        iterator), without waiting for garbage collection of a generator; the sources'
        cleanup then runs on the event loop. ``async with stream.iterate()`` does the same
        and also awaits that cleanup.
        """
        return _StreamIterator(self, DEFAULT_PREFETCH, None)

    @contextlib.asynccontextmanager
    async def iterate(
        self, *, prefetch: int = DEFAULT_PREFETCH, name: str | None = None
    ) -> AsyncIterator[AsyncIterator[T]]:
        """Iterate inside a context, so that leaving it always cancels the pipeline and
        awaits its cleanup::

            async with stream.iterate() as items:
                async for item in items:
                    ...

        An item is completed at its source when the loop asks for the next one; items
        fetched ahead and never handed to the loop are abandoned.
        """
        iterator = _StreamIterator(self, prefetch, name)
        try:
            yield iterator
        finally:
            await iterator.aclose()


class _StreamIterator(Generic[T]):
    """``async for`` over a stream: subscribes on the first ``__anext__``; closes the
    pipeline on exhaustion, on :meth:`aclose`, or when dropped (a ``break``)."""

    __slots__ = ("__weakref__", "_name", "_prefetch", "_rt", "_stream", "_sub")

    def __init__(self, stream: Stream[T], prefetch: int, name: str | None) -> None:
        require(isinstance(prefetch, int) and not isinstance(prefetch, bool) and prefetch >= 1,
                "iterate: prefetch must be an int >= 1", prefetch)
        self._stream = stream
        self._prefetch = prefetch
        self._name = name
        self._rt: Runtime | None = None
        self._sub: _IteratorSubscriber[T] | None = None

    def __aiter__(self) -> _StreamIterator[T]:
        return self

    async def __anext__(self) -> T:
        if self._sub is None:
            self._rt = Runtime(self._name)
            self._sub = _IteratorSubscriber(self._prefetch)
            with activate(self._rt):
                self._stream._subscribe_chunked(self._sub)
        try:
            return await self._sub.next()
        except StopAsyncIteration:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Cancel the pipeline and await its cleanup (idempotent)."""
        if self._sub is not None:
            self._sub.cancel()
        if self._rt is not None:
            await self._rt.aclose()

    def __del__(self) -> None:
        # A loop that breaks drops its iterator: cancel now; the tasks' cleanup runs on.
        sub, rt = self._sub, self._rt
        if sub is not None and not sub.closed:
            try:
                sub.cancel()
                if rt is not None:
                    for task in list(rt.tasks):
                        task.cancel()
            except RuntimeError:  # the event loop is already closed: nothing left to stop
                pass


class _IteratorSubscriber(Generic[T]):
    """Bridges demand to ``__anext__``: a bounded prefetch buffer refilled at 75%."""

    def __init__(self, prefetch: int) -> None:
        self._prefetch = prefetch
        self._limit = max(1, prefetch * 3 // 4)
        self._consumed = 0
        self._items: deque[T] = deque()
        self._acks: deque[Ack | None] = deque()
        self._pending_ack: Ack | None = None
        self._sub: Subscription | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._finished = False
        self._cancelled = False
        self._error: BaseException | None = None

    def on_subscribe(self, subscription: Subscription) -> None:
        self._sub = subscription
        subscription.request(self._prefetch)

    def on_next(self, item: T) -> None:
        self.on_chunk([item], None)

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._finished:
            abandon_all(acks)
            return
        self._items.extend(items)
        if acks is None:
            self._acks.extend([None] * len(items))
        else:
            self._acks.extend(acks)
        self._wake()

    def on_error(self, error: BaseException) -> None:
        self._finished = True
        self._error = error
        self._wake()

    def on_complete(self) -> None:
        self._finished = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def cancel(self) -> None:
        if self._cancelled:
            return
        self._cancelled = True
        self._settle_previous()
        if self._sub is not None:
            self._sub.cancel()
        self._finished = True
        abandon_all(self._acks)  # prefetched, never handed to the loop body
        self._acks.clear()
        self._items.clear()

    def _settle_previous(self) -> None:
        if self._pending_ack is not None:
            ack, self._pending_ack = self._pending_ack, None
            ack.done()

    @property
    def closed(self) -> bool:
        """True once cancelled."""
        return self._cancelled

    async def next(self) -> T:
        # The previous item is finished once the loop body asks for the next one.
        self._settle_previous()
        while not self._items:
            if self._finished:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        self._pending_ack = self._acks.popleft()
        item = self._items.popleft()
        self._consumed += 1
        if self._consumed >= self._limit and self._sub is not None and not self._finished:
            self._consumed = 0
            self._sub.request(self._limit)
        return item


class _ItemAdapter(Generic[T]):
    """Adapts a plain Reactive Streams subscriber: one ``on_next`` per item.

    An item is completed when ``on_next`` returns; if ``on_next`` raises (a rule 2.13
    violation), the item is failed, upstream is cancelled and the subscriber gets ``on_error``.
    """

    def __init__(self, subscriber: Subscriber[T]) -> None:
        self._sub = subscriber
        self._upstream: Subscription | None = None
        self._dead = False

    def on_subscribe(self, subscription: Subscription) -> None:
        self._upstream = subscription
        self._sub.on_subscribe(subscription)

    def on_next(self, item: T) -> None:
        self.on_chunk([item], None)

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._dead:
            abandon_all(acks)
            return
        for i, item in enumerate(items):
            try:
                self._sub.on_next(item)
            except Exception as exc:
                self._dead = True
                if acks is not None:
                    acks[i].fail(exc)
                if self._upstream is not None:
                    self._upstream.cancel()
                self._sub.on_error(exc)
                return
            if acks is not None:
                acks[i].done()

    def on_error(self, error: BaseException) -> None:
        if not self._dead:
            self._dead = True
            self._sub.on_error(error)

    def on_complete(self) -> None:
        if not self._dead:
            self._dead = True
            self._sub.on_complete()


def closed_error(what: str) -> StreamClosedError:
    """Build the error for using a finished stream or emitter."""
    return StreamClosedError(f"{what} is closed and takes no more items; create a new one")


def after_sink_error(what: str, sink: str) -> TypeError:
    """Build the error for an operator placed after a sink."""
    return TypeError(
        f"{what} comes after {sink}, which ends the pipeline and emits nothing: a sink must "
        f"be the last stage; move {what} before {sink} (or use map/map_async to go on)")


def _describe(op: object) -> str:
    name = getattr(op, "__qualname__", None) or type(op).__name__
    return str(getattr(op, "operator_name", None) or name)


def lift(
    factory: Callable[[ChunkSubscriber[B]], ChunkSubscriber[A]], *, name: str | None = None,
    ends: bool = False,
) -> Callable[[Stream[A]], Stream[B]]:
    """Build an operator from *factory*, which makes the stage for one subscription.

    The factory runs at subscription time, so every subscription gets fresh stage state.

    Args:
        name: how errors name the operator (``"op.map"``).
        ends: the operator is a sink: the pipeline ends with it, and an operator placed
            after it is refused when the pipeline is built.
    """
    label = name or "an operator"

    def operator(source: Stream[A]) -> Stream[B]:
        if source._ends is not None:
            raise after_sink_error(label, source._ends)

        def subscribe(downstream: ChunkSubscriber[B]) -> None:
            source._subscribe_chunked(factory(downstream))

        return Stream(subscribe, ends=label if ends else None)

    operator.operator_name = label  # type: ignore[attr-defined]
    return operator
