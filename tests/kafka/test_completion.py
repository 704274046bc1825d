"""Record acks, the final commit, the source's state machine and background commits
(no broker: the parts are pure or take the consumer as an argument)."""

from __future__ import annotations

import asyncio
import tracemalloc
from typing import Any

import pytest

from streamguard.core import ConfigError, EventBus
from streamguard.kafka import KafkaSource, KafkaSourceConfig
from streamguard.kafka._commits import Committer
from streamguard.kafka._completion import AckRing, RecordAck
from streamguard.kafka._lifecycle import Ending, Lifecycle, Phase
from streamguard.kafka._offsets import ABANDONED, DONE, ChunkAck, OffsetTracker
from streamguard.kafka._partition import PartitionState
from streamguard.kafka._types import TP
from streamguard.testing import VirtualClock


class _Record:
    def __init__(self, offset: int) -> None:
        self.topic, self.partition, self.offset = "t", 0, offset


class _Route:
    """Records what a RecordAck hands on (the dead-letter route's part)."""

    def __init__(self) -> None:
        self.armed = 0
        self.failures: list[tuple[int, str]] = []
        self.bound: list[int] = []

    def bind(self, ack: RecordAck) -> None:
        self.armed -= 1
        self.bound.append(ack.offset)

    def failed(self, ack: RecordAck, error: BaseException) -> None:
        self.failures.append((ack.offset, str(error)))


_RINGS: dict[int, AckRing] = {}


def _chunk(tracker: OffsetTracker, route: _Route, first: int, n: int, *,
           checked: bool = True) -> list[RecordAck]:
    """A chunk of *n* records from *first* on, with acks from the tracker's ring."""
    ring = _RINGS.get(id(tracker))
    if ring is None:
        ring = _RINGS[id(tracker)] = AckRing(route, checked=checked)
        tracker.on_release = ring.release
    chunk = tracker.open_chunk(first, first + n - 1, n)
    return ring.acks_for(chunk, [_Record(o) for o in range(first, first + n)])


def test_each_record_ack_settles_once_and_knows_its_record() -> None:
    tracker, route = OffsetTracker(), _Route()
    acks = _chunk(tracker, route, 0, 3)
    acks[0].done()
    acks[0].done()  # ignored: settled already
    acks[0].abandon()
    acks[1].fail(ValueError("boom"))
    assert route.failures == [(1, "boom")]
    assert acks[0].state == DONE
    assert acks[0].completed
    acks[2].done()
    tracker.sync()
    assert tracker.committable is None  # record 1 is not settled


def test_an_abandoned_record_is_never_committed_past() -> None:
    tracker, route = OffsetTracker(), _Route()
    first = _chunk(tracker, route, 0, 4)
    second = _chunk(tracker, route, 4, 2)
    for ack in second:
        ack.done()
    first[0].done()
    first[1].done()
    first[2].abandon()
    first[3].done()
    tracker.sync()
    assert first[2].state == ABANDONED
    assert tracker.pending_records == 0  # nothing left to wait for
    assert tracker.committable is None  # the chunk holding 2 never becomes committable
    assert tracker.final_committable() == 2  # the last commit goes up to the abandoned one


def test_the_final_commit_covers_the_completed_head_of_an_unfinished_chunk() -> None:
    tracker, route = OffsetTracker(), _Route()
    first = _chunk(tracker, route, 0, 2)
    second = _chunk(tracker, route, 2, 5)
    for ack in first:
        ack.done()
    second[0].done()
    second[1].done()
    second[3].done()  # 4 is still out
    tracker.sync()
    assert tracker.committable == 2
    assert tracker.final_committable() == 4


def test_an_armed_dead_letter_binds_to_the_next_settled_ack() -> None:
    tracker, route = OffsetTracker(), _Route()
    acks = _chunk(tracker, route, 0, 3)
    route.armed = 1
    acks[1].done()  # the stage settles the item it just dead-lettered
    acks[0].done()
    assert route.bound == [1]
    assert acks[1].state == 0  # pending until the dead letter is written
    acks[1].finish()
    acks[2].done()
    tracker.sync()
    assert tracker.committable == 3


@pytest.mark.parametrize("checked", [True, False])
def test_a_done_after_an_abandon_or_a_failure_never_lets_a_commit_pass(checked: bool) -> None:
    tracker, route = OffsetTracker(), _Route()
    acks = _chunk(tracker, route, 0, 4, checked=checked)
    acks[0].done()
    acks[1].abandon()
    acks[1].done()  # ignored: an ack settles once
    assert acks[1].state == ABANDONED
    acks[2].done()
    acks[3].done()
    tracker.sync()
    assert tracker.committable is None
    assert tracker.final_committable() == 1  # never past the abandoned record


def test_the_unchecked_ack_is_one_small_object_and_completes_the_same_way() -> None:
    tracker, route = OffsetTracker(), _Route()
    acks = _chunk(tracker, route, 0, 3, checked=False)
    for ack in acks:
        ack.done()
    assert tracker.committable is None  # learnt in batches, not per record
    tracker.sync()
    assert tracker.committable == 3


@pytest.mark.parametrize("checked", [True, False])
def test_an_ack_slot_costs_under_128_bytes(checked: bool) -> None:
    # A partial bound per slot cost ~340 bytes: 2.6 MiB of a 4-partition source's peak (#11).
    ring = AckRing(_Route(), checked=checked)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ring.acks_for(ChunkAck(OffsetTracker(), 0, 9999, 10_000, 0), [None] * 10_000)
        per_slot = (tracemalloc.get_traced_memory()[0] - before) / 10_000
    finally:
        tracemalloc.stop()
    assert len(ring.slots) == 10_000  # grown by what the chunk needed, not doubled
    assert per_slot < 128, per_slot


def test_ring_slots_are_reused_only_once_their_chunk_is_committable() -> None:
    tracker, route = OffsetTracker(), _Route()
    stuck = _chunk(tracker, route, 0, 2, checked=False)
    for first in range(2, 200, 4):
        for ack in _chunk(tracker, route, first, 4, checked=False):
            ack.done()
    tracker.sync()
    assert tracker.committable is None  # record 0 holds everything behind it
    assert len({id(a) for a in stuck}) == 2
    stuck[0].done()
    stuck[1].done()
    tracker.sync()
    assert tracker.committable == 202
    ring = _RINGS[id(tracker)]
    grown = len(ring.slots)
    assert grown >= 202  # every slot was held while record 0 was out
    for first in range(202, 2002, 4):  # all free again: the ring stops growing
        acks = _chunk(tracker, route, first, 4, checked=False)
        for ack in acks:
            ack.done()
        tracker.sync()
    assert tracker.committable == 2002
    assert len(ring.slots) == grown


def test_the_lifecycle_follows_its_diagram() -> None:
    life = Lifecycle()
    assert not life.move(Phase.RUNNING)  # NEW must open first
    assert life.move(Phase.OPENING)
    assert life.move(Phase.RUNNING)
    assert life.fetching
    assert life.end(Ending.COMPLETED)
    assert life.phase is Phase.DRAINING
    assert not life.fetching
    assert life.open
    assert not life.end(Ending.FAILED, RuntimeError("late"))  # the first ending wins
    assert life.ending is Ending.COMPLETED
    assert life.error is None
    assert life.move(Phase.CLOSING)
    assert not life.open
    assert life.move(Phase.CLOSED)
    assert not life.move(Phase.RUNNING)


def test_cancel_before_the_first_request_closes_at_once() -> None:
    life = Lifecycle()
    assert life.end(Ending.CANCELLED)
    assert life.phase is Phase.CLOSED


def test_drain_before_the_first_request_ends_at_once() -> None:
    life = Lifecycle()
    assert life.end(Ending.COMPLETED)
    assert life.phase is Phase.CLOSED
    assert not life.move(Phase.OPENING)


def test_a_drain_while_opening_skips_running() -> None:
    life = Lifecycle()
    life.move(Phase.OPENING)
    assert life.end(Ending.COMPLETED)
    assert life.phase is Phase.DRAINING
    assert not life.move(Phase.RUNNING)


def test_an_error_while_running_goes_to_closing() -> None:
    life = Lifecycle()
    life.move(Phase.OPENING)
    life.move(Phase.RUNNING)
    error = RuntimeError("broker gone")
    assert life.end(Ending.FAILED, error)
    assert life.phase is Phase.CLOSING
    assert life.error is error


class _SlowCommits:
    """A consumer whose commits take as long as the test says."""

    def __init__(self) -> None:
        self.commits: list[dict[Any, int]] = []
        self.release = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0

    async def commit(self, offsets: dict[Any, int]) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await self.release.wait()
        self.commits.append(dict(offsets))
        self.in_flight -= 1


async def test_background_commits_run_one_at_a_time_and_coalesce() -> None:
    consumer, clock = _SlowCommits(), VirtualClock()
    tracker = OffsetTracker()
    part = PartitionState(TP("t", 0), tracker)
    tasks: list[asyncio.Task[Any]] = []

    def spawn(coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        tasks.append(task)
        return task

    committer = Committer(consumer=consumer, name="s", bus=EventBus(), clock=clock,
                          every=10, interval=1.0, parts=lambda: [part], spawn=spawn)
    assert committer.due(9) is None
    assert committer.due(10) == "count"
    route = _Route()
    acks = [a for first in (0, 10, 20) for a in _chunk(tracker, route, first, 10)]
    for ack in acks[:10]:
        ack.done()
    committer.request("count")  # returns at once: the pump goes on fetching
    await asyncio.sleep(0)
    assert committer.in_flight
    for ack in acks[10:20]:
        ack.done()
    committer.request("count")
    for ack in acks[20:30]:
        ack.done()
    committer.request("count")  # coalesced with the one before
    consumer.release.set()
    await asyncio.gather(*tasks)
    assert consumer.most_in_flight == 1
    assert [c[TP("t", 0)] for c in consumer.commits] == [10, 30]
    assert tracker.committed == 30
    assert committer.commits == 2


async def test_interval_commits_need_some_completed_records() -> None:
    clock = VirtualClock()
    committer = Committer(consumer=None, name="s", bus=EventBus(), clock=clock, every=1000,
                          interval=1.0, parts=list, spawn=lambda c, n: None)  # type: ignore[arg-type,return-value]
    await clock.advance(2.0)
    assert committer.due(0) is None
    assert committer.due(1) == "interval"


@pytest.mark.parametrize("n", [1, 3])
def test_a_chunk_needs_every_record_settled(n: int) -> None:
    tracker, route = OffsetTracker(), _Route()
    acks = _chunk(tracker, route, 5, n)
    for ack in acks[:-1]:
        ack.done()
    tracker.sync()
    assert tracker.committable is None
    acks[-1].done()
    tracker.sync()
    assert tracker.committable == 5 + n


def test_pause_on_takes_breaker_objects_not_names() -> None:
    with pytest.raises(ConfigError, match=r"pause_on must hold circuit breakers.*'payments'"):
        KafkaSource(KafkaSourceConfig(bootstrap_servers="127.0.0.1:9", topics=("t",),
                                      group_id="g"), pause_on=("payments",))  # type: ignore[arg-type]


async def test_waiting_for_in_flight_records_skips_a_partition_revoked_meanwhile() -> None:
    # A rebalance during a drain revokes a partition: its tracker ignores late completions,
    # so its records stay pending; the drain must not wait its whole timeout for them (#14).
    from streamguard.kafka._completion import Completion

    live, revoked = OffsetTracker(), OffsetTracker()
    route = _Route()
    live_acks = _chunk(live, route, 0, 2)
    _chunk(revoked, route, 0, 2)
    revoked.dead = True
    parts = [PartitionState(TP("t", 0), live), PartitionState(TP("t", 1), revoked)]
    completion = Completion(None, None, None)  # type: ignore[arg-type]
    waiting = asyncio.create_task(completion.wait_in_flight(parts, 3600))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # the live partition still has records in flight
    for ack in live_acks:
        ack.done()
    async with asyncio.timeout(5):
        await waiting
    assert revoked.pending_records == 2  # still pending, and no longer waited for


async def test_a_revoke_while_closing_makes_the_last_commit_of_its_partitions_once() -> None:
    # The group rebalances while the source closes, before its last commit: the revoke makes
    # that commit for the revoked partitions (final: the completed head of an unfinished
    # chunk too), lets them go and reports them; the close's commit after it skips them, so
    # nothing is committed twice nor refused for a partition no longer assigned.
    from streamguard.kafka._codec import codec_of
    from streamguard.kafka._completion import Completion
    from streamguard.kafka._context import SourceContext
    from streamguard.kafka._events import PartitionsRevoked
    from streamguard.kafka._rebalance import Rebalancer

    consumer, clock, bus = _SlowCommits(), VirtualClock(), EventBus()
    consumer.release.set()
    revoked_events: list[Any] = []
    bus.subscribe(lambda e: revoked_events.append(e) if isinstance(e, PartitionsRevoked)
                  else None)
    config = KafkaSourceConfig(bootstrap_servers="127.0.0.1:9", topics=("t",), group_id="g")
    ctx = SourceContext(config, "s", codec_of("bytes"), bus, clock)
    route = _Route()
    tps = [TP("t", p) for p in range(3)]
    for tp in tps:
        ctx.parts[tp] = PartitionState(tp, OffsetTracker())
    head = _chunk(ctx.parts[tps[0]].tracker, route, 0, 4)
    for ack in head[:2]:
        ack.done()  # records 2 and 3 stay in flight
    for tp in tps[1:]:
        for ack in _chunk(ctx.parts[tp].tracker, route, 0, 2):
            ack.done()
    committer = Committer(consumer=consumer, name="s", bus=bus, clock=clock, every=1000,
                          interval=1.0, parts=lambda: list(ctx.parts.values()),
                          spawn=lambda c, n: asyncio.ensure_future(c))
    rebalancer = Rebalancer(ctx, Completion(ctx, None, None), committer, list)
    assert ctx.life.move(Phase.OPENING)
    assert ctx.life.move(Phase.RUNNING)
    assert ctx.life.end(Ending.CANCELLED)
    assert ctx.life.phase is Phase.CLOSING
    every = list(ctx.parts.values())

    async with asyncio.timeout(5):
        await rebalancer.on_revoked(frozenset(tps[:2]))
    assert consumer.commits == [{tps[0]: 2, tps[1]: 2}]
    assert set(ctx.parts) == {tps[2]}
    (event,) = revoked_events
    assert event.partitions == (("t", 0), ("t", 1))
    assert (event.completed, event.dropped) == (0, 2)  # in flight: delivered again
    for ack in head[2:]:
        ack.done()  # too late: the partition is gone
    assert await committer.commit(every, "close", final=True)
    assert consumer.commits[1:] == [{tps[2]: 2}]
