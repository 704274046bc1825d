"""Virtual-time helpers: a source that emits on a schedule of a VirtualClock, and a
subscriber that records when each item arrived, so tests compare whole message lists."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Hashable
from typing import Any, TypeVar

from streamguard import from_async_iterable
from streamguard.core import Ack, Stream
from streamguard.testing import TestSubscriber, VirtualClock

T = TypeVar("T")


def timed(
    clock: VirtualClock, schedule: list[tuple[float, T]], *,
    ack: Callable[[T], Ack] | None = None, end: float | None = None,
) -> Stream[T]:
    """Emit each ``(time, item)`` at its virtual time; complete at *end* (or after the last)."""

    async def gen() -> AsyncIterator[T]:
        for t, x in schedule:
            await clock.sleep(t - clock.now())
            yield x
        if end is not None:
            await clock.sleep(end - clock.now())

    return from_async_iterable(gen, ack=ack)


class Timeline(TestSubscriber[T]):
    """Records ``(time, item)`` for every item, and when the stream ended."""

    __test__ = False

    def __init__(self, clock: VirtualClock, *, initial_request: int = 1_000_000,
                 ack_on_receive: bool = True) -> None:
        super().__init__(initial_request=initial_request, ack_on_receive=ack_on_receive)
        self.clock = clock
        self.timeline: list[tuple[float, T]] = []
        self.ended_at: float | None = None

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        super().on_chunk(items, acks)
        self.timeline.extend((round(self.clock.now(), 6), x) for x in items)

    def on_complete(self) -> None:
        super().on_complete()
        self.ended_at = self.clock.now()

    def on_error(self, error: BaseException) -> None:
        super().on_error(error)
        self.ended_at = self.clock.now()


async def run_timeline(
    clock: VirtualClock, stream: Stream[T], until: float, *, step: float = 0.05,
    initial_request: int = 1_000_000,
) -> Timeline[T]:
    """Subscribe, then advance the clock to *until* in small steps (timers fire in order)."""
    sub: Timeline[T] = Timeline(clock, initial_request=initial_request)
    stream.subscribe(sub)
    while clock.now() < until - 1e-9:
        await clock.advance(min(step, until - clock.now()))
    await clock.advance(0)
    return sub


class Keys:
    """Typed key extractor for tuples ``(timestamp, key, ...)`` used in event-time tests."""

    @staticmethod
    def ts(e: tuple[Any, ...]) -> float:
        return float(e[0])

    @staticmethod
    def key(e: tuple[Any, ...]) -> Hashable:
        k: Hashable = e[1]
        return k
