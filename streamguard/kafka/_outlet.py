"""The subscription the Kafka source hands its one subscriber: demand in, chunks out.

It counts demand (rules 1.1, 3.17), refuses ``request(n <= 0)`` with a clear error (3.9),
forgets the subscriber on cancel (3.13), sends at most one terminal signal (1.7) and never
recurses when a subscriber requests from inside ``on_chunk`` (3.3): a re-entrant request only
marks that the emission loop must go round once more. Records offered after the end are
abandoned at their source (they will be delivered again), never lost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from streamguard.core._demand import UNBOUNDED, add_demand, demand_error
from streamguard.core._protocol import ChunkSubscriber

T = TypeVar("T")


class Outlet(Generic[T]):
    """One subscriber's subscription to a Kafka source.

    Args:
        on_request: called (never re-entrantly) when demand grew: emit what is ready.
        on_cancel: called once when the subscriber cancels or breaks rule 3.9.
    """

    __slots__ = ("_again", "_down", "_emitting", "_on_cancel", "_on_request", "demand",
                 "finished", "name")

    def __init__(self, down: ChunkSubscriber[T], name: str, on_request: Callable[[], None],
                 on_cancel: Callable[[], None]) -> None:
        self._down: ChunkSubscriber[T] | None = down
        self.name = name
        self._on_request = on_request
        self._on_cancel = on_cancel
        self.demand = 0
        self.finished = False
        self._emitting = False
        self._again = False

    def start(self) -> None:
        """Hand this subscription to the subscriber."""
        if self._down is not None:
            self._down.on_subscribe(self)

    def request(self, n: int) -> None:
        """Add *n* to the demand and emit what is ready."""
        if self.finished:
            return
        if n <= 0:
            self.error(demand_error(f"KafkaSource {self.name!r}", n))
            self._on_cancel()
            return
        self.demand = add_demand(self.demand, n)
        self.ready()

    def cancel(self) -> None:
        """Stop: the source closes, committing what completed."""
        if self._down is None and self.finished:
            return
        self.finished = True
        self._down = None
        self._on_cancel()

    def ready(self) -> None:
        """Records arrived or demand grew: run the emission loop (never re-entrantly)."""
        if self._emitting:
            self._again = True
            return
        self._emitting = True
        try:
            self._again = True
            while self._again and not self.finished:
                self._again = False
                self._on_request()
        finally:
            self._emitting = False

    def emit(self, items: list[T], acks: list[Any]) -> None:
        """Send *items* (at most :attr:`demand` of them) downstream."""
        down = self._down
        if self.finished or down is None:
            for ack in acks:
                ack.abandon()
            return
        if self.demand < UNBOUNDED:
            self.demand -= len(items)
        down.on_chunk(items, acks)

    def complete(self) -> None:
        """End the stream normally (once)."""
        down, self._down = self._down, None
        if not self.finished and down is not None:
            self.finished = True
            down.on_complete()

    def error(self, error: BaseException) -> None:
        """End the stream with *error* (once)."""
        down, self._down = self._down, None
        if not self.finished and down is not None:
            self.finished = True
            down.on_error(error)
