"""``interval``: a source that emits 0, 1, 2, … every *period* seconds of its clock.

Ticks fall at ``start + k × period`` (start: the first request), never drifting with late
timers. A tick that finds no demand is not queued — like Akka's ``Source.tick`` — it is
dropped, counted in ``dropped`` and published as ``ItemsDropped(reason="no demand")``; the
numbers keep counting ticks, so a gap shows where ticks were dropped. Memory: O(1). Built on
the core :class:`~streamguard.core.Publisher` base (rules 1.1, 1.7, 3.6, 3.9, 3.13, 3.17, and
``drain``: it stops ticking and completes).
"""

from __future__ import annotations

from ..core._clock import Clock
from ..core._protocol import ChunkSubscriber
from ..core._publisher import Publisher
from ..core._runtime import StageStatistics
from ..core._stage import ItemsDropped
from ._timer import Timer, next_tick


class IntervalSource(Publisher[int]):
    """The publisher behind :func:`interval`; its statistics read like a stage's."""

    kind = "interval"

    def __init__(
        self, downstream: ChunkSubscriber[int], period: float, name: str | None,
        clock: Clock | None,
    ) -> None:
        super().__init__(downstream, name or self.kind)
        self._rt.register(self)  # statistics beside the stages'
        self._period = period
        self._timer = Timer(clock, self._on_tick, lambda c: self._rt.spawn(c, self.name))
        self._start: float | None = None
        self._tick = 0
        self._emitted = 0
        self._dropped = 0

    def statistics(self) -> StageStatistics:
        """A frozen snapshot: ticks emitted, ticks dropped for want of demand."""
        return StageStatistics(
            pipeline=self._rt.name, stage=self.name, received=0, emitted=self._emitted,
            dropped=self._dropped, rejected=0, failed=0, in_flight=0, buffered=0, capacity=0,
            demand=self._demand)

    def _on_request(self) -> None:
        if self._start is None:
            self._start = self._timer.now()
            self._timer.at(self._start + self._period)

    def _on_tick(self) -> None:
        if self._finished or self._start is None:
            return
        # The timer was set for tick self._tick + 1; a late one also owes the ticks it
        # missed, which count as ticks without demand.
        latest = next_tick(self._start, self._period, self._timer.now(), self._tick + 1) - 1
        while self._tick < latest - 1:
            self._tick += 1
            self._no_demand()
        self._tick += 1
        if self._demand > 0:
            self._emitted += 1
            self._emit([self._tick - 1], None)
        else:
            self._no_demand()
        if not self._finished:
            self._timer.at(self._start + (self._tick + 1) * self._period)

    def _no_demand(self) -> None:
        self._dropped += 1
        bus = self._rt.bus
        if bus.active:
            bus.publish(ItemsDropped(
                source=f"{self._rt.name}/{self.name}", pipeline=self._rt.name, stage=self.name,
                count=1, reason="no demand"))

    def _on_cancel(self) -> None:
        self._timer.cancel()

    def _complete(self) -> None:
        self._timer.cancel()
        super()._complete()


