"""``sample``: every *seconds*, emit the latest item that arrived since the last tick.

Ticks run on the clock from the first request, at ``start + k × seconds``; a tick with no new
item emits nothing. An item superseded before a tick is dropped with reason ``"sample"``; on
completion the latest item is emitted (as Reactor's ``sample`` does), so the last value is
never lost. Memory: the latest item and one ready item (see :mod:`._latest`).
"""

from __future__ import annotations

from typing import TypeVar

from ..core._ack import Ack
from ..core._clock import Clock
from ..core._protocol import ChunkSubscriber
from ._latest import LatestStage
from ._timer import next_tick

T = TypeVar("T")


class SampleStage(LatestStage[T]):
    """Emits the most recent item once per period."""

    kind = "sample"
    reason = "sample"

    def __init__(
        self, downstream: ChunkSubscriber[T], seconds: float, name: str | None,
        clock: Clock | None,
    ) -> None:
        super().__init__(downstream, name, clock)
        self._seconds = seconds
        self._start: float | None = None
        self._tick_no = 0
        self._has_latest = False
        self._latest: T | None = None
        self._latest_ack: Ack | None = None

    def _held_acks(self) -> list[Ack | None]:
        return [self._latest_ack] if self._has_latest else []

    def _clear_held(self) -> None:
        self._has_latest, self._latest, self._latest_ack = False, None, None

    def request(self, n: int) -> None:
        if self._start is None and n > 0 and not self._done:
            self._start = self._timer.now()
            self._tick_no = 1
            self._timer.at(self._start + self._seconds)
        super().request(n)

    def _accept(self, item: T, ack: Ack | None) -> None:
        if self._has_latest:
            self._drop(self._latest_ack)
        self._has_latest, self._latest, self._latest_ack = True, item, ack

    def _on_timer(self) -> None:
        if self._done or self._start is None:
            return
        self._tick_no = next_tick(self._start, self._seconds, self._timer.now(), self._tick_no)
        self._timer.at(self._start + self._tick_no * self._seconds)
        if self._has_latest:
            self._promote()
            self._deliver()
            self._pull()

    def _promote(self) -> None:
        item, ack = self._latest, self._latest_ack
        self._clear_held()
        self._offer(item, ack)  # type: ignore[arg-type]

    def _flush(self) -> None:
        if self._has_latest:
            self._promote()
