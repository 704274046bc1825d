"""``scan``: a running fold, one output per input.

Memory: one accumulator. Each output carries its input's ack, so acks pass through 1:1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from ..core._ack import Ack
from ..core._protocol import ChunkSubscriber
from ..core._stage import Stage
from ._errors import item_failed
from ._settle import fail_at

T = TypeVar("T")
A = TypeVar("A")


class ScanStage(Stage[T, A], Generic[T, A]):
    """Emits ``acc = fn(acc, item)`` for every item, starting from *seed*."""

    kind = "scan"

    def __init__(
        self, downstream: ChunkSubscriber[A], fn: Callable[[A, T], A], seed: A,
        name: str | None,
    ) -> None:
        super().__init__(downstream, name)
        self._fn = fn
        self._acc = seed

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            return
        self._received += len(items)
        fn, acc = self._fn, self._acc
        out: list[A] = []
        for i, x in enumerate(items):
            try:
                acc = fn(acc, x)
            except Exception as exc:
                self._acc = acc
                self._failed += 1
                failure = item_failed(self.name, x, exc)
                before = fail_at(acks, i, failure)
                if out:
                    self._emit(out, before)
                self._publish_failed(exc)
                self._fail(failure)
                return
            out.append(acc)
        self._acc = acc
        self._emit(out, acks)
