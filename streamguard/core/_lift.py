"""``lift``: turn a stage factory into an operator (a function from stream to stream)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ._protocol import ChunkSubscriber
from ._stream import Stream, after_sink_error

A = TypeVar("A")
B = TypeVar("B")


def lift(
    factory: Callable[[ChunkSubscriber[B]], ChunkSubscriber[A]], *, name: str | None = None,
    ends: bool = False,
) -> Callable[[Stream[A]], Stream[B]]:
    """Build an operator from *factory*, which makes the stage for one subscription.

    The factory runs at subscription time, so every subscription gets fresh stage state.

    Args:
        name: how errors name the operator (``"op.map"``).
        ends: the operator is a sink: the pipeline ends with it, and an operator placed
            after it is refused when the pipeline is built.
    """
    label = name or "an operator"

    def operator(source: Stream[A]) -> Stream[B]:
        if source._ends is not None:
            raise after_sink_error(label, source._ends)

        def subscribe(downstream: ChunkSubscriber[B]) -> None:
            source._subscribe_chunked(factory(downstream))

        return Stream(subscribe, ends=label if ends else None)

    operator.operator_name = label  # type: ignore[attr-defined]
    return operator
