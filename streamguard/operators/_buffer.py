"""``buffer`` and ``prefetch``: a bounded buffer between two stages.

With ``Overflow.BACKPRESSURE`` (the default, lossless) the buffer asks upstream only for what
fits and refills in chunks once *replenish* slots are free: ``prefetch(n)`` is
``buffer(n, replenish=⌈0.75·n⌉)``, Reactor's ``limitRate``. With a lossy strategy the buffer
asks upstream for everything (that is the point of choosing one) and applies the strategy
when full; every drop is counted, published and completed at its source.
"""

from __future__ import annotations

from typing import TypeVar

from ..core._ack import Ack, abandon_all
from ..core._errors import BufferOverflowError
from ..core._outbox import OutboxStage
from ..core._overflow import Overflow
from ..core._protocol import UNBOUNDED, ChunkSubscriber

T = TypeVar("T")


class BufferStage(OutboxStage[T, T]):
    """Holds up to *capacity* items for downstream."""

    kind = "buffer"

    def __init__(
        self, downstream: ChunkSubscriber[T], capacity: int, overflow: Overflow,
        replenish: int, name: str | None,
    ) -> None:
        super().__init__(downstream, name, capacity, overflow)
        self._replenish = replenish
        self._outstanding = 0
        self._started = False

    def _top_up(self) -> None:
        if self._done or self._upstream_done:
            return
        if self._outbox.strategy is not Overflow.BACKPRESSURE:
            if not self._started:
                self._started = True
                self._up.request(UNBOUNDED)
            return
        self._started = True
        free = self._outbox.capacity - len(self._outbox) - self._outstanding
        if free >= self._replenish or (free > 0 and self._outstanding == 0 and not self._outbox):
            self._outstanding += free
            self._up.request(free)

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            abandon_all(acks)  # after the end: not processed
            return
        self._received += len(items)
        self._outstanding = max(0, self._outstanding - len(items))
        try:
            if acks is None:
                for item in items:
                    self._put(item, None)
            else:
                for item, ack in zip(items, acks, strict=True):
                    self._put(item, ack)
        except BufferOverflowError as exc:
            self._fail(exc)
            return
        self._drain()
