"""``map_async``: at most N calls of an async function in flight, ordered or not.

The stage is a :class:`~streamguard.core.ConcurrentStage`: up to *concurrency* long-lived
workers fed from its bounded inbox; at most ``2 × concurrency`` items are held.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

from ..core._concurrent import ConcurrencyLimit, ConcurrentStage
from ..core._protocol import ChunkSubscriber
from ._errors import OnError

A = TypeVar("A")
B = TypeVar("B")


class MapAsyncStage(ConcurrentStage[A, B]):
    """``map_async`` (and ``sink`` with an async function): the workers await the user's
    function directly. As a sink, an awaitable that *fn* returned when awaited fails its item
    and the stage with a ``TypeError`` (see :class:`~streamguard.core.ConcurrentStage`)."""

    kind = "map_async"

    def __init__(
        self, downstream: ChunkSubscriber[B], fn: Callable[[A], Awaitable[B]], *,
        concurrency: int | ConcurrencyLimit, ordered: bool, on_error: OnError, name: str | None,
        emits: bool = True, key: Callable[[A], Hashable] | None = None,
        max_per_key: int | None = None,
    ) -> None:
        super().__init__(downstream, concurrency=concurrency, ordered=ordered,
                         on_error=on_error, name=name, emits=emits, key=key,
                         max_per_key=max_per_key)
        self._fn = fn
        self._process_item = fn  # no extra coroutine frame per item
        # A sink throws fn's result away (and refuses an awaitable one); map_async emits it:
        # an awaitable as an item may be intended, so it is never refused there.
        self._op = "op.map_async" if emits else "op.sink"

    def _result_source(self) -> tuple[str, object]:
        return "fn", self._fn

    async def process(self, item: A) -> B:
        """Await the user's function."""
        return await self._fn(item)
