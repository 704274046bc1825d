"""`Pipeline`: a running pipeline — wait for it, drain it, or cancel it.

``stream.start()`` subscribes the pipeline and returns its :class:`Pipeline` at once;
``stream.run()`` is ``await stream.start().wait()``. Alpakka's
``DrainingControl.drainAndShutdown`` is the model of :meth:`Pipeline.drain`: the sources stop
taking new items and complete (each :class:`~streamguard.core.Publisher` through its drain
hook; the Kafka source also commits what completed and leaves its group), what is in flight
finishes, and whatever is still held when the timeout expires is cancelled and its acks
abandoned — a Kafka source then delivers those records again, and only those.

``drain(timeout)`` starts the drain when called (a signal handler may call it) and returns a
:class:`~streamguard.core.Draining` to await for the result; a source's ``drain`` returns
the same handle, for the end of the pipeline it feeds (:func:`draining_of`).

A pipeline reaches its sources through its runtime: every ``Publisher`` registers itself when
subscribed (``Runtime.add_source``); a source built otherwise can register any object with a
``drain()`` method the same way. A pipeline without such sources drains by waiting for its
end until the timeout.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from ._ack import Ack, abandon_all, done_all
from ._draining import Draining, check_drain_timeout
from ._errors import require
from ._events import EventBus
from ._protocol import ChunkSubscriber, Subscription
from ._runtime import Runtime, StageStatistics, activate

T = TypeVar("T")

DEFAULT_PREFETCH = 1024
"""How many items a consumer requests ahead of what it has processed, wherever ``prefetch``
appears (``run``, ``start``, ``iterate``, ``sink``, the ``prefetch`` operator); each refills
once three quarters were consumed."""

DEFAULT_DRAIN_TIMEOUT = 30.0
"""Seconds :meth:`Pipeline.drain` lets in-flight items finish when given no timeout."""

Outcome = Literal["completed", "drained", "drain_expired", "cancelled"]


class Startable(Protocol):
    """What a :class:`Pipeline` starts: every :class:`~streamguard.core.Stream` (a pipeline
    needs of it only the subscription of its terminal subscriber)."""

    def _subscribe_chunked(self, subscriber: ChunkSubscriber[Any]) -> None:
        """Subscribe *subscriber* to the items, in chunks with their acks."""
        ...


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """How a pipeline ended: its name, *items*, the final statistics of every stage from
    source to sink, and the *outcome*: ``"completed"`` (the sources ended), ``"drained"`` (a
    drain finished within its timeout), ``"drain_expired"`` (the drain's timeout cancelled
    what was left; those items were abandoned) or ``"cancelled"``.

    A pipeline whose sources were drained one by one (``source.drain()``, ``streamguard
    run`` draining a pipeline a target started) reports ``"drained"`` too.

    *items* counts the items the pipeline delivered: for a pipeline that ends in a sink
    (``op.sink``, ``guarded_sink``), those the sink finished — its function returned for
    them, which is the sink's ``emitted`` statistic (items failed, skipped, handled by
    ``on_error`` or dead-lettered are not counted); without a sink, those that reached its
    end (``run()`` discards them, ``to_list()`` returns them)."""

    name: str
    items: int
    statistics: tuple[StageStatistics, ...]
    outcome: Outcome = "completed"


class Pipeline:
    """A running pipeline, returned by :meth:`Stream.start() <streamguard.core.Stream.start>`.

    Example::

        pipeline = source.stream().pipe(op.sink(store)).start(name="orders")
        ...                                   # on SIGTERM:
        result = await pipeline.drain(timeout=30)
        # or, in a signal handler (sync): pipeline.drain(30) starts it; await it elsewhere

    Attributes:
        name: the pipeline's name (in statistics, metrics and events).
    """

    __slots__ = ("_outcome", "_rt", "_sink", "_task", "_terminal", "name")

    def __init__(self, stream: Startable, *, name: str | None, bus: EventBus | None,
                 prefetch: int, out: list[Any] | None = None, sink: bool = False) -> None:
        require(isinstance(prefetch, int) and not isinstance(prefetch, bool) and prefetch >= 1,
                "prefetch must be an int >= 1", prefetch)
        require(name is None or isinstance(name, str), "name must be a str or None", name)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("Stream.start()/run() needs a running event loop: call it from "
                               "a coroutine (asyncio.run(main()))") from None
        self._rt = Runtime(name, bus)
        self._rt.owner = self
        self.name = self._rt.name
        self._outcome: Outcome = "completed"
        finished: asyncio.Future[None] = loop.create_future()
        self._terminal = _Terminal(finished, out, prefetch)
        try:
            with activate(self._rt):
                stream._subscribe_chunked(self._terminal)
        except BaseException:
            self._terminal.cancel()
            for task in self._rt.tasks:
                task.cancel()
            raise
        # A sink emits nothing to the terminal; what it finished is its own count. It is the
        # stage the terminal subscribed to, so the first one registered.
        self._sink = self._rt.stages[0] if sink and self._rt.stages else None
        self._task = loop.create_task(self._supervise(finished), name=f"{self.name}:pipeline")

    @property
    def done(self) -> bool:
        """True once the pipeline ended (completed, failed, drained or cancelled) and every
        task it started has finished."""
        return self._task.done()

    async def wait(self) -> PipelineResult:
        """Wait for the end; return the result, or raise the first error of any stage.

        Cancelling the task that awaits this cancels the pipeline (as with ``run()``)."""
        try:
            return await asyncio.shield(self._task)
        except asyncio.CancelledError:
            if self._task.done() and not self._task.cancelled():
                raise
            self.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            raise

    def drain(self, timeout: float | None = None) -> Draining[PipelineResult]:
        """Start draining now: stop the sources taking new items, let what is in flight
        finish within *timeout* seconds (``None``: :data:`DEFAULT_DRAIN_TIMEOUT`), then
        cancel what is left (its acks are abandoned).

        The drain has begun when the call returns, so it may be called from a signal handler
        or other synchronous code. Await the returned :class:`Draining` for the result (or
        the first error of any stage); a pipeline already ended just returns its result."""
        check_drain_timeout(timeout)
        seconds = DEFAULT_DRAIN_TIMEOUT if timeout is None else timeout
        if not self._task.done():
            if self._outcome == "completed":
                self._outcome = "drained"
            for source in list(self._rt.sources):
                source.drain(seconds)  # the same deadline: see Drainable.drain
            # Each drain keeps its own deadline (the earliest cancels), independent of
            # whoever awaits the handle.
            expiry = self._task.get_loop().call_later(seconds, self._expire)
            self._task.add_done_callback(lambda _task: expiry.cancel())
        return self._draining()

    def _expire(self) -> None:
        if not self._task.done():
            self._outcome = "drain_expired"
            self._terminal.cancel()

    def _draining(self) -> Draining[PipelineResult]:
        return Draining(self._result, self._task.done)

    async def _result(self) -> PipelineResult:
        # Unlike wait(), a cancelled awaiter leaves the pipeline alone: its drain goes on.
        return await asyncio.shield(self._task)

    def cancel(self) -> None:
        """Stop at once: every stage is cancelled, what is held or in flight is abandoned."""
        if not self._task.done():
            if self._outcome in ("completed", "drained"):
                self._outcome = "cancelled"
            self._terminal.cancel()

    async def _supervise(self, finished: asyncio.Future[None]) -> PipelineResult:
        try:
            await finished
        except asyncio.CancelledError:
            if not self._terminal.cancelled:
                self._terminal.cancel()
                await self._rt.aclose()
                raise  # the loop is shutting down
        except BaseException:
            self._terminal.cancel()  # a stage failed: stop every other stage (as run() did)
            raise
        finally:
            await self._rt.aclose()
        items = self._terminal.count
        if self._sink is not None:
            items += self._sink.statistics().emitted
        outcome = self._outcome
        if outcome == "completed" and self._rt.drained:
            outcome = "drained"  # a source's own drain() ended it, not its data
        return PipelineResult(self.name, items, tuple(self._rt.statistics()), outcome)

    def __repr__(self) -> str:
        state = "done" if self._task.done() else "running"
        return f"<Pipeline {self.name!r} {state}>"


def draining_of(rt: Runtime | None, name: str) -> Draining[PipelineResult]:
    """The handle a source's ``drain`` returns: the end of the pipeline the source feeds
    (*rt*'s :class:`Pipeline`), so that awaiting it gives that pipeline's result.

    A source read by ``iterate()`` has no pipeline: the handle waits for the iteration to
    end (its runtime to close) and returns a result named after the runtime, with the
    statistics of its stages, ``items=0`` (what was read is counted by the reader) and the
    outcome ``"drained"``. A source never subscribed (*rt* ``None``) has ended at once."""
    owner = None if rt is None else rt.owner
    if isinstance(owner, Pipeline):
        return owner._draining()

    async def unowned() -> PipelineResult:
        if rt is None:
            return PipelineResult(name, 0, (), "drained")
        await rt.ended.wait()
        return PipelineResult(rt.name, 0, tuple(rt.statistics()), "drained")

    return Draining(unowned, lambda: rt is None or rt.ended.done)


class _Terminal(Generic[T]):
    """The subscriber at the end of ``run()``/``start()``/``to_list()``: requests *prefetch*
    items and refills at 75%; every item reaching it completes at its source."""

    __slots__ = ("_consumed", "_done", "_limit", "_out", "_prefetch", "_sub", "cancelled",
                 "count")

    def __init__(self, done: asyncio.Future[None], out: list[T] | None, prefetch: int) -> None:
        self._done = done
        self._out = out
        self._prefetch = prefetch
        self._limit = max(1, prefetch * 3 // 4)
        self._consumed = 0
        self._sub: Subscription | None = None
        self.count = 0
        self.cancelled = False

    def on_subscribe(self, subscription: Subscription) -> None:
        self._sub = subscription
        subscription.request(self._prefetch)

    def on_next(self, item: T) -> None:
        self.on_chunk([item], None)

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done.done():
            abandon_all(acks)
            return
        if self._out is not None:
            self._out.extend(items)
        n = len(items)
        self.count += n
        done_all(acks)
        self._consumed += n
        if self._consumed >= self._limit and self._sub is not None:
            self._consumed = 0
            self._sub.request(self._limit)

    def on_error(self, error: BaseException) -> None:
        if not self._done.done():
            self._done.set_exception(error)

    def on_complete(self) -> None:
        if not self._done.done():
            self._done.set_result(None)

    def cancel(self) -> None:
        sub, self._sub = self._sub, None
        if not self._done.done():
            self.cancelled = True
            self._done.cancel()
        if sub is not None:
            sub.cancel()
