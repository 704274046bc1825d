"""`OutboxStage`: the base of stages that hold items until downstream asks for them.

The drain loop is the queue-drain pattern of Reactor's ``publishOn``: on new items and on
new demand, emit ``min(demand, held)`` items in one chunk; re-entrant calls only record that
there is more to do, so ``request`` → ``on_chunk`` → ``request`` cannot recurse (rule 3.3).
"""

from __future__ import annotations

from typing import TypeVar

from ._ack import Ack
from ._demand import UNBOUNDED, add_demand, demand_error
from ._overflow import BoundedQueue, Overflow
from ._protocol import ChunkSubscriber
from ._stage import Stage

In = TypeVar("In")
Out = TypeVar("Out")


class OutboxStage(Stage[In, Out]):
    """A stage with an outbox; subclasses put items in with :meth:`_put` and implement
    :meth:`_top_up` (ask upstream for more) and, if they process asynchronously,
    :meth:`_busy` (work still under way)."""

    def __init__(
        self, downstream: ChunkSubscriber[Out], name: str | None, capacity: int,
        overflow: Overflow = Overflow.BACKPRESSURE,
    ) -> None:
        super().__init__(downstream, name)
        self._outbox: BoundedQueue[Out] = BoundedQueue(capacity, overflow, f"stage {self.name!r}")
        self._demand = 0
        self._upstream_done = False
        self._draining = False
        self._again = False

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
        # Items still held were never delivered: they are not completed (a Kafka source
        # will therefore not commit them and they will be delivered again).
        self._outbox.items.clear()
        self._outbox.acks.clear()

    def _put(self, item: Out, ack: Ack | None) -> None:
        dropped, dropped_ack = self._outbox.offer(item, ack)
        if dropped:
            self._dropped += 1
            if dropped_ack is not None:
                dropped_ack.done()
            self._publish_dropped(1, f"overflow={self._outbox.strategy.value}")

    def _drain(self) -> None:
        if self._draining:
            self._again = True
            return
        self._draining = True
        try:
            while True:
                self._again = False
                while self._demand > 0 and self._outbox.items and not self._done:
                    items, acks = self._outbox.take(self._demand)
                    if self._demand < UNBOUNDED:
                        self._demand -= len(items)
                    self._emit(items, acks)
                    self._top_up()
                if self._done:
                    return
                if self._upstream_done and not self._outbox.items and not self._busy():
                    self._terminate(None)
                    return
                if not self._again:
                    return
        finally:
            self._draining = False
