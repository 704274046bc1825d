"""``merge`` and ``concat``: several streams into one.

Both run on :class:`~._flat_map.FlatMapStage` with the streams as outer items: ``merge``
subscribes to all of them at once and serves downstream demand round-robin (one slow input
never blocks the others); ``concat`` subscribes to the next only when the previous completed.
Each input's items keep their own acks.
"""

from __future__ import annotations

from typing import Any, TypeVar

from ..core._protocol import ChunkSubscriber
from ..core._stream import Stream
from ..sources import from_iterable
from ._flat_map import FlatMapStage

T = TypeVar("T")


def combine(
    streams: tuple[Stream[Any], ...], *, concurrency: int, prefetch: int, kind: str,
    name: str | None,
) -> Stream[Any]:
    """A stream of the items of *streams*, at most *concurrency* of them subscribed at once."""
    outer: Stream[Stream[Any]] = from_iterable(streams)

    def subscribe(down: ChunkSubscriber[Any]) -> None:
        outer._subscribe_chunked(FlatMapStage(
            down, None, concurrency=concurrency, prefetch=prefetch, name=name, kind=kind))

    return Stream(subscribe)
