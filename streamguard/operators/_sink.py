"""``sink``: the end of a pipeline that does something with every item.

A sink creates demand on its own (it does not wait for ``run()`` to ask) and emits nothing.
An item completes at its source when the sink function has returned for it. A synchronous
function is called chunk by chunk with plain calls; an async one runs with bounded
concurrency on :class:`ConcurrentStage`.
"""

from __future__ import annotations

from typing import Any, Never, TypeVar

from ..core._ack import Ack, abandon_all
from ..core._protocol import ChunkSubscriber, Subscription
from ..core._stage import Stage
from ._errors import OnError, item_failed

T = TypeVar("T")


class SyncSinkStage(Stage[T, Never]):
    """Calls a plain function per item; requests *prefetch* and refills at 75%."""

    kind = "sink"

    def __init__(
        self, downstream: ChunkSubscriber[Never], fn: Any, prefetch: int, on_error: OnError,
        name: str | None,
    ) -> None:
        super().__init__(downstream, name)
        self._fn = fn
        self._prefetch = prefetch
        self._limit = max(1, prefetch * 3 // 4)
        self._consumed = 0
        self._on_error = on_error

    def on_subscribe(self, subscription: Subscription) -> None:
        super().on_subscribe(subscription)
        if not self._done:
            self._up.request(self._prefetch)

    def request(self, n: int) -> None:
        # Downstream (run()) demand is irrelevant: a sink emits nothing.
        if n <= 0:
            super().request(n)

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            abandon_all(acks)  # after the end: not processed
            return
        n = len(items)
        self._received += n
        fn = self._fn
        i = 0
        failed = 0
        while i < n:
            try:
                if acks is None:
                    for x in items[i:] if i else items:
                        fn(x)
                        i += 1
                else:
                    while i < n:
                        fn(items[i])
                        acks[i].done()
                        i += 1
            except Exception as exc:
                failed += 1
                if not self._handle(items[i], None if acks is None else acks[i], exc):
                    return
                i += 1
        self._emitted += n - failed
        self._consumed += n
        if self._consumed >= self._limit and not self._done:
            self._consumed = 0
            self._up.request(self._limit)

    def _handle(self, item: T, ack: Ack | None, exc: Exception) -> bool:
        """Apply the error policy; True if the sink goes on."""
        self._failed += 1
        self._publish_failed(exc)
        policy: Any = self._on_error
        if callable(policy):
            try:
                policy(item, exc)
            except Exception as exc2:
                exc = exc2
            else:
                if ack is not None:
                    ack.done()  # the handler took care of it
                return True
        failure = item_failed(self.name, item, exc)
        if ack is not None:
            ack.fail(failure)
        if policy == "skip":
            return True
        self._fail(failure)
        return False
