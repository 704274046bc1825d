"""``zip``: combine the n-th items of several streams into tuples.

Every input is asked for *prefetch* items ahead and topped up once 75 % of them were
taken; a tuple leaves when every input has an item and downstream asked for it. The stream
completes as soon as one input completed and has nothing left (the other inputs are
cancelled, what they still held is abandoned), and fails with the first error.

**Memory bound.** At most ``len(streams) × prefetch`` items held.

**Acks.** A tuple carries a :class:`~streamguard.core.BatchAck` of its members: completing the
tuple completes each member's record, failing it fails each.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from ..core._ack import Ack, BatchAck, abandon_all
from ..core._protocol import UNBOUNDED, ChunkSubscriber, Subscription, add_demand, demand_error
from ..core._stage import Stage
from ..core._stream import Stream


class ZipInput:
    """The subscriber of one input of ``zip``."""

    __slots__ = ("acks", "consumed", "ended", "has_acks", "items", "stage", "sub")

    def __init__(self, stage: ZipStage) -> None:
        self.stage = stage
        self.sub: Subscription | None = None
        self.items: deque[Any] = deque()
        self.acks: deque[Ack | None] = deque()
        self.has_acks = False
        self.consumed = 0
        self.ended = False

    def on_subscribe(self, subscription: Subscription) -> None:
        if self.sub is not None:
            subscription.cancel()
            return
        self.sub = subscription
        if self.stage.finished:
            subscription.cancel()
            return
        subscription.request(self.stage._prefetch)

    def on_next(self, item: Any) -> None:
        self.on_chunk([item], None)

    def on_chunk(self, items: list[Any], acks: list[Ack] | None) -> None:
        if self.stage.finished or self.ended:
            abandon_all(acks)
            return
        self.stage._received += len(items)
        self.items.extend(items)
        if acks is None:
            self.acks.extend([None] * len(items))
        else:
            self.has_acks = True
            self.acks.extend(acks)
        self.stage._drain()

    def on_error(self, error: BaseException) -> None:
        if not self.ended:
            self.ended = True
            self.stage._fail(error)

    def on_complete(self) -> None:
        if not self.ended:
            self.ended = True
            self.stage._drain()

    def release(self) -> None:
        """Cancel the input and abandon what it still holds."""
        if not self.ended:
            self.ended = True
            if self.sub is not None:
                self.sub.cancel()
        abandon_all(list(self.acks))
        self.items.clear()
        self.acks.clear()


class ZipStage(Stage[Any, tuple[Any, ...]]):
    """Emits one tuple per round of items, one item from each input."""

    kind = "zip"

    def __init__(self, downstream: ChunkSubscriber[tuple[Any, ...]], n: int, prefetch: int,
                 name: str | None) -> None:
        super().__init__(downstream, name)
        self._prefetch = prefetch
        self._limit = max(1, prefetch * 3 // 4)
        self._inputs = [ZipInput(self) for _ in range(n)]
        self._demand = 0
        self._draining = False
        self._again = False

    def start(self, streams: Sequence[Stream[Any]]) -> None:
        """Hand ourselves to downstream, then subscribe to every input."""
        self._down.on_subscribe(self)
        if not self._inputs:
            self._terminate(None)
            return
        for stream, inp in zip(streams, self._inputs, strict=True):
            if self._done:
                return
            stream._subscribe_chunked(inp)

    def _buffered(self) -> int:
        return sum(len(i.items) for i in self._inputs)

    def _capacity(self) -> int:
        return len(self._inputs) * self._prefetch

    def request(self, n: int) -> None:
        if n <= 0:
            self._fail(demand_error(f"stage {self.name!r}", n))
            return
        if self._done:
            return
        self._requested = add_demand(self._requested, n)
        self._demand = add_demand(self._demand, n)
        self._drain()

    def _drain(self) -> None:
        if self._draining:
            self._again = True
            return
        self._draining = True
        try:
            while True:
                self._again = False
                inputs = self._inputs
                k = min(len(i.items) for i in inputs)
                if self._demand < k:
                    k = self._demand
                if k > 0 and not self._done:
                    self._emit_round(k)
                    continue
                if self._done:
                    return
                if any(i.ended and not i.items for i in inputs):
                    self._terminate(None)
                    return
                if not self._again:
                    return
        finally:
            self._draining = False

    def _emit_round(self, k: int) -> None:
        inputs = self._inputs
        columns = [[i.items.popleft() for _ in range(k)] for i in inputs]
        acks: list[Ack] | None = None
        if any(i.has_acks for i in inputs):
            ack_columns = [[i.acks.popleft() for _ in range(k)] for i in inputs]
            acks = [BatchAck([a for a in row if a is not None])
                    for row in zip(*ack_columns, strict=True)]
        else:
            for i in inputs:
                for _ in range(k):
                    i.acks.popleft()
        if self._demand < UNBOUNDED:
            self._demand -= k
        self._emit(list(zip(*columns, strict=True)), acks)
        for i in inputs:
            i.consumed += k
            if i.consumed >= self._limit and not i.ended and i.sub is not None:
                n, i.consumed = i.consumed, 0
                i.sub.request(n)

    def _on_cancel(self) -> None:
        for i in self._inputs:
            i.release()

    def _on_terminate(self) -> None:
        self._on_cancel()
