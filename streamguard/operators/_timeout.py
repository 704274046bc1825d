"""``timeout``: fail the stream when items stop coming.

Two policies, both on the injected clock:

* ``per="item"`` (default) — once downstream asked for an item, it must arrive within
  *seconds* (Reactor's ``timeout``), counting only time with demand outstanding: a slow
  consumer never makes its producer time out.
* ``per="idle"`` — no item for *seconds*, whatever the demand (Akka's ``idleTimeout``); the
  clock starts at the first request.

On expiry the stream fails with :class:`StreamTimeoutError` (upstream cancelled). Items pass
through untouched with their acks; the stage holds nothing (memory O(1)).
"""

from __future__ import annotations

from typing import Literal, TypeAlias, TypeVar

from ..core._ack import Ack
from ..core._clock import Clock
from ..core._errors import StreamGuardError
from ..core._protocol import UNBOUNDED, ChunkSubscriber, add_demand, demand_error
from ..core._stage import Stage
from ._timer import Timer

T = TypeVar("T")

TimeoutPer: TypeAlias = Literal["item", "idle"]


class StreamTimeoutError(StreamGuardError, TimeoutError):
    """No item arrived in time; the message names the stage, the policy and the seconds."""


class TimeoutStage(Stage[T, T]):
    """Passes items through; fails the stream when the deadline passes."""

    kind = "timeout"

    def __init__(
        self, downstream: ChunkSubscriber[T], seconds: float, per: TimeoutPer,
        name: str | None, clock: Clock | None,
    ) -> None:
        super().__init__(downstream, name)
        self._seconds = seconds
        self._per = per
        self._timer = Timer(clock, self._on_timer, self._spawn)
        self._deadline: float | None = None
        self._upstream_outstanding = 0

    def _set_deadline(self) -> None:
        self._deadline = self._timer.now() + self._seconds
        # The timer moves lazily (re-armed when it fires early): no churn per chunk.
        if not self._timer.armed:
            self._timer.at(self._deadline)

    def request(self, n: int) -> None:
        if n <= 0:
            self._fail(demand_error(f"stage {self.name!r}", n))
            return
        if self._done:
            return
        waiting = self._upstream_outstanding > 0
        self._upstream_outstanding = add_demand(self._upstream_outstanding, n)
        # "item": the clock starts when demand appears; "idle": at the first request.
        starts = not waiting if self._per == "item" else self._deadline is None
        if starts:
            self._set_deadline()
        super().request(n)

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            return
        self._received += len(items)
        if self._upstream_outstanding < UNBOUNDED:
            self._upstream_outstanding = max(0, self._upstream_outstanding - len(items))
        if self._per == "idle" or self._upstream_outstanding > 0:
            self._set_deadline()
        else:
            self._deadline = None  # nothing asked for: no clock running
        self._emit(items, acks)

    def _on_timer(self) -> None:
        if self._done or self._deadline is None:
            return
        if self._timer.now() < self._deadline:
            self._timer.at(self._deadline)
            return
        what = ("no item arrived" if self._per == "idle"
                else "a requested item did not arrive")
        self._fail(StreamTimeoutError(
            f"stage {self.name!r} timed out: {what} within {self._seconds} s (per={self._per!r});"
            " raise the timeout, or recover with on_error_resume"))

    def _on_cancel(self) -> None:
        self._timer.cancel()

    def _on_terminate(self) -> None:
        self._timer.cancel()
