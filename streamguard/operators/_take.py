"""``take`` and ``take_while``: end the stream early and cancel upstream."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..core._ack import Ack, abandon_all
from ..core._protocol import ChunkSubscriber, Subscription, add_demand
from ..core._stage import Stage
from ._errors import item_failed

T = TypeVar("T")


class TakeStage(Stage[T, T]):
    """Emits the first *count* items, then completes and cancels upstream."""

    kind = "take"

    def __init__(self, downstream: ChunkSubscriber[T], count: int, name: str | None) -> None:
        super().__init__(downstream, name)
        self._left = count
        self._unasked = count  # never ask upstream for more than we will ever emit

    def on_subscribe(self, subscription: Subscription) -> None:
        super().on_subscribe(subscription)
        if self._left == 0 and not self._done:
            self._up.cancel()
            self._terminate(None)

    def request(self, n: int) -> None:
        if n > 0:
            n_up = min(n, self._unasked)
            self._requested = add_demand(self._requested, n)
            if n_up > 0:
                self._unasked -= n_up
                self._up.request(n_up)
            return
        super().request(n)

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            abandon_all(acks)  # after the end: not processed
            return
        self._received += len(items)
        k = min(self._left, len(items))
        self._left -= k
        if k < len(items):
            extra = len(items) - k
            self._dropped += extra
            abandon_all(None if acks is None else acks[k:])  # take ended: not processed
            items, acks = items[:k], None if acks is None else acks[:k]
        if items:
            self._emit(items, acks)
        if self._left == 0 and not self._done:
            self._up.cancel()
            self._terminate(None)


class TakeWhileStage(Stage[T, T]):
    """Emits items while *predicate* holds; the first item failing it is dropped (completed)."""

    kind = "take_while"

    def __init__(
        self, downstream: ChunkSubscriber[T], predicate: Callable[[T], object], name: str | None
    ) -> None:
        super().__init__(downstream, name)
        self._pred = predicate

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            abandon_all(acks)  # after the end: not processed
            return
        self._received += len(items)
        k = 0
        for x in items:
            try:
                ok = self._pred(x)
            except Exception as exc:
                failure = item_failed(self.name, x, exc)
                if acks is not None:
                    acks[k].fail(failure)
                    abandon_all(acks[k + 1:])
                if k:
                    self._emit(items[:k], None if acks is None else acks[:k])
                self._failed += 1
                self._dropped += len(items) - k - 1  # never looked at
                self._fail(failure)
                return
            if not ok:
                break
            k += 1
        if k == len(items):
            self._emit(items, acks)
            return
        self._dropped += len(items) - k
        if acks is not None:
            acks[k].done()  # the item that ended it was looked at: processed
            abandon_all(acks[k + 1:])
        if k:
            self._emit(items[:k], None if acks is None else acks[:k])
        if not self._done:
            self._up.cancel()
            self._terminate(None)
