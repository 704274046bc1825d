"""``debounce``: emit an item only once *seconds* passed without a newer one.

Each item replaces the previous candidate (which is dropped with reason ``"debounce"``) and
restarts the quiet period; when the period ends the candidate becomes ready for downstream.
On completion the candidate is emitted at once (RxPY and Reactor do the same).
Memory: the candidate and one ready item (see :mod:`._latest`).
"""

from __future__ import annotations

from typing import TypeVar

from ..core._ack import Ack
from ..core._clock import Clock
from ..core._protocol import ChunkSubscriber
from ._latest import LatestStage

T = TypeVar("T")


class DebounceStage(LatestStage[T]):
    """Keeps the latest item until *seconds* of quiet."""

    kind = "debounce"
    reason = "debounce"

    def __init__(
        self, downstream: ChunkSubscriber[T], seconds: float, name: str | None,
        clock: Clock | None,
    ) -> None:
        super().__init__(downstream, name, clock)
        self._seconds = seconds
        self._has_candidate = False
        self._candidate: T | None = None
        self._candidate_ack: Ack | None = None
        self._quiet_at = 0.0  # when the candidate becomes ready

    def _held_acks(self) -> list[Ack | None]:
        return [self._candidate_ack] if self._has_candidate else []

    def _clear_held(self) -> None:
        self._has_candidate, self._candidate, self._candidate_ack = False, None, None

    def _accept(self, item: T, ack: Ack | None) -> None:
        if self._has_candidate:
            self._drop(self._candidate_ack)
        self._has_candidate, self._candidate, self._candidate_ack = True, item, ack
        self._quiet_at = self._timer.now() + self._seconds
        # The timer is moved lazily: when it fires early it re-arms for the new deadline,
        # so a burst of items costs no timer churn.
        if not self._timer.armed:
            self._timer.at(self._quiet_at)

    def _on_timer(self) -> None:
        if self._done or not self._has_candidate:
            return
        if self._timer.now() < self._quiet_at:
            self._timer.at(self._quiet_at)
            return
        self._promote()
        self._deliver()
        self._pull()

    def _promote(self) -> None:
        item, ack = self._candidate, self._candidate_ack
        self._clear_held()
        self._offer(item, ack)  # type: ignore[arg-type]

    def _flush(self) -> None:
        if self._has_candidate:
            self._promote()
