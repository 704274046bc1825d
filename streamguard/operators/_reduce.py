"""``reduce``: fold the whole stream into one value, emitted when upstream completes.

Memory: one accumulator, plus one ack reference per item when the source gives acks — the
members complete when the result is delivered (as a window's do), so a crash before that
redelivers them. For an endless stream, fold over windows instead.
Upstream is asked for everything at once: every item is folded on arrival, nothing queues.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from ..core._ack import Ack, BatchAck
from ..core._protocol import UNBOUNDED, ChunkSubscriber, add_demand, demand_error
from ..core._stage import Stage
from ._errors import item_failed
from ._settle import abandon_all, fail_at

T = TypeVar("T")
A = TypeVar("A")


class ReduceStage(Stage[T, A], Generic[T, A]):
    """Folds every item into ``acc = fn(acc, item)`` and emits ``acc`` once, at the end."""

    kind = "reduce"

    def __init__(
        self, downstream: ChunkSubscriber[A], fn: Callable[[A, T], A], seed: A,
        name: str | None,
    ) -> None:
        super().__init__(downstream, name)
        self._fn = fn
        self._acc = seed
        self._acks: list[Ack] = []
        self._started = False
        self._ended = False  # upstream completed; the result waits for demand

    def _buffered(self) -> int:
        return 1 if self._ended else 0

    def request(self, n: int) -> None:
        if n <= 0:
            self._fail(demand_error(f"stage {self.name!r}", n))
            return
        if self._done:
            return
        self._requested = add_demand(self._requested, n)
        if self._ended:
            self._deliver()
        elif not self._started:
            self._started = True
            self._up.request(UNBOUNDED)

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            return
        self._received += len(items)
        fn, acc = self._fn, self._acc
        for i, x in enumerate(items):
            try:
                acc = fn(acc, x)
            except Exception as exc:
                self._failed += 1
                failure = item_failed(self.name, x, exc)
                fail_at(acks, i, failure)
                self._publish_failed(exc)
                self._fail(failure)
                return
        self._acc = acc
        if acks is not None:
            self._acks.extend(acks)

    def on_complete(self) -> None:
        if self._done:
            return
        self._ended = True
        if self._requested > self._emitted:
            self._deliver()

    def _deliver(self) -> None:
        acks, self._acks = self._acks, []
        self._ended = False
        self._emit([self._acc], [BatchAck(acks)] if acks else None)
        self._terminate(None)

    def _on_cancel(self) -> None:
        self._release()

    def _on_terminate(self) -> None:
        self._release()

    def _release(self) -> None:
        # Members not yet delivered with a result were not processed.
        acks, self._acks = self._acks, []
        abandon_all(acks)
