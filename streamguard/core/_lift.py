"""``lift``: turn a stage factory into an operator (a function from stream to stream)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ._protocol import ChunkSubscriber
from ._stream import Stream

A = TypeVar("A")
B = TypeVar("B")


def lift(
    factory: Callable[[ChunkSubscriber[B]], ChunkSubscriber[A]],
) -> Callable[[Stream[A]], Stream[B]]:
    """Build an operator from *factory*, which makes the stage for one subscription.

    The factory runs at subscription time, so every subscription gets fresh stage state.
    """

    def operator(source: Stream[A]) -> Stream[B]:
        def subscribe(downstream: ChunkSubscriber[B]) -> None:
            source._subscribe_chunked(factory(downstream))

        return Stream(subscribe)

    return operator
