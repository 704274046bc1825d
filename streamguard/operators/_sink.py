"""``sink``: the end of a pipeline that does something with every item.

A sink creates demand on its own (it does not wait for ``run()`` to ask) and emits nothing.
An item completes at its source when the sink function has returned for it. A synchronous
function is called chunk by chunk with plain calls; an async one runs with bounded
concurrency on :class:`ConcurrentStage`. Either refuses a result that is still work to do (an
awaitable: a plain function's coroutine here, what an awaited async one gave there) with
:func:`~streamguard.core._checks.awaitable_result_error`: the item's ack fails and the
pipeline fails with that ``TypeError``.
"""

from __future__ import annotations

from inspect import isawaitable
from typing import Any, Never, TypeVar

from ..core._ack import Ack, abandon_all
from ..core._checks import awaitable_result_error
from ..core._errors import failure_of
from ..core._protocol import ChunkSubscriber, Subscription
from ..core._stage import Stage
from ._errors import OnError, item_failed

T = TypeVar("T")


class _Refused(Exception):
    """Carries the refusal of a callable of the wrong kind out of the per-item loop, apart
    from the exceptions that the error policy handles."""

    def __init__(self, error: TypeError) -> None:
        super().__init__(error)
        self.error = error


class SyncSinkStage(Stage[T, Never]):
    """Calls a plain function per item; requests *prefetch* and refills at 75%."""

    kind = "sink"
    _op = "op.sink"

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
                # A result is thrown away, so it must not be work still to do: a plain
                # function that returned a coroutine has stored nothing (checked only when
                # it is not None, which the usual sink function returns).
                if acks is None:
                    for x in items[i:] if i else items:
                        result = fn(x)
                        if result is not None and isawaitable(result):
                            raise _Refused(awaitable_result_error(self._op, "fn", fn, result))
                        i += 1
                else:
                    while i < n:
                        result = fn(items[i])
                        if result is not None and isawaitable(result):
                            raise _Refused(awaitable_result_error(self._op, "fn", fn, result))
                        acks[i].done()
                        i += 1
            except _Refused as refused:
                self._refuse(refused.error, acks, i)
                return
            except Exception as exc:
                failed += 1
                if not self._handle(items[i], None if acks is None else acks[i], exc, acks, i):
                    return
                i += 1
        self._emitted += n - failed
        self._consumed += n
        if self._consumed >= self._limit and not self._done:
            self._consumed = 0
            self._up.request(self._limit)

    def _handle(self, item: T, ack: Ack | None, exc: Exception, acks: list[Ack] | None,
                i: int) -> bool:
        """Apply the error policy to item *i* of the chunk; True if the sink goes on."""
        self._failed += 1
        self._publish_failed(exc)
        policy: Any = self._on_error
        if callable(policy):
            try:
                with failure_of(self.name):
                    result = policy(item, exc)
            except Exception as exc2:
                exc = exc2
            else:
                if result is not None and isawaitable(result):
                    self._refuse(awaitable_result_error(self._op, "on_error", policy, result),
                                 acks, i, counted=True)
                    return False
                if ack is not None:
                    ack.done()  # the handler took care of it
                return True
        failure = item_failed(self.name, item, exc)
        if ack is not None:
            ack.fail(failure)
        if policy == "skip":
            return True
        if acks is not None:
            abandon_all(acks[i + 1:])  # the rest of the chunk: not processed
        self._fail(failure)
        return False

    def _refuse(self, error: TypeError, acks: list[Ack] | None, i: int, *,
                counted: bool = False) -> None:
        """A callable of the wrong kind: a programming error, not a failed item, so no
        policy applies. Item *i*'s ack fails (a Kafka source does not commit past it) and the
        pipeline fails with *error*; the rest of the chunk was not processed. *counted*: the
        item is already counted failed (its own error came first, then its handler's)."""
        self._failed += not counted
        self._publish_failed(error)
        if acks is not None:
            acks[i].fail(error)
            abandon_all(acks[i + 1:])
        self._fail(error)
