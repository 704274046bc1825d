"""Event-time windows: tumbling, hopping and session windows by watermark, with allowed
lateness and late records routed and counted. Event time needs no clock: the records carry it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core import EventBus, ItemsDropped
from streamguard.testing import AckRecorder, TestSubscriber

from ._virtual import Keys

Event = tuple[float, str, int]  # (timestamp, key, id)

# Out of order: id 4 (t=3) arrives after the watermark passed 10.
EVENTS: list[Event] = [(1, "a", 0), (2, "b", 1), (5, "a", 2), (11, "a", 3), (3, "a", 4),
                       (12, "b", 5), (25, "b", 6), (4, "b", 7)]


def _summary(windows: list[op.EventWindow[Any, Event]]) -> list[tuple[Any, ...]]:
    return [(w.key, w.start, w.end, [e[2] for e in w.items], w.late) for w in windows]


async def test_tumbling_fires_by_watermark_and_routes_late_records() -> None:
    late: list[tuple[Event, op.LateRecord]] = []
    rec = AckRecorder()
    out = await from_iterable(EVENTS, ack=lambda e: rec.ack(e[2])).pipe(
        op.tumbling_window(10, timestamp=Keys.ts, key=Keys.key,
                           on_late=lambda e, why: late.append((e, why)))).to_list()
    assert _summary(out) == [
        ("a", 0, 10, [0, 2], False),   # fires when 11 arrives (watermark 11 >= 10)
        ("b", 0, 10, [1], False),
        ("a", 10, 20, [3], False),     # fires when 25 arrives
        ("b", 10, 20, [5], False),
        ("b", 20, 30, [6], False),     # fires at the end of input
    ]
    assert [(e[2], w.watermark, w.window_end) for e, w in late] == [(4, 11, 10), (7, 25, 10)]
    assert rec.completed_exactly_once(range(8))


async def test_delay_holds_the_watermark_back_so_late_records_are_on_time() -> None:
    late: list[Event] = []
    out = await from_iterable(EVENTS).pipe(
        op.tumbling_window(10, timestamp=Keys.ts, key=Keys.key, delay=15,
                           on_late=lambda e, why: late.append(e))).to_list()
    assert _summary(out) == [
        ("a", 0, 10, [0, 2, 4], False),  # 4 is on time now: the watermark reaches 10 at 25
        ("b", 0, 10, [1], False),
        ("a", 10, 20, [3], False),
        ("b", 10, 20, [5], False),
        ("b", 20, 30, [6], False),
    ]
    assert late == [(4, "b", 7)]  # watermark 10 = 25 - 15: b's [0, 10) had fired


async def test_allowed_lateness_fires_again_with_all_members() -> None:
    rec = AckRecorder()
    sub: TestSubscriber[op.EventWindow[Any, Event]] = TestSubscriber(initial_request=100)
    from_iterable(EVENTS, ack=lambda e: rec.ack(e[2])).pipe(
        op.tumbling_window(10, timestamp=Keys.ts, key=Keys.key, lateness=20)).subscribe(sub)
    for _ in range(50):
        await asyncio.sleep(0)
    assert _summary(sub.items) == [
        ("a", 0, 10, [0, 2], False),
        ("b", 0, 10, [1], False),
        ("a", 0, 10, [0, 2, 4], True),    # late but within 20: the window fires again
        ("a", 10, 20, [3], False),
        ("b", 10, 20, [5], False),
        ("b", 0, 10, [1, 7], True),       # 25 - 10 = 15 < 20: still accepted
        ("b", 20, 30, [6], False),
    ]
    assert rec.completed_exactly_once(range(8))


async def test_late_records_dropped_by_default_are_counted_and_published() -> None:
    bus = EventBus()
    seen: list[ItemsDropped] = []
    bus.subscribe(lambda e: seen.append(e) if isinstance(e, ItemsDropped) else None)
    rec = AckRecorder()
    stream = from_iterable(EVENTS, ack=lambda e: rec.ack(e[2])).pipe(
        op.tumbling_window(10, timestamp=Keys.ts, key=Keys.key, name="tw"))
    result = await stream.run(bus=bus)
    stats = {s.stage: s for s in result.statistics}["tw"]
    assert (stats.received, stats.dropped, stats.rejected, stats.emitted) == (8, 2, 0, 5)
    assert [(e.stage, e.count, e.reason) for e in seen] == [("tw", 1, "late"), ("tw", 1, "late")]
    assert rec.completed_exactly_once(range(8))


async def test_late_callback_counts_rejected() -> None:
    stream = from_iterable(EVENTS).pipe(
        op.tumbling_window(10, timestamp=Keys.ts, key=Keys.key, on_late=lambda e, w: None,
                           name="tw"))
    result = await stream.run()
    stats = {s.stage: s for s in result.statistics}["tw"]
    assert (stats.dropped, stats.rejected) == (0, 2)


async def test_late_callback_error_fails_the_record_and_the_stream() -> None:
    rec = AckRecorder()

    def boom(e: Event, why: op.LateRecord) -> None:
        raise RuntimeError("no dead-letter topic")

    with pytest.raises(Exception, match="no dead-letter topic") as info:
        await from_iterable(EVENTS, ack=lambda e: rec.ack(e[2])).pipe(
            op.tumbling_window(10, timestamp=Keys.ts, key=Keys.key, on_late=boom)).run()
    assert "stage 'tumbling_window' failed on item (3, 'a', 4)" in str(info.value)
    assert rec.failed[4] == 1


async def test_hopping_windows_overlap_and_ack_with_the_last() -> None:
    rec = AckRecorder()
    events: list[Event] = [(1, "k", 0), (6, "k", 1), (12, "k", 2)]
    out = await from_iterable(events, ack=lambda e: rec.ack(e[2])).pipe(
        op.hopping_window(10, 5, timestamp=Keys.ts, key=Keys.key)).to_list()
    assert _summary(out) == [
        ("k", -5, 5, [0], False),
        ("k", 0, 10, [0, 1], False),
        ("k", 5, 15, [1, 2], False),
        ("k", 10, 20, [2], False),
    ]
    assert rec.completed_exactly_once(range(3))


async def test_session_windows_merge_when_a_record_bridges_them() -> None:
    events: list[Event] = [(1, "a", 0), (2, "b", 1), (5, "a", 2), (3, "a", 3), (30, "a", 4)]
    out = await from_iterable(events).pipe(
        op.session_window(3, timestamp=Keys.ts, key=Keys.key, delay=10)).to_list()
    assert _summary(out) == [
        ("b", 2, 5, [1], False),         # windows fire in the order of their ends
        ("a", 1, 8, [0, 2, 3], False),   # 3 bridges [1, 4) and [5, 8)
        ("a", 30, 33, [4], False),
    ]


async def test_max_items_fires_the_earliest_window_early() -> None:
    rec = AckRecorder()
    events: list[Event] = [(i, "k", i) for i in range(10)]  # all in [0, 100)
    sub: TestSubscriber[op.EventWindow[Any, Event]] = TestSubscriber(initial_request=100)
    from_iterable(events, ack=lambda e: rec.ack(e[2])).pipe(
        op.tumbling_window(100, timestamp=Keys.ts, key=Keys.key, max_items=4)).subscribe(sub)
    for _ in range(50):
        await asyncio.sleep(0)
    assert [(len(w.items), w.early) for w in sub.items] == [(4, True), (4, True), (2, False)]
    assert [e[2] for w in sub.items for e in w.items] == list(range(10))
    assert rec.completed_exactly_once(range(10))


def _topic(e: tuple[float, str, int]) -> str:
    return e[1]


async def test_watermark_follows_the_slowest_partition() -> None:
    # Two inputs read at different speeds: "fast" is far ahead of "slow".
    events: list[Event] = [(1, "fast", 0), (35, "fast", 1), (2, "slow", 2), (12, "slow", 3),
                           (40, "fast", 4), (25, "slow", 5), (38, "slow", 6)]
    late: list[Event] = []
    out: list[op.EventWindow[Any, Event]] = await from_iterable(events).pipe(op.tumbling_window(
        10, timestamp=Keys.ts, partition=_topic, min_partitions=2,
        on_late=lambda e, why: late.append(e))).to_list()
    # One watermark for the stream would be 35 at the third record: 2, 12 and 25 late.
    assert late == []
    assert _summary(out) == [
        (None, 0, 10, [0, 2], False),     # fires at 12: min(35, 12) = 12
        (None, 10, 20, [3], False),       # fires at 25
        (None, 20, 30, [5], False),       # fires at 38: min(40, 38)
        (None, 30, 40, [1, 6], False),    # the end of input fires the rest
        (None, 40, 50, [4], False),
    ]


async def test_one_watermark_without_partition_makes_the_slow_input_late() -> None:
    events: list[Event] = [(1, "fast", 0), (35, "fast", 1), (2, "slow", 2)]
    late: list[Event] = []
    await from_iterable(events).pipe(op.tumbling_window(
        10, timestamp=Keys.ts, on_late=lambda e, why: late.append(e))).to_list()
    assert late == [(2, "slow", 2)]


async def test_members_complete_only_when_their_window_is_completed_downstream() -> None:
    rec = AckRecorder()
    sub: TestSubscriber[op.EventWindow[Any, Event]] = TestSubscriber(
        initial_request=100, ack_on_receive=False)
    from_iterable(EVENTS, ack=lambda e: rec.ack(e[2])).pipe(
        op.tumbling_window(10, timestamp=Keys.ts, key=Keys.key)).subscribe(sub)
    for _ in range(50):
        await asyncio.sleep(0)
    assert len(sub.items) == 5
    late = {4, 7}  # routed as late: settled at once
    assert set(rec.done) == late
    first = sub.acks[0]  # a's [0, 10): members 0 and 2
    assert first is not None
    first.done()
    assert set(rec.done) == late | {0, 2}
    for ack in sub.acks[1:]:
        assert ack is not None
        ack.done()
    assert rec.completed_exactly_once(range(8))
