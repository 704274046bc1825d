"""``interval``: a source that emits 0, 1, 2, … every *period* seconds of its clock.

Ticks fall at ``start + k × period`` (start: the first request), never drifting with late
timers. A tick that finds no demand is not queued — like Akka's ``Source.tick`` — it is
dropped, counted in ``dropped`` and published as ``ItemsDropped(reason="no demand")``; the
numbers keep counting ticks, so a gap shows where ticks were dropped. Memory: O(1).
"""

from __future__ import annotations

from ..core._ack import Ack
from ..core._clock import Clock
from ..core._protocol import UNBOUNDED, ChunkSubscriber, add_demand, demand_error
from ..core._stage import Stage
from ._timer import Timer, next_tick


class IntervalSource(Stage[None, int]):
    """The publisher behind :func:`interval`: a stage without an upstream."""

    kind = "interval"

    def __init__(
        self, downstream: ChunkSubscriber[int], period: float, name: str | None,
        clock: Clock | None,
    ) -> None:
        super().__init__(downstream, name)
        self._period = period
        self._timer = Timer(clock, self._on_tick, self._spawn)
        self._start: float | None = None
        self._tick = 0
        self._demand = 0

    def start(self) -> None:
        """Hand the subscription to downstream."""
        self._down.on_subscribe(self)

    def request(self, n: int) -> None:
        if self._done:
            return
        if n <= 0:
            self._fail(demand_error(f"source {self.name!r}", n))
            return
        self._requested = add_demand(self._requested, n)
        self._demand = add_demand(self._demand, n)
        if self._start is None:
            self._start = self._timer.now()
            self._timer.at(self._start + self._period)

    def on_chunk(self, items: list[None], acks: list[Ack] | None) -> None:
        raise RuntimeError("interval() is a source; nothing is subscribed to it")

    def _on_tick(self) -> None:
        if self._done or self._start is None:
            return
        # The timer was set for tick self._tick + 1; a late one also owes the ticks it
        # missed, which count as ticks without demand.
        latest = next_tick(self._start, self._period, self._timer.now(), self._tick + 1) - 1
        while self._tick < latest - 1:
            self._tick += 1
            self._no_demand()
        self._tick += 1
        if self._demand > 0:
            if self._demand < UNBOUNDED:
                self._demand -= 1
            self._emit([self._tick - 1], None)
        else:
            self._no_demand()
        if not self._done:
            self._timer.at(self._start + (self._tick + 1) * self._period)

    def _no_demand(self) -> None:
        self._dropped += 1
        self._publish_dropped(1, "no demand")

    def _on_cancel(self) -> None:
        self._timer.cancel()

    def _on_terminate(self) -> None:
        self._timer.cancel()
