"""`LatestStage`: the base of the rate-reducing time operators (``debounce``,
``throttle_first``, ``sample``), which keep at most one item ready for downstream.

These operators decide by time which items survive, so they read upstream continuously, in
rounds of :data:`ROUND` items — but only while downstream has demand or nothing is waiting
for it: a slow consumer stops the reading instead of turning it into drops. An item that
loses (superseded, inside a throttle window) is dropped on purpose: counted in ``dropped``,
published as ``ItemsDropped`` with the operator's reason, and completed at its source.

Memory: one ready item, plus what the subclass holds (one candidate at most).
"""

from __future__ import annotations

from typing import TypeVar

from ..core._ack import Ack
from ..core._clock import Clock
from ..core._protocol import UNBOUNDED, ChunkSubscriber, add_demand, demand_error
from ..core._stage import Stage
from ._settle import abandon_all
from ._timer import Timer

T = TypeVar("T")

ROUND = 256
"""Items asked of upstream per round."""


class LatestStage(Stage[T, T]):
    """Holds at most one *ready* item; subclasses implement :meth:`_accept` and may hold one
    candidate of their own (:meth:`_held_acks`, :meth:`_flush`)."""

    reason = "superseded"

    def __init__(
        self, downstream: ChunkSubscriber[T], name: str | None, clock: Clock | None
    ) -> None:
        super().__init__(downstream, name)
        self._timer = Timer(clock, self._on_timer, self._spawn)
        self._demand = 0
        self._outstanding = 0
        self._has_ready = False
        self._ready: T | None = None
        self._ready_ack: Ack | None = None
        self._upstream_done = False

    # ------------------------------------------------------------ hooks
    def _accept(self, item: T, ack: Ack | None) -> None:
        """Take one item from upstream."""
        raise NotImplementedError

    def _on_timer(self) -> None:
        """The timer fired."""

    def _flush(self) -> None:
        """Upstream completed: promote what is held, if the operator emits it at the end."""

    def _held_acks(self) -> list[Ack | None]:
        """Acks of the items the subclass holds (abandoned if the stage ends early)."""
        return []

    # ------------------------------------------------------------ statistics
    def _buffered(self) -> int:
        return int(self._has_ready) + len(self._held_acks())

    def _capacity(self) -> int:
        return 2

    # ------------------------------------------------------------ signals
    def request(self, n: int) -> None:
        if n <= 0:
            self._fail(demand_error(f"stage {self.name!r}", n))
            return
        if self._done:
            return
        self._requested = add_demand(self._requested, n)
        self._demand = add_demand(self._demand, n)
        self._deliver()
        self._pull()

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            return
        self._received += len(items)
        self._outstanding = max(0, self._outstanding - len(items))
        if acks is None:
            for x in items:
                self._accept(x, None)
        else:
            for x, a in zip(items, acks, strict=True):
                self._accept(x, a)
        self._deliver()
        self._pull()

    def on_complete(self) -> None:
        if self._done:
            return
        self._upstream_done = True
        self._timer.cancel()
        self._flush()
        self._deliver()

    # ------------------------------------------------------------ helpers for subclasses
    def _offer(self, item: T, ack: Ack | None, *, replace: bool = True) -> None:
        """Make *item* the ready one; an item already ready is dropped if *replace*, else
        *item* is."""
        if self._has_ready:
            if not replace:
                self._drop(ack)
                return
            self._drop(self._ready_ack)
        self._has_ready, self._ready, self._ready_ack = True, item, ack

    def _drop(self, ack: Ack | None) -> None:
        self._dropped += 1
        if ack is not None:
            ack.done()
        self._publish_dropped(1, self.reason)

    def _deliver(self) -> None:
        if self._done:
            return
        if self._has_ready and self._demand > 0:
            item, ack = self._ready, self._ready_ack
            self._has_ready, self._ready, self._ready_ack = False, None, None
            if self._demand < UNBOUNDED:
                self._demand -= 1
            self._emit([item], None if ack is None else [ack])  # type: ignore[list-item]
        if self._upstream_done and not self._has_ready and not self._held_acks():
            self._terminate(None)

    def _pull(self) -> None:
        if self._done or self._upstream_done or self._outstanding:
            return
        if self._has_ready and self._demand == 0:
            return  # a slow consumer stops the reading instead of turning it into drops
        self._outstanding = ROUND
        self._up.request(ROUND)

    def _on_cancel(self) -> None:
        self._release()

    def _on_terminate(self) -> None:
        self._release()

    def _release(self) -> None:
        self._timer.cancel()
        held = [*self._held_acks(), self._ready_ack]
        self._has_ready, self._ready, self._ready_ack = False, None, None
        self._clear_held()
        abandon_all(held)

    def _clear_held(self) -> None:
        """Forget what the subclass holds (its acks were abandoned)."""
