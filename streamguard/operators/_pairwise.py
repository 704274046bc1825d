"""``pairwise``: emit ``(previous, current)`` for every item after the first.

Memory: one item (the previous one) and its ack. An item takes part in two pairs; its ack
travels with the second, ``(item, next)``, and so completes when that pair completes. The
last item's ack completes when the stream ends (it was seen, and no pair is missing); the
first item of a one-item stream likewise. Upstream is asked for one extra item up front,
since the first item makes no pair.
"""

from __future__ import annotations

import itertools
from typing import TypeVar

from ..core._ack import Ack
from ..core._protocol import ChunkSubscriber, add_demand, demand_error
from ..core._stage import Stage
from ._settle import abandon_all

T = TypeVar("T")

_NOTHING = object()


class PairwiseStage(Stage[T, tuple[T, T]]):
    """Emits consecutive pairs; *n* items make ``n - 1`` pairs."""

    kind = "pairwise"

    def __init__(self, downstream: ChunkSubscriber[tuple[T, T]], name: str | None) -> None:
        super().__init__(downstream, name)
        self._prev: object = _NOTHING
        self._prev_ack: Ack | None = None
        self._primed = False

    def _buffered(self) -> int:
        return 0 if self._prev is _NOTHING else 1

    def _capacity(self) -> int:
        return 1

    def request(self, n: int) -> None:
        if n <= 0:
            self._fail(demand_error(f"stage {self.name!r}", n))
            return
        if self._done:
            return
        self._requested = add_demand(self._requested, n)
        if not self._primed:
            self._primed = True
            n = add_demand(n, 1)  # the first item makes no pair
        self._up.request(n)

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done or not items:
            return
        self._received += len(items)
        had_prev = self._prev is not _NOTHING
        seq: list[T] = [self._prev, *items] if had_prev else items  # type: ignore[list-item]
        self._prev = seq[-1]
        pairs = list(itertools.pairwise(seq))
        chain: list[Ack | None] = [self._prev_ack] if had_prev else []
        if acks is not None:
            chain.extend(acks)
        else:
            chain.extend([None] * len(items))
        # Pair k carries the ack of its first member, whose last pair it is.
        self._prev_ack = chain[-1]
        carried = chain[:-1]
        complete: list[Ack] = [a for a in carried if a is not None]
        if pairs:
            if len(complete) == len(carried):
                self._emit(pairs, complete)
            else:  # no acks, or a mixed chunk: settle the known ones once delivered
                self._emit(pairs, None)
                for ack in complete:
                    ack.done()

    def on_complete(self) -> None:
        if self._done:
            return
        if self._prev_ack is not None:
            self._prev_ack.done()  # the last item: seen, and no pair is missing
            self._prev_ack = None
        super().on_complete()

    def _on_cancel(self) -> None:
        self._release()

    def _on_terminate(self) -> None:
        self._release()

    def _release(self) -> None:
        if self._prev_ack is not None:
            abandon_all([self._prev_ack])
            self._prev_ack = None
