"""`Publisher`: the one base of every source's subscription.

A source (``from_iterable``, ``from_async_iterable``, ``Emitter``, the Rx bridge, the Kafka
source) makes one :class:`Publisher` per subscriber. The base implements the subscription
side of the Reactive Streams rules once:

* 1.1 — demand is counted here; :meth:`_emit` spends it (a subclass emits at most
  :attr:`_demand` items);
* 1.7 — at most one terminal signal (:meth:`_complete` / :meth:`_error`), nothing after it;
* 3.6 — ``request`` after the end is a no-op;
* 3.9 — ``request(n <= 0)`` ends the stream with a :class:`DemandError` naming the source;
* 3.13 — ``cancel()`` drops the reference to the subscriber;
* 3.17 — demand saturates at ``2**63 - 1`` (unbounded).

Protected API for subclasses (hooks are called once per event, never re-entrantly):

* :meth:`_on_request` (hook) — demand grew; emit what is ready. Called inside a
  :class:`DrainLoop`, so a subscriber that requests from inside ``on_chunk`` does not recurse;
  call :meth:`_ready` when new items arrive to run the same loop.
* :meth:`_on_cancel` (hook) — stop producing and release resources (cancel a task, dispose a
  subscription). Called once on cancel, on a rule-3.9 error and by the default drain.
* :meth:`_on_drain` (hook) — a :class:`~streamguard.core.Pipeline` is draining: stop taking
  new items, let what was handed out finish, then complete. The default stops at once
  (``_on_cancel``) and completes. The Kafka source overrides it: stop fetching, finish what
  is in flight, commit, leave the group, complete.
* :meth:`_emit`, :meth:`_complete`, :meth:`_error`; :attr:`_demand`, :attr:`_finished`
  (nothing more may go downstream), :attr:`_draining`.

Items offered by :meth:`_emit` after the end are abandoned at their source, never lost silently.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from ._ack import Ack, abandon_all
from ._draining import Draining, check_drain_timeout
from ._outbox import DrainLoop
from ._pipeline import PipelineResult, draining_of
from ._protocol import UNBOUNDED, ChunkSubscriber, demand_error
from ._runtime import current_runtime

T = TypeVar("T")


class Publisher(Generic[T]):
    """The subscription a source hands to its one subscriber.

    Example (a source of the numbers ``0 .. n-1``)::

        class _Count(Publisher[int]):
            def __init__(self, down, n):
                super().__init__(down, "count")
                self._next, self._n = 0, n

            def _on_request(self):
                k = min(self._demand, self._n - self._next)
                self._emit(list(range(self._next, self._next + k)), None)
                self._next += k
                if self._next == self._n:
                    self._complete()

        Stream(lambda down: _Count(down, 10).start())
    """

    kind = "source"

    def __init__(self, downstream: ChunkSubscriber[T], name: str) -> None:
        self._down: ChunkSubscriber[T] | None = downstream
        self.name = name
        self._demand = 0
        self._finished = False
        self._cancelled = False
        self._draining = False
        self._stopped = False
        self._loop = DrainLoop()
        self._rt = current_runtime()
        self._rt.add_source(self)

    def start(self) -> None:
        """Hand this subscription to the subscriber (``on_subscribe``)."""
        down = self._down
        if down is not None:
            down.on_subscribe(self)

    # ---------------------------------------------------------------- Subscription
    def request(self, n: int) -> None:
        """Add *n* to the demand and emit what is ready (rules 3.6, 3.9, 3.17)."""
        if self._finished:
            return
        if n <= 0:
            self._stop()
            self._error(demand_error(f"{self.kind} {self.name!r}", n))
            return
        total = self._demand + n
        self._demand = UNBOUNDED if total >= UNBOUNDED else total
        self._loop.run(self._on_request)

    def cancel(self) -> None:
        """Stop emitting, release resources and forget the subscriber (rules 3.5, 3.13)."""
        if self._cancelled:
            return
        self._cancelled = True
        was_finished = self._finished
        self._finished = True
        self._down = None
        if not was_finished:  # after the end there is nothing left to stop
            self._stop()

    def drain(self, timeout: float | None = None) -> Draining[PipelineResult]:
        """Stop taking new items; complete once what was handed out is finished.

        *timeout* is the drainer's deadline in seconds, after which it cancels what is left.
        An in-memory publisher hands out nothing it must wait for, so it ignores it; a
        source that tracks what it handed out (Kafka's) waits for it until the deadline.
        Returns the handle of every ``drain``: await it for the end of the pipeline this
        source feeds (:func:`~streamguard.core._pipeline.draining_of`)."""
        check_drain_timeout(timeout)
        if not (self._finished or self._draining):
            self._draining = self._rt.drained = True
            self._on_drain(timeout)
        return draining_of(self._rt, self.name)

    # ---------------------------------------------------------------- protected
    @property
    def finished(self) -> bool:
        """True once the stream ended or was cancelled."""
        return self._finished

    def _ready(self) -> None:
        """New items are held: emit what demand allows (through :meth:`_on_request`)."""
        if not self._finished:
            self._loop.run(self._on_request)

    def _emit(self, items: list[T], acks: list[Ack] | None) -> None:
        """Send *items* (at most :attr:`_demand` of them) downstream."""
        down = self._down
        if self._finished or down is None:
            abandon_all(acks)
            return
        if self._demand < UNBOUNDED:
            self._demand -= len(items)
        down.on_chunk(items, acks)

    def _complete(self) -> None:
        """End the stream normally (once; nothing after it)."""
        down = self._down
        if self._finished or down is None:
            return
        self._finished = True
        self._down = None
        down.on_complete()

    def _error(self, error: BaseException) -> None:
        """End the stream with *error* (once; nothing after it)."""
        down = self._down
        if self._finished or down is None:
            return
        self._finished = True
        self._down = None
        down.on_error(error)

    def _stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._on_cancel()

    # ---------------------------------------------------------------- hooks
    def _on_request(self) -> None:
        """Hook: demand grew (or :meth:`_ready` was called); emit what is ready."""

    def _on_cancel(self) -> None:
        """Hook: stop producing and release resources (called once)."""

    def _on_drain(self, timeout: float | None) -> None:
        """Hook: stop taking new items and complete once what was handed out is finished,
        waiting for it until the drainer's *timeout* at least. Default: stop now and
        complete."""
        self._stop()
        self._complete()
