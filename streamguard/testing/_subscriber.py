"""`TestSubscriber`: request by hand and record every signal, like Reactor's TestSubscriber."""

from __future__ import annotations

from typing import Generic, TypeVar

from ..core._ack import Ack
from ..core._protocol import Subscription

T = TypeVar("T")


class TestSubscriber(Generic[T]):
    """Records chunks, items, errors and completion; raises nothing itself.

    ``violations`` lists every Reactive Streams rule the publisher broke towards it (more
    items than requested, signals after a terminal signal, a second terminal signal).
    """

    __test__ = False  # not a pytest test class

    def __init__(self, *, initial_request: int = 0, ack_on_receive: bool = True) -> None:
        self.items: list[T] = []
        self.chunks: list[list[T]] = []
        self.acks: list[Ack | None] = []
        self.errors: list[BaseException] = []
        self.completions = 0
        self.violations: list[str] = []
        self.subscription: Subscription | None = None
        self._initial = initial_request
        self._ack_on_receive = ack_on_receive
        self.outstanding = 0

    @property
    def terminated(self) -> bool:
        """True once a terminal signal arrived."""
        return bool(self.errors) or self.completions > 0

    def on_subscribe(self, subscription: Subscription) -> None:
        if self.subscription is not None:
            self.violations.append("2.5: second on_subscribe")
        self.subscription = subscription
        if self._initial:
            self.request(self._initial)

    def request(self, n: int) -> None:
        """Ask the publisher for *n* more items."""
        assert self.subscription is not None, "not subscribed yet"
        if n > 0:
            self.outstanding += n
        self.subscription.request(n)

    def cancel(self) -> None:
        """Cancel the subscription."""
        assert self.subscription is not None, "not subscribed yet"
        self.subscription.cancel()

    def on_next(self, item: T) -> None:
        self.on_chunk([item], None)

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self.terminated:
            self.violations.append(f"1.7: {len(items)} items after a terminal signal")
        if len(items) > self.outstanding:
            self.violations.append(
                f"1.1: received {len(items)} items with only {self.outstanding} requested")
        if acks is not None and len(acks) != len(items):
            self.violations.append("chunk with acks of another length")
        self.outstanding = max(0, self.outstanding - len(items))
        self.chunks.append(list(items))
        self.items.extend(items)
        for i in range(len(items)):
            ack = None if acks is None else acks[i]
            self.acks.append(ack)
            if ack is not None and self._ack_on_receive:
                ack.done()

    def on_error(self, error: BaseException) -> None:
        if self.terminated:
            self.violations.append(f"1.7: on_error after a terminal signal: {error!r}")
        self.errors.append(error)

    def on_complete(self) -> None:
        if self.terminated:
            self.violations.append("1.7: on_complete after a terminal signal")
        self.completions += 1
