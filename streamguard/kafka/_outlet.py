"""The subscription the Kafka source hands its one subscriber: core's publisher base, wired
to the source's parts.

:class:`~streamguard.core._publisher.Publisher` implements the Reactive Streams rules once
(demand 1.1/3.17, one terminal signal 1.7, 3.6, 3.9, 3.13, no recursion 3.3) and abandons
records offered after the end. The Kafka source fills in its hooks: a request starts the pump
or emits what is buffered, a cancel closes the consumer (committing what completed), and a
pipeline's drain drains the source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from streamguard.core._protocol import ChunkSubscriber
from streamguard.core._publisher import Publisher

T = TypeVar("T")


class Outlet(Publisher[T]):
    """One subscriber's subscription to a Kafka source.

    Args:
        on_request: demand grew: emit what is ready (never called re-entrantly).
        on_cancel: the subscriber cancelled (or broke rule 3.9): close.
        on_drain: a pipeline drains: stop fetching, finish what is in flight, complete.
    """

    kind = "KafkaSource"

    def __init__(self, down: ChunkSubscriber[T], name: str, *, on_request: Callable[[], None],
                 on_cancel: Callable[[], None], on_drain: Callable[[float | None], object]) -> None:
        super().__init__(down, name)
        self._request_hook = on_request
        self._cancel_hook = on_cancel
        self._drain_hook = on_drain

    @property
    def demand(self) -> int:
        """Records the subscriber asked for and has not received yet."""
        return self._demand

    def ready(self) -> None:
        """Records arrived: emit what demand allows."""
        self._ready()

    def emit(self, items: list[T], acks: list[Any]) -> None:
        """Send *items* (at most :attr:`demand`) downstream (abandoned after the end)."""
        self._emit(items, acks)

    def complete(self) -> None:
        """End the stream normally (once)."""
        self._complete()

    def error(self, error: BaseException) -> None:
        """End the stream with *error* (once)."""
        self._error(error)

    def _on_request(self) -> None:
        self._request_hook()

    def _on_cancel(self) -> None:
        self._cancel_hook()

    def _on_drain(self, timeout: float | None) -> None:
        self._drain_hook(timeout)
