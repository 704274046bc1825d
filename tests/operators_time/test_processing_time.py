"""Processing-time operators in virtual time: whole message lists ``(time, item)``."""

from __future__ import annotations

import asyncio

import pytest

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core import EventBus, ItemsDropped, Runtime
from streamguard.core._runtime import activate
from streamguard.testing import AckRecorder, TestSubscriber, VirtualClock

from ._virtual import run_timeline, timed

BURSTS = [(0.0, "a"), (0.1, "b"), (0.2, "c"), (1.0, "d"), (2.5, "e"), (2.6, "f")]


async def test_debounce_emits_after_quiet_period() -> None:
    clock = VirtualClock()
    rec = AckRecorder()
    stream = timed(clock, BURSTS, ack=rec.ack, end=5.0).pipe(op.debounce(0.5, clock=clock))
    sub = await run_timeline(clock, stream, 6.0)
    assert sub.timeline == [(0.7, "c"), (1.5, "d"), (3.1, "f")]
    assert sub.completions == 1
    assert rec.completed_exactly_once("abcdef")
    assert not rec.failed


async def test_debounce_emits_pending_item_on_completion() -> None:
    clock = VirtualClock()
    stream = timed(clock, [(0.0, 1), (0.1, 2)]).pipe(op.debounce(10, clock=clock))
    sub = await run_timeline(clock, stream, 1.0)
    assert sub.timeline == [(0.1, 2)]
    assert sub.completions == 1


async def test_throttle_first_keeps_first_item_per_window() -> None:
    clock = VirtualClock()
    rec = AckRecorder()
    stream = timed(clock, BURSTS, ack=rec.ack).pipe(op.throttle_first(1.0, clock=clock))
    sub = await run_timeline(clock, stream, 4.0)
    assert sub.timeline == [(0.0, "a"), (1.0, "d"), (2.5, "e")]
    assert rec.completed_exactly_once("abcdef")


async def test_sample_emits_latest_per_period_and_last_on_completion() -> None:
    clock = VirtualClock()
    rec = AckRecorder()
    stream = timed(clock, BURSTS, ack=rec.ack).pipe(op.sample(1.0, clock=clock))
    sub = await run_timeline(clock, stream, 4.0)
    # ticks at 1, 2, 3: "c" at 1 ("d" arrives at the same instant, after the tick), "d" at
    # 2, nothing new at 3 before "f" completes the stream at 2.6, so "f" comes at the end.
    assert sub.timeline == [(1.0, "c"), (2.0, "d"), (2.6, "f")]
    assert rec.completed_exactly_once("abcdef")


async def test_drops_are_counted_and_published() -> None:
    clock = VirtualClock()
    bus = EventBus()
    seen: list[ItemsDropped] = []
    bus.subscribe(lambda e: seen.append(e) if isinstance(e, ItemsDropped) else None)
    stream = timed(clock, BURSTS).pipe(op.throttle_first(1.0, clock=clock, name="tf"))
    result = None

    async def go() -> None:
        nonlocal result
        result = await stream.run(bus=bus)

    task = asyncio.ensure_future(go())
    while not task.done():
        await clock.advance(0.1)
    assert result is not None
    stats = {s.stage: s for s in result.statistics}["tf"]
    assert (stats.received, stats.emitted, stats.dropped) == (6, 3, 3)
    assert sum(e.count for e in seen if e.stage == "tf") == 3
    assert {e.reason for e in seen if e.stage == "tf"} == {"throttle"}


async def test_delay_shifts_every_item_and_keeps_order() -> None:
    clock = VirtualClock()
    rec = AckRecorder()
    stream = timed(clock, BURSTS, ack=rec.ack).pipe(op.delay(0.25, clock=clock))
    sub = await run_timeline(clock, stream, 4.0)
    assert sub.timeline == [(round(t + 0.25, 6), x) for t, x in BURSTS]
    assert sub.completions == 1
    assert rec.completed_exactly_once("abcdef")


async def test_timeout_per_item_fails_when_requested_item_is_late() -> None:
    clock = VirtualClock()
    stream = timed(clock, [(0.0, 1), (0.5, 2), (2.0, 3)]).pipe(op.timeout(1.0, clock=clock))
    sub = await run_timeline(clock, stream, 3.0)
    assert sub.timeline == [(0.0, 1), (0.5, 2)]
    assert len(sub.errors) == 1
    assert isinstance(sub.errors[0], op.StreamTimeoutError)
    assert isinstance(sub.errors[0], TimeoutError)
    assert "within 1.0 s (per='item')" in str(sub.errors[0])
    assert sub.ended_at == pytest.approx(1.5)


async def test_timeout_per_item_does_not_count_time_without_demand() -> None:
    clock = VirtualClock()
    stream = timed(clock, [(0.0, 1), (0.1, 2)]).pipe(op.timeout(1.0, clock=clock))
    sub = await run_timeline(clock, stream, 0.2, initial_request=1)
    await clock.advance(10.0)  # nobody asks: no clock runs
    assert sub.timeline == [(0.0, 1)]
    assert sub.errors == []
    sub.request(1)
    await clock.advance(0.1)
    assert [x for _, x in sub.timeline] == [1, 2]
    assert sub.errors == []
    sub.cancel()


async def test_timeout_idle_counts_time_without_demand() -> None:
    clock = VirtualClock()
    stream = timed(clock, [(0.0, 1), (0.1, 2)]).pipe(op.timeout(1.0, per="idle", clock=clock))
    sub = await run_timeline(clock, stream, 0.2, initial_request=1)
    await clock.advance(2.0)
    assert sub.timeline == [(0.0, 1)]
    assert len(sub.errors) == 1
    assert "no item arrived within 1.0 s (per='idle')" in str(sub.errors[0])
    assert sub.ended_at == pytest.approx(1.0)


async def test_timeout_passes_a_fast_stream_untouched() -> None:
    clock = VirtualClock()
    rec = AckRecorder()
    out = await from_iterable(range(1000), ack=rec.ack).pipe(
        op.timeout(1.0, clock=clock)).to_list()
    assert out == list(range(1000))
    assert rec.completed_exactly_once(range(1000))
    assert clock.pending_timers == 0


async def test_interval_ticks_on_the_clock_and_counts_ticks_without_demand() -> None:
    clock = VirtualClock()
    sub = await run_timeline(clock, op.interval(1.0, clock=clock), 3.5, initial_request=2)
    assert sub.timeline == [(1.0, 0), (2.0, 1)]
    await clock.advance(2.0)  # the ticks at 3, 4 and 5 find no demand
    sub.request(1)
    await clock.advance(1.0)
    assert sub.timeline == [(1.0, 0), (2.0, 1), (6.0, 5)]
    sub.cancel()
    assert clock.pending_timers == 0


async def test_interval_with_take_completes() -> None:
    clock = VirtualClock()
    sub = await run_timeline(clock, op.interval(0.5, clock=clock).pipe(op.take(3)), 5.0)
    assert sub.timeline == [(0.5, 0), (1.0, 1), (1.5, 2)]
    assert sub.completions == 1
    assert clock.pending_timers == 0


async def test_window_tumbling_by_duration_opens_with_first_item() -> None:
    clock = VirtualClock()
    rec = AckRecorder()
    stream = timed(clock, BURSTS, ack=rec.ack).pipe(op.window(duration=1.0, clock=clock))
    sub = await run_timeline(clock, stream, 5.0)
    # [0, 1) holds a, b, c ("d" at 1.0 opens the next window); "e", "f" end with the stream.
    assert sub.timeline == [(1.0, ["a", "b", "c"]), (2.0, ["d"]), (2.6, ["e", "f"])]
    assert rec.completed_exactly_once("abcdef")


async def test_window_tumbling_by_count_or_duration_whichever_first() -> None:
    clock = VirtualClock()
    stream = timed(clock, BURSTS).pipe(op.window(2, duration=1.0, clock=clock))
    sub = await run_timeline(clock, stream, 5.0)
    assert sub.timeline == [(0.1, ["a", "b"]), (1.0, ["c", "d"]), (2.6, ["e", "f"])]


async def test_window_sliding_by_duration() -> None:
    clock = VirtualClock()
    rec = AckRecorder()
    stream = timed(clock, BURSTS, ack=rec.ack, end=3.2).pipe(
        op.window(duration=1.0, every=0.5, clock=clock))
    sub = await run_timeline(clock, stream, 5.0)
    windows = [w for _, w in sub.timeline]
    times = [t for t, _ in sub.timeline]
    # Each window holds the arrivals in (tick - 1, tick]; (1, 2] is empty and not emitted;
    # the end of the stream at 3.2 adds no window, since every item was in one already.
    assert times == [0.5, 1.0, 1.5, 2.5, 3.0]
    assert windows == [["a", "b", "c"], ["b", "c", "d"], ["d"], ["e"], ["e", "f"]]
    assert sub.completions == 1
    assert rec.completed_exactly_once("abcdef")


async def test_batch_keeps_working() -> None:
    out = await from_iterable(range(7)).pipe(op.batch(3)).to_list()
    assert out == [[0, 1, 2], [3, 4, 5], [6]]


async def test_interval_counts_and_publishes_ticks_without_demand() -> None:
    clock = VirtualClock()
    bus = EventBus()
    seen: list[ItemsDropped] = []
    bus.subscribe(lambda e: seen.append(e) if isinstance(e, ItemsDropped) else None)
    rt = Runtime("ticks", bus)
    sub: TestSubscriber[int] = TestSubscriber(initial_request=1)
    with activate(rt):
        op.interval(1.0, clock=clock, name="tick").subscribe(sub)
    await clock.advance(3.5)
    (stats,) = [s for s in rt.statistics() if s.stage == "tick"]
    assert (stats.emitted, stats.dropped) == (1, 2)
    assert [(e.stage, e.reason) for e in seen] == [("tick", "no demand")] * 2
    sub.cancel()
    assert clock.pending_timers == 0
