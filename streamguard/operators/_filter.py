"""``filter``: keep items that satisfy a predicate; dropped items are completed at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..core._ack import Ack, abandon_all
from ..core._protocol import UNBOUNDED, ChunkSubscriber
from ..core._stage import Stage
from ._errors import item_failed

T = TypeVar("T")


class FilterStage(Stage[T, T]):
    """Filters a chunk with one comprehension and asks upstream again for what it dropped."""

    kind = "filter"

    def __init__(
        self, downstream: ChunkSubscriber[T], predicate: Callable[[T], object], name: str | None
    ) -> None:
        super().__init__(downstream, name)
        self._pred = predicate

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            abandon_all(acks)  # after the end: not processed
            return
        n = len(items)
        self._received += n
        pred = self._pred
        try:
            if acks is None:
                out = [x for x in items if pred(x)]
                out_acks = None
            else:
                out, out_acks = [], []
                for x, ack in zip(items, acks, strict=True):
                    if pred(x):
                        out.append(x)
                        out_acks.append(ack)
                    else:
                        ack.done()
        except Exception as exc:
            self._fail_on_predicate(items, acks, exc)
            return
        dropped = n - len(out)
        if out:
            self._emitted += len(out)
            self._down.on_chunk(out, out_acks)
        if dropped:
            self._dropped += dropped
            if not self._done and self._requested < UNBOUNDED:
                self._up.request(dropped)  # replenish: downstream still wants them

    def _fail_on_predicate(self, items: list[T], acks: list[Ack] | None, exc: Exception) -> None:
        # Find the culprit so the error names it: the items it let through before go on (and
        # those it dropped complete), the culprit fails, the rest were never processed.
        pred = self._pred
        out: list[T] = []
        out_acks: list[Ack] | None = None if acks is None else []
        for i, x in enumerate(items):
            try:
                keep = pred(x)
            except Exception as err:
                self._failed += 1
                failure = item_failed(self.name, x, err)
                if acks is not None:
                    acks[i].fail(failure)
                if out:
                    self._emit(out, out_acks)
                self._dropped += len(items) - len(out) - 1  # dropped, or never looked at
                if acks is not None:
                    abandon_all(acks[i + 1:])
                self._fail(failure)
                return
            if keep:
                out.append(x)
                if out_acks is not None and acks is not None:
                    out_acks.append(acks[i])
            elif acks is not None:
                acks[i].done()
        self._fail(exc)
