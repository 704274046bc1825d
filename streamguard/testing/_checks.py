"""`check_demand`: a pass-through stage that fails the stream if upstream over-delivers."""

from __future__ import annotations

from typing import TypeVar

from ..core._ack import Ack, abandon_all
from ..core._protocol import ChunkSubscriber
from ..core._stage import Stage
from ..core._stream import Operator, lift

T = TypeVar("T")


class DemandViolation(AssertionError):
    """An upstream stage emitted more than was requested of it (Reactive Streams rule 1.1)."""


class _CheckDemandStage(Stage[T, T]):
    kind = "check_demand"

    def __init__(self, downstream: ChunkSubscriber[T], label: str) -> None:
        super().__init__(downstream, f"check_demand[{label}]")
        self._outstanding = 0

    def request(self, n: int) -> None:
        if n > 0:
            self._outstanding += n
        super().request(n)

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            abandon_all(acks)  # after the end: not processed
            return
        self._received += len(items)
        if len(items) > self._outstanding:
            self._fail(DemandViolation(
                f"{self.name}: upstream emitted {len(items)} items with only "
                f"{self._outstanding} requested (rule 1.1)"))
            return
        self._outstanding -= len(items)
        self._emit(items, acks)


def check_demand(label: str = "") -> Operator[T, T]:
    """Insert between two stages to assert the upstream one honours demand."""
    return lift(lambda down: _CheckDemandStage(down, label))
