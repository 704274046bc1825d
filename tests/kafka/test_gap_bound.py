"""The bound on a partition's completed-but-uncommittable gap (back pressure from the offset
map), without a broker: the planner in virtual time, then the source's emission side."""

from __future__ import annotations

import random
from typing import Any

import pytest

from streamguard.core import ConfigError, Event, EventBus
from streamguard.kafka import (
    KafkaSourceConfig,
    PartitionGapHeld,
    PartitionGapReleased,
)
from streamguard.kafka._codec import codec_of
from streamguard.kafka._completion import Completion
from streamguard.kafka._context import SourceContext
from streamguard.kafka._dead_letter import DeadLetters
from streamguard.kafka._flow import PauseApplier
from streamguard.kafka._gap import GapBound, Measure, gap_gate
from streamguard.kafka._lifecycle import Phase
from streamguard.kafka._offset_map import encode, encoded_length, guaranteed_span, ranges_of
from streamguard.kafka._partition import PartitionState
from streamguard.kafka._pump import Pump
from streamguard.kafka._source_lag import LagView
from streamguard.kafka._types import TP
from streamguard.testing import VirtualClock

TP0, TP1 = TP("t", 0), TP("t", 1)
LIMIT = 4096


def never() -> Measure:
    raise AssertionError("measured although the cheap answer does")


class Counted:
    """A measure that answers *size* and counts its calls."""

    def __init__(self, size: int, offset: int = 0, open_: int = 8) -> None:
        self.size, self.offset, self.open, self.calls = size, offset, open_, 0

    def __call__(self) -> Measure:
        self.calls += 1
        return Measure(self.offset, self.size, self.open)


# ================================================================== the planner
def held_bound(clock: VirtualClock | None = None, open_: int = 8) -> tuple[GapBound, int]:
    """A bound that handed TP0 out to 300 offsets beyond its window, then held it."""
    bound = GapBound(LIMIT, clock or VirtualClock())
    free = bound.free_span - 1
    bound.admit(TP0, 0, 0, free, -1, never)
    assert bound.admit(TP0, 0, free + 1, free + 300, -1, Counted(bound.budget - 400)) \
        == free + 300
    bound.admit(TP0, 0, free + 301, free + 310, -1, Counted(bound.budget, open_=open_))
    assert bound.held(TP0) is not None
    return bound, free


def test_within_the_window_any_pattern_fits_in_nothing_is_measured() -> None:
    bound = GapBound(LIMIT, VirtualClock())
    assert bound.budget == 3072
    assert bound.free_span == guaranteed_span(3072) == 18_304
    last = bound.free_span - 1
    assert bound.admit(TP0, 0, 0, last, -1, never) == last
    assert bound.holds == 0


def test_beyond_the_window_it_measures_and_hands_out_the_room_left() -> None:
    bound = GapBound(LIMIT, VirtualClock())
    free = bound.free_span - 1
    bound.admit(TP0, 0, 0, free, -1, never)
    measure = Counted(size=bound.budget - 400)  # room for 400 * 3/4 = 300 offsets
    assert bound.admit(TP0, 0, free + 1, free + 500, -1, measure) == free + 300
    assert measure.calls == 1
    # Handed out up to free + 300: nothing more without a new measure.
    tight = Counted(size=bound.budget - 100)  # room for 75 < 3072 / 16: held
    assert bound.admit(TP0, 0, free + 301, free + 400, -1, tight) == free + 300
    assert tight.calls == 1
    hold = bound.held(TP0)
    assert hold is not None
    assert (hold.offset, hold.span, hold.size) == (0, free + 301, bound.budget - 100)
    assert bound.holds == 1
    # Held: answered at once, and another partition goes on.
    assert bound.admit(TP0, 0, free + 301, free + 301, -1, never) == free + 300
    assert bound.admit(TP1, 0, 0, 499, -1, never) == 499


def test_chunks_within_the_measured_room_are_not_measured_again() -> None:
    bound = GapBound(LIMIT, VirtualClock())
    free = bound.free_span - 1
    bound.admit(TP0, 0, 0, free, -1, never)
    measure = Counted(size=100)  # one stuck record: a few characters whatever the gap
    room = (bound.budget - 100) * 3 // 4
    at = free + 1
    while at + 100 <= free + room:
        assert bound.admit(TP0, 0, at, at + 99, -1, measure) == at + 99
        at += 100
    assert measure.calls == 1
    bound.admit(TP0, 0, at, at + 99, -1, measure)
    assert measure.calls == 2


def test_a_held_partition_goes_on_once_its_offset_moved_and_the_set_fits() -> None:
    clock = VirtualClock()
    bound, free = held_bound(clock)
    assert bound.held(TP0) is not None
    assert bound.due() == []
    clock.tick(2.5)
    bound.moved(TP0)  # the stuck record completed
    assert bound.due() == [TP0]
    released = bound.recheck(TP0, 50, -1, Counted(size=40, offset=50))
    assert released is not None
    assert clock.now() - released.since == 2.5
    assert bound.held(TP0) is None
    assert bound.admit(TP0, 50, free + 301, free + 310, -1, never) == free + 310


def test_a_release_needs_a_quarter_of_the_budget_free() -> None:
    bound, _ = held_bound()
    bound.moved(TP0)
    half = Counted(size=bound.budget - bound.budget // 4)  # room for 576 < 768 offsets
    assert bound.recheck(TP0, 0, -1, half) is None
    bound.moved(TP0)
    assert bound.recheck(TP0, 0, -1, Counted(size=bound.budget // 2)) is not None


def test_a_held_partition_is_released_when_its_records_lie_within_the_window() -> None:
    bound, _ = held_bound()
    bound.moved(TP0)
    assert bound.recheck(TP0, 2000, -1, never) is not None


def test_a_partition_held_at_the_window_edge_stays_held_until_its_offset_moves() -> None:
    # Handed out exactly to the window's end, then held: settling in-flight records there
    # does not release it (it would only be held again at once: flapping).
    bound = GapBound(LIMIT, VirtualClock())
    free = bound.free_span - 1
    assert bound.admit(TP0, 0, 0, free, -1, never) == free
    assert bound.admit(TP0, 0, free + 1, free + 50, -1, Counted(bound.budget)) == free
    bound.settled(TP0, 8)
    assert bound.recheck(TP0, 0, -1, Counted(bound.budget)) is None
    bound.moved(TP0)
    assert bound.recheck(TP0, 5000, -1, never) is not None


def test_completions_behind_the_offset_recheck_after_half_of_what_was_in_flight() -> None:
    bound, _ = held_bound(open_=100)
    bound.settled(TP0, 49)
    assert bound.due() == []
    bound.settled(TP0, 1)
    assert bound.due() == [TP0]
    assert bound.recheck(TP0, 0, -1, Counted(size=bound.budget, open_=10)) is None
    bound.settled(TP0, 4)
    assert bound.due() == []
    bound.settled(TP0, 1)
    assert bound.due() == [TP0]


def test_with_nothing_in_flight_a_partition_is_never_held() -> None:
    # Holes nobody fills (commit markers among the completed offsets read at assignment)
    # close only once records beyond them complete: holding would wait for ever.
    bound = GapBound(LIMIT, VirtualClock())
    free = bound.free_span - 1
    bound.admit(TP0, 0, 0, free, -1, never)
    assert bound.admit(TP0, 0, free + 1, free + 10, -1, Counted(bound.budget, open_=0)) \
        == free + 10
    assert bound.held(TP0) is None
    bound, free = held_bound()
    bound.moved(TP0)  # what was in flight settled, the set is as large as before
    assert bound.recheck(TP0, 0, -1, Counted(bound.budget, open_=0)) is not None


def test_ranges_read_at_assignment_that_reach_further_are_measured() -> None:
    bound = GapBound(LIMIT, VirtualClock())
    measure = Counted(size=30)
    assert bound.admit(TP0, 0, 0, 99, 1_000_000, measure) == 99
    assert measure.calls == 1


def test_offsets_skipped_after_a_restart_cost_no_room() -> None:
    # The last owner committed 0 with 1..999,999 completed (one run: a few characters); the
    # records handed out now jump over them.
    bound = GapBound(LIMIT, VirtualClock())
    measure = Counted(size=40, open_=1)
    assert bound.admit(TP0, 0, 0, 0, 999_999, measure) == 0
    assert bound.admit(TP0, 0, 1_000_000, 1_000_099, 999_999, measure) == 1_000_099
    assert bound.held(TP0) is None


def test_forget_starts_a_partition_over() -> None:
    bound, _ = held_bound()
    bound.forget(TP0)
    assert bound.held(TP0) is None
    assert bound.admit(TP0, 0, 0, 10, -1, never) == 10


@pytest.mark.parametrize(("limit", "fill", "message"), [
    (63, 0.75, "limit must be >= 64 characters"),
    (4096, 0.0, "fill must be > 0 and <= 1"),
    (4096, 1.5, "fill must be > 0 and <= 1"),
])
def test_bad_settings_are_refused_by_name(limit: int, fill: float, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GapBound(limit, VirtualClock(), fill)


def test_the_config_keyword_is_validated() -> None:
    with pytest.raises(ConfigError, match="completed_metadata_bound must be True or False"):
        KafkaSourceConfig(bootstrap_servers="127.0.0.1:9092", topics=("t",), group_id="g",
                          completed_metadata_bound=1)  # type: ignore[arg-type]
    assert KafkaSourceConfig(bootstrap_servers="127.0.0.1:9092", topics=("t",),
                             group_id="g").completed_metadata_bound is True


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("limit", [64, 512, 4096])
def test_with_the_real_encoder_every_completed_set_fits_and_the_bound_is_reached(
    seed: int, limit: int
) -> None:
    # One record (offset 0) never completes; offsets that carry no record (a transaction's
    # commit marker, say) are holes nobody fills; everything handed out completes at once.
    rng = random.Random(seed)
    bound = GapBound(limit, VirtualClock())
    holes = {o for o in range(1, 400_000) if rng.random() < 0.25}
    done: list[int] = []
    at, measures = 1, 0

    def measure() -> Measure:
        nonlocal measures
        measures += 1
        return Measure(0, encoded_length(0, ranges_of(done)), 1)  # offset 0 in flight

    assert bound.admit(TP0, 0, 0, 0, -1, never) == 0
    while at < 400_000:
        up_to = bound.admit(TP0, 0, at, at + rng.randrange(1, 500), -1, measure)
        if up_to < at:
            break
        done.extend(o for o in range(at, up_to + 1) if o not in holes)
        assert encoded_length(0, ranges_of(done)) <= limit
        at = up_to + 1
    assert bound.held(TP0) is not None, "the bound was never reached"
    # Without it, the next chunks would have grown the set past what fits: replayed.
    more = [o for o in range(at, at + 4 * bound.free_span) if o not in holes]
    assert encoded_length(0, ranges_of(done + more)) > limit
    assert len(encode(0, ranges_of(done), limit)) <= limit
    assert measures >= 1


# ================================================================== the emission side
class _Record:
    def __init__(self, partition: int, offset: int) -> None:
        self.topic, self.partition, self.offset = "t", partition, offset
        self.serialized_value_size = 1
        self.value = b"v"


class _Outlet:
    """Demand as the pump sees it; every chunk emitted is kept."""

    def __init__(self) -> None:
        self.demand = 0
        self.pump: Pump | None = None
        self.chunks: list[tuple[list[Any], list[Any]]] = []

    def emit(self, records: list[Any], acks: list[Any]) -> None:
        self.demand -= len(records)
        self.chunks.append((records, acks))

    def ready(self) -> None:
        assert self.pump is not None
        self.pump.emit_available()

    def request(self, n: int) -> None:
        self.demand += n
        self.ready()


def _source(**config: Any) -> tuple[SourceContext, Completion, Pump, _Outlet, list[Event]]:
    cfg = KafkaSourceConfig(bootstrap_servers="127.0.0.1:9092", topics=("t",), group_id="g",
                            max_poll_records=100, **config)
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    ctx = SourceContext(cfg, "src", codec_of("bytes"), bus, VirtualClock())
    ctx.life.move(Phase.OPENING)
    ctx.life.move(Phase.RUNNING)
    completion = Completion(ctx, lambda: None, lambda *a: None, gap_gate(ctx))
    outlet = _Outlet()
    pump = Pump(ctx, outlet, completion, DeadLetters(ctx, lambda e: None),  # type: ignore[arg-type]
                PauseApplier(ctx), LagView(ctx), None, None)
    outlet.pump = pump
    for tp in (TP0, TP1):
        holder: list[PartitionState] = []
        part = PartitionState(tp, completion.tracker_for(holder))
        holder.append(part)
        part.tracker.committed = 0
        ctx.parts[tp] = part
    return ctx, completion, pump, outlet, events


def _fetch(ctx: SourceContext, pump: Pump, tp: TP, offsets: range) -> None:
    part = ctx.parts[tp]
    pump._accept_part(part, [_Record(tp.partition, o) for o in offsets])


def _emitted(outlet: _Outlet, partition: int) -> list[int]:
    return [r.offset for records, _ in outlet.chunks for r in records
            if r.partition == partition]


def _complete_all_but(outlet: _Outlet, keep: set[tuple[int, int]]) -> None:
    for records, acks in outlet.chunks:
        for record, ack in zip(records, acks, strict=True):
            if (record.partition, record.offset) not in keep:
                ack.done()


def _stuck() -> set[tuple[int, int]]:
    """Offset 0 of partition 0 and, at random, one in seven after it: never completed."""
    rng = random.Random(7)
    return {(0, 0)} | {(0, o) for o in range(1, 2000) if rng.random() < 1 / 7}


def test_the_source_holds_a_partition_at_the_bound_and_the_others_go_on() -> None:
    # completed_metadata_limit=64: a budget of 48 characters, any pattern within 160 offsets.
    ctx, completion, pump, outlet, events = _source(completed_metadata_limit=64)
    stuck = _stuck()
    _fetch(ctx, pump, TP0, range(2000))
    _fetch(ctx, pump, TP1, range(2000))
    for _ in range(100):
        outlet.request(50)
        _complete_all_but(outlet, stuck)
        completion.sync(ctx.parts.values())
    gate = completion.gate
    assert gate is not None
    p0 = _emitted(outlet, 0)
    assert len(_emitted(outlet, 1)) == 2000  # the other partition went on to its end
    assert 160 <= len(p0) < 2000
    assert gate.bound.holds == 1
    assert gate.held == 1
    (held,) = [e for e in events if isinstance(e, PartitionGapHeld)]
    assert (held.topic, held.partition, held.offset, held.limit) == ("t", 0, 0, 64)
    assert held.span == max(p0) + 1
    assert held.size <= 64
    # What a commit would write now describes every completed record: nothing cut.
    done = sorted(o for o in p0 if (0, o) not in stuck)
    assert encoded_length(0, ranges_of(done)) <= 64
    assert ctx.parts[TP0].buffered == 2000 - len(p0)  # kept, not dropped

    # The stuck records complete: the partition goes on, and is said to.
    ctx.clock.tick(3.0)  # type: ignore[attr-defined]
    _complete_all_but(outlet, set())
    completion.sync(ctx.parts.values())
    assert gate.held == 0
    (released,) = [e for e in events if isinstance(e, PartitionGapReleased)]
    assert (released.partition, released.held_for) == (0, 3.0)
    outlet.request(100)
    assert len(_emitted(outlet, 0)) > len(p0)


def test_switched_off_or_without_metadata_nothing_is_held() -> None:
    for config in ({"completed_metadata_bound": False}, {"completed_metadata": False}):
        ctx, completion, pump, outlet, events = _source(completed_metadata_limit=64, **config)
        assert completion.gate is None
        _fetch(ctx, pump, TP0, range(2000))
        stuck = _stuck()
        for _ in range(45):
            outlet.request(50)
            _complete_all_but(outlet, stuck)
            completion.sync(ctx.parts.values())
        assert len(_emitted(outlet, 0)) == 2000
        assert not [e for e in events if isinstance(e, PartitionGapHeld)]
