"""The queue-drain loop, and `OutboxStage`: the base of stages that hold items until
downstream asks for them.

The drain loop is the queue-drain pattern of Reactor's ``publishOn``: on new items and on
new demand, emit ``min(demand, held)`` items in one chunk; re-entrant calls only record that
there is more to do, so ``request`` → ``on_chunk`` → ``request`` cannot recurse (rule 3.3).
:class:`DrainLoop` is that loop on its own, for sources that hold items in structures of
their own (the Kafka source's partition buffers; :class:`~streamguard.core.Publisher` uses
it); :class:`OutboxStage` is a stage built on it with a :class:`BoundedQueue`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ._ack import Ack, abandon_all
from ._overflow import BoundedQueue, Overflow
from ._protocol import UNBOUNDED, ChunkSubscriber, add_demand, demand_error
from ._stage import Stage

In = TypeVar("In")
Out = TypeVar("Out")


class DrainLoop:
    """Runs a drain step without re-entering it.

    ``run(step)`` calls ``step()``; a call to ``run`` made while a step is running (a
    subscriber requesting from inside ``on_chunk``) only marks that the loop must go round
    once more, so emission never recurses. ``step`` emits what it can and returns; it is
    called again as long as re-entrant calls asked for it.

    Example (a source holding items in its own buffers)::

        self._loop = DrainLoop()
        ...
        def request(self, n):           # and whenever new items arrive
            self._demand += n
            self._loop.run(self._emit_ready)
    """

    __slots__ = ("_again", "_running")

    def __init__(self) -> None:
        self._running = False
        self._again = False

    @property
    def running(self) -> bool:
        """True while a step runs (a call to :meth:`run` now would only be recorded)."""
        return self._running

    def run(self, step: Callable[[], object]) -> None:
        """Call *step* until no re-entrant :meth:`run` asked for another round."""
        if self._running:
            self._again = True
            return
        self._running = True
        try:
            while True:
                self._again = False
                step()
                if not self._again:
                    return
        finally:
            self._running = False


class OutboxStage(Stage[In, Out]):
    """A stage with an outbox.

    Protected API for subclasses:

    * :meth:`_put` an item (and its ack) in the outbox; :meth:`_drain` emits what downstream
      asked for and ends the stage once upstream is done and nothing is held or busy;
    * :meth:`_top_up` (hook): request from upstream what now fits;
    * :meth:`_busy` (hook): work still under way, so the stage must not complete yet;
    * ``_demand``: downstream demand not yet served; ``_upstream_done``: upstream completed.

    Items still held when the stage ends early (cancel, error) are abandoned at their source.
    """

    def __init__(
        self, downstream: ChunkSubscriber[Out], name: str | None, capacity: int,
        overflow: Overflow = Overflow.BACKPRESSURE,
    ) -> None:
        super().__init__(downstream, name)
        self._outbox: BoundedQueue[Out] = BoundedQueue(capacity, overflow, f"stage {self.name!r}")
        self._demand = 0
        self._upstream_done = False
        self._loop = DrainLoop()

    def _buffered(self) -> int:
        return len(self._outbox)

    def _capacity(self) -> int:
        return self._outbox.capacity

    def _busy(self) -> bool:
        return False

    def _top_up(self) -> None:
        """Hook: request from upstream what now fits."""

    def request(self, n: int) -> None:
        """Downstream demand: emit what is held, then ask upstream for what fits."""
        if n <= 0:
            self._fail(demand_error(f"stage {self.name!r}", n))
            return
        if self._done:
            return
        self._requested = add_demand(self._requested, n)
        self._demand = add_demand(self._demand, n)
        self._drain()
        if not self._done:
            self._top_up()

    def on_complete(self) -> None:
        """Upstream ended: finish once everything held and in flight is delivered."""
        self._upstream_done = True
        self._drain()

    def _on_terminate(self) -> None:
        # Items still held were never delivered: abandoned, so a Kafka source does not
        # commit past them and delivers them again.
        abandon_all(self._outbox.clear())

    def _put(self, item: Out, ack: Ack | None) -> None:
        dropped, dropped_ack = self._outbox.offer(item, ack)
        if dropped:
            self._dropped += 1
            if dropped_ack is not None:
                dropped_ack.done()
            self._publish_dropped(1, f"overflow={self._outbox.strategy.value}")

    def _drain(self) -> None:
        self._loop.run(self._drain_step)

    def _drain_step(self) -> None:
        outbox = self._outbox
        while self._demand > 0 and outbox.items and not self._done:
            items, acks = outbox.take(self._demand)
            if self._demand < UNBOUNDED:
                self._demand -= len(items)
            self._emit(items, acks)
            self._top_up()
        if not self._done and self._upstream_done and not outbox.items and not self._busy():
            self._terminate(None)
