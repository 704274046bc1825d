"""``batch``: group items into lists by size and/or time.

Downstream demand counts batches; upstream is asked for ``size`` items per requested batch,
less what is already held or on its way, so at most ``size × demand`` items are held. A
batch's ack completes all of its members when the batch completes.
"""

from __future__ import annotations

from typing import TypeVar

from ..core._ack import Ack, BatchAck, abandon_all
from ..core._clock import Clock
from ..core._outbox import OutboxStage
from ..core._protocol import UNBOUNDED, ChunkSubscriber
from ._timer import Timer

T = TypeVar("T")


class BatchStage(OutboxStage[T, list[T]]):
    """Emits a batch when it holds *size* items or *timeout* seconds after its first item."""

    kind = "batch"

    def __init__(
        self, downstream: ChunkSubscriber[list[T]], size: int, timeout: float | None,
        name: str | None, clock: Clock | None = None,
    ) -> None:
        super().__init__(downstream, name, capacity=2)
        self._size = size
        self._timeout = timeout
        self._items: list[T] = []
        self._acks: list[Ack] | None = None
        self._outstanding = 0
        self._timer = Timer(clock, self._on_timer, self._spawn) if timeout is not None else None

    def _buffered(self) -> int:
        return len(self._items) + sum(len(b) for b in self._outbox.items)

    def _capacity(self) -> int:
        return self._size * 2

    def _busy(self) -> bool:
        return bool(self._items)

    def _top_up(self) -> None:
        if self._done or self._upstream_done:
            return
        if self._demand >= UNBOUNDED:
            if self._outstanding < UNBOUNDED:
                self._outstanding = UNBOUNDED
                self._up.request(UNBOUNDED)
            return
        # One batch may wait in the outbox while the next one fills.
        batches = min(self._demand, 1) + (1 if not self._outbox else 0)
        want = batches * self._size - len(self._items) - self._outstanding
        if want > 0:
            self._outstanding += want
            self._up.request(want)

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            abandon_all(acks)  # after the end: not processed
            return
        self._received += len(items)
        if self._outstanding < UNBOUNDED:
            self._outstanding = max(0, self._outstanding - len(items))
        for i, item in enumerate(items):
            if not self._items and self._timeout is not None:
                self._arm_timer()
            self._items.append(item)
            if acks is not None:
                if self._acks is None:
                    self._acks = []
                self._acks.append(acks[i])
            if len(self._items) >= self._size:
                self._flush()
        self._drain()
        self._top_up()

    def _arm_timer(self) -> None:
        assert self._timer is not None
        assert self._timeout is not None
        self._timer.after(self._timeout)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _on_timer(self) -> None:
        if self._items and not self._done:
            self._flush()
            self._drain()
            self._top_up()

    def _flush(self) -> None:
        self._cancel_timer()
        batch, acks = self._items, self._acks
        self._items, self._acks = [], None
        self._outbox.items.append(batch)
        self._outbox.acks.append(None if acks is None else BatchAck(acks))

    def on_complete(self) -> None:
        if self._items:
            self._flush()
        super().on_complete()

    def _on_cancel(self) -> None:
        self._cancel_timer()

    def _on_terminate(self) -> None:
        super()._on_terminate()
        self._cancel_timer()
        abandon_all(self._acks)  # a batch that never left: its members were not processed
        self._items = []
        self._acks = None
