"""Shedding at 3× overload, in virtual time: a source offers 300 items/s (30 % of high
priority) to a downstream that takes 100/s. The high-priority items get through; every shed
item is routed to on_reject and counted; nothing is lost or settled twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from streamguard import Emitter
from streamguard import operators as op
from streamguard.adaptive import ShedReason, shed
from streamguard.core import ConfigError
from streamguard.testing import AckRecorder, VirtualClock

N = 3000
OFFERED = 300.0
CAPACITY = 100.0


def _high(i: int) -> bool:
    return i % 10 < 3


async def _overload(clock: VirtualClock, *, priority_of: Callable[[int], int]) -> tuple[
        list[int], list[tuple[int, ShedReason]], AckRecorder, object]:
    emitter = Emitter[int]()
    acks = AckRecorder()
    delivered: list[int] = []
    routed: list[tuple[int, ShedReason]] = []

    async def work(i: int) -> int:
        await clock.sleep(1 / CAPACITY)
        return i

    result: list[object] = []

    def reject(i: int, why: ShedReason) -> None:
        routed.append((i, why))

    async def run() -> None:
        result.append(await emitter.stream().pipe(
            shed(priority_of, target=0.1, interval=0.5, capacity=256, on_reject=reject,
                 clock=clock),
            op.map_async(work, concurrency=1),
            op.sink(delivered.append),
        ).run())

    async def produce() -> None:
        for i in range(N):
            await clock.sleep(1 / OFFERED)
            await emitter.emit(i, acks.ack(i))
        emitter.complete()

    tasks = [asyncio.ensure_future(run()), asyncio.ensure_future(produce())]
    while not all(t.done() for t in tasks):
        await clock.advance(0.005)
        await asyncio.sleep(0)
    for t in tasks:
        t.result()
    return delivered, routed, acks, result[0]


async def test_high_priority_goes_on_and_every_shed_item_is_routed_and_counted() -> None:
    clock = VirtualClock()
    delivered, routed, acks, result = await _overload(
        clock, priority_of=lambda i: 1 if _high(i) else 0)
    high = [i for i in range(N) if _high(i)]
    high_delivered = [i for i in delivered if _high(i)]
    assert len(high_delivered) >= 0.95 * len(high)
    assert all(not _high(i) for i, _ in routed)  # only the low priority was shed
    assert all(why.waited >= why.target for _, why in routed)
    assert sorted(delivered + [i for i, _ in routed]) == list(range(N))  # nothing lost
    assert acks.completed_exactly_once(range(N))
    stats = {s.stage: s for s in result.statistics}  # type: ignore[attr-defined]
    assert stats["shed"].rejected == len(routed)
    print(f"high delivered {len(high_delivered)}/{len(high)}, shed {len(routed)}, "
          f"delivered {len(delivered)}, virtual seconds {clock.now():.1f}")
    assert len(routed) > N // 3  # the overload was real: much was shed
    # The source was read at its offered rate, not slowed to the downstream's.
    assert clock.now() < N / OFFERED + 20


async def test_one_priority_sheds_nothing_it_is_a_backpressured_buffer() -> None:
    clock = VirtualClock()
    delivered, routed, acks, _ = await _overload(clock, priority_of=lambda i: 0)
    assert routed == []
    assert delivered == list(range(N))
    assert acks.completed_exactly_once(range(N))


async def test_a_burst_that_drains_within_the_interval_sheds_nothing() -> None:
    clock = VirtualClock()
    emitter = Emitter[int]()
    routed: list[int] = []
    out: list[int] = []

    async def work(i: int) -> int:
        await clock.sleep(0.001)
        return i

    def parity(i: int) -> int:
        return i % 2

    def reject(i: int, _why: ShedReason) -> None:
        routed.append(i)

    task = asyncio.ensure_future(emitter.stream().pipe(
        shed(parity, target=0.05, interval=1.0, clock=clock, on_reject=reject),
        op.map_async(work), op.sink(out.append)).run())
    await asyncio.sleep(0)  # the pipeline subscribes and the stage asks for its capacity
    for i in range(200):  # 200 items at once: 0.2 s of work, a burst shorter than 1 s
        emitter.emit_nowait(i)
    emitter.complete()
    while not task.done():
        await clock.advance(0.005)
        await asyncio.sleep(0)
    task.result()
    assert routed == []
    assert sorted(out) == list(range(200))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"target": 0}, "shed: target must be a number of seconds > 0, got 0"),
    ({"interval": "1"}, "shed: interval must be a number of seconds > 0, got '1'"),
    ({"capacity": True}, "shed: capacity must be an int >= 1, got True"),
    ({"on_reject": 5}, "shed: on_reject must be None or a function (item, reason), got 5"),
])
def test_bad_arguments_name_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        shed(lambda _i: 0, **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)
