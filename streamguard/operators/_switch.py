"""The base of stages that may subscribe to a new upstream after the first one failed
(``on_error_resume``, ``retry``).

Each subscription gets its own :class:`Attempt` subscriber, so a late signal of an earlier
upstream can never reach downstream. Downstream demand carries over: the new upstream is
asked for what was requested and not yet delivered (Reactive Streams rule 1.1 holds across
the switch). Items keep their acks; what an earlier upstream delivered stays delivered.
"""

from __future__ import annotations

from typing import Any, TypeVar

from ..core._ack import Ack, abandon_all
from ..core._protocol import UNBOUNDED, ChunkSubscriber, Subscription, add_demand, demand_error
from ..core._runtime import activate
from ..core._stage import UNSUBSCRIBED, Stage
from ..core._stream import Stream

T = TypeVar("T")


class Attempt:
    """The subscriber of one subscription to an upstream."""

    __slots__ = ("live", "stage", "sub")

    def __init__(self, stage: SwitchStage[Any]) -> None:
        self.stage = stage
        self.sub: Subscription | None = None
        self.live = True

    def on_subscribe(self, subscription: Subscription) -> None:
        if self.sub is not None or not self.live:
            subscription.cancel()
            return
        self.sub = subscription
        self.stage._attached(self)

    def on_next(self, item: Any) -> None:
        self.on_chunk([item], None)

    def on_chunk(self, items: list[Any], acks: list[Ack] | None) -> None:
        if not self.live:
            abandon_all(acks)
            return
        self.stage._items(items, acks)

    def on_error(self, error: BaseException) -> None:
        if self.live:
            self.live = False
            self.stage._upstream_failed(error)

    def on_complete(self) -> None:
        if self.live:
            self.live = False
            self.stage._upstream_completed()

    def cancel(self) -> None:
        """Stop this subscription (idempotent)."""
        self.live = False
        if self.sub is not None:
            self.sub.cancel()


class SwitchStage(Stage[T, T]):
    """Forwards one upstream at a time; subclasses decide what an upstream error does."""

    def __init__(self, downstream: ChunkSubscriber[T], name: str | None) -> None:
        super().__init__(downstream, name)
        self._attempt: Attempt | None = None
        self._subscribed_down = False

    def start(self, source: Stream[T]) -> None:
        """Hand ourselves to downstream and subscribe to *source*."""
        self._subscribed_down = True
        self._down.on_subscribe(self)
        if not self._done:
            self._subscribe(source)

    def _subscribe(self, source: Stream[T]) -> None:
        attempt = Attempt(self)
        self._attempt = attempt
        self._up = UNSUBSCRIBED
        with activate(self._rt):
            source._subscribe_chunked(attempt)

    def _attached(self, attempt: Attempt) -> None:
        if attempt is not self._attempt or self._done:
            attempt.cancel()
            return
        assert attempt.sub is not None
        self._up = attempt.sub
        owed = self._owed()
        if owed > 0:
            self._up.request(owed)

    def _owed(self) -> int:
        if self._requested >= UNBOUNDED:
            return UNBOUNDED
        return self._requested - self._emitted

    def request(self, n: int) -> None:
        if n <= 0:
            self._fail(demand_error(f"stage {self.name!r}", n))
            return
        if self._done:
            return
        self._requested = add_demand(self._requested, n)
        if self._up is not UNSUBSCRIBED:
            self._up.request(n)

    def _items(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            abandon_all(acks)
            return
        self._received += len(items)
        self._emit(items, acks)

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        self._items(items, acks)

    def _upstream_failed(self, error: BaseException) -> None:
        self._terminate(error)

    def _upstream_completed(self) -> None:
        self._terminate(None)

    def _on_cancel(self) -> None:
        if self._attempt is not None:
            self._attempt.cancel()
