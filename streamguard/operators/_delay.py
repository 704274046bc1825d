"""``delay``: hold every item for *seconds* after it arrived, then pass it on.

Lossless and ordered. At most *capacity* items are held (waiting for their time, or due and
waiting for demand); upstream is asked only for what fits, refilling once a quarter of the
room is free. Acks travel with their items.
"""

from __future__ import annotations

from collections import deque
from typing import TypeVar

from ..core._ack import Ack
from ..core._clock import Clock
from ..core._outbox import OutboxStage
from ..core._protocol import ChunkSubscriber
from ._settle import abandon_all
from ._timer import Timer

T = TypeVar("T")


class DelayStage(OutboxStage[T, T]):
    """Items wait in arrival order; due ones move to the outbox for downstream."""

    kind = "delay"

    def __init__(
        self, downstream: ChunkSubscriber[T], seconds: float, capacity: int,
        name: str | None, clock: Clock | None,
    ) -> None:
        super().__init__(downstream, name, capacity)
        self._seconds = seconds
        self._waiting: deque[tuple[float, T, Ack | None]] = deque()
        self._timer = Timer(clock, self._on_timer, self._spawn)
        self._outstanding = 0
        self._replenish = max(1, capacity // 4)

    def _buffered(self) -> int:
        return len(self._waiting) + len(self._outbox)

    def _busy(self) -> bool:
        return bool(self._waiting)

    def _top_up(self) -> None:
        if self._done or self._upstream_done:
            return
        free = self._outbox.capacity - self._buffered() - self._outstanding
        if free >= self._replenish or (free > 0 and not self._outstanding and not self._buffered()):
            self._outstanding += free
            self._up.request(free)

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            return
        self._received += len(items)
        self._outstanding = max(0, self._outstanding - len(items))
        due = self._timer.now() + self._seconds
        if acks is None:
            self._waiting.extend((due, x, None) for x in items)
        else:
            self._waiting.extend((due, x, a) for x, a in zip(items, acks, strict=True))
        if not self._timer.armed:
            self._timer.at(self._waiting[0][0])

    def _on_timer(self) -> None:
        if self._done:
            return
        now = self._timer.now()
        waiting = self._waiting
        while waiting and waiting[0][0] <= now:
            _, item, ack = waiting.popleft()
            self._put(item, ack)
        if waiting:
            self._timer.at(waiting[0][0])
        self._drain()
        self._top_up()

    def _on_cancel(self) -> None:
        self._release()

    def _on_terminate(self) -> None:
        self._release()
        super()._on_terminate()

    def _release(self) -> None:
        self._timer.cancel()
        held = [a for _, _, a in self._waiting] + list(self._outbox.acks)
        self._waiting.clear()
        self._outbox.items.clear()
        self._outbox.acks.clear()
        abandon_all(held)
