"""``throttle_first``: emit the first item of every *seconds*-long window, drop the rest.

A window opens with the first item that arrives after the previous window ended; items
inside an open window are dropped with reason ``"throttle"``. No timer is needed: the clock
is read as items arrive. Memory: one ready item (see :mod:`._latest`).
"""

from __future__ import annotations

from typing import TypeVar

from ..core._ack import Ack
from ..core._clock import Clock
from ..core._protocol import ChunkSubscriber
from ._latest import LatestStage

T = TypeVar("T")


class ThrottleFirstStage(LatestStage[T]):
    """Lets one item through per window of *seconds*."""

    kind = "throttle_first"
    reason = "throttle"

    def __init__(
        self, downstream: ChunkSubscriber[T], seconds: float, name: str | None,
        clock: Clock | None,
    ) -> None:
        super().__init__(downstream, name, clock)
        self._seconds = seconds
        self._window_end = float("-inf")

    def _accept(self, item: T, ack: Ack | None) -> None:
        now = self._timer.now()
        if now < self._window_end or self._has_ready:
            self._drop(ack)  # inside the window, or the window's first item still waits
            return
        self._window_end = now + self._seconds
        self._offer(item, ack)
