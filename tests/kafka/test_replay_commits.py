"""Commits that carry the completed offsets above the committed one (#13), without a broker:
what the committer sends, and how skipped offsets keep commits contiguous."""

from __future__ import annotations

import random
from typing import Any

import pytest

from streamguard.core import EventBus
from streamguard.kafka._commits import Committer
from streamguard.kafka._completion import AckRing
from streamguard.kafka._offset_map import decode, encode, ranges_of
from streamguard.kafka._offsets import OffsetTracker
from streamguard.kafka._partition import PartitionState
from streamguard.kafka._types import TP
from streamguard.testing import VirtualClock

TP0 = TP("t", 0)


class _Record:
    def __init__(self, offset: int) -> None:
        self.topic, self.partition, self.offset = "t", 0, offset


class _Route:
    armed = 0

    def bind(self, ack: Any) -> None:
        raise AssertionError("no dead letters here")

    def failed(self, ack: Any, error: BaseException) -> None:
        raise AssertionError("no failures here")


class _Consumer:
    def __init__(self) -> None:
        self.commits: list[dict[Any, Any]] = []

    async def commit(self, offsets: dict[Any, Any]) -> None:
        self.commits.append(dict(offsets))


def _setup(limit: int | None = 4096) -> tuple[_Consumer, Committer, PartitionState, list[Any]]:
    early: list[int] = []
    tracker = OffsetTracker(on_early=early.append)
    part = PartitionState(TP0, tracker)
    acks = []
    ring = AckRing(_Route())  # one per partition, as the pump keeps it
    tracker.on_release = ring.release
    for first in range(0, 30, 10):
        chunk = tracker.open_chunk(first, first + 9, 10)
        acks += ring.acks_for(chunk, [_Record(o) for o in range(first, first + 10)])
    part.start = 999  # what the lag reader guessed: not where the commit may start
    consumer = _Consumer()
    committer = Committer(consumer=consumer, name="s", bus=EventBus(), clock=VirtualClock(),
                          every=10, interval=1.0, parts=lambda: [part], spawn=None,  # type: ignore[arg-type]
                          metadata_limit=limit)
    return consumer, committer, part, acks


async def test_the_commit_carries_what_completed_above_the_lowest_incomplete() -> None:
    consumer, committer, part, acks = _setup()
    for ack in acks[1:]:  # record 0 is stuck; 1..29 complete
        ack.done()
    assert await committer.commit([part], "count")
    offset, metadata = consumer.commits[-1][TP0]
    assert offset == 0
    assert decode(metadata, 0) == [(1, 30)]
    assert await committer.commit([part], "count")
    assert len(consumer.commits) == 1  # nothing changed: no second commit
    acks[0].done()
    assert await committer.commit([part], "count")
    assert consumer.commits[-1][TP0] == (30, "")


async def test_the_set_grows_between_commits_with_the_offset_unchanged() -> None:
    consumer, committer, part, acks = _setup()
    acks[0].done()
    acks[2].done()
    await committer.commit([part], "count")
    assert consumer.commits[-1][TP0] == (1, encode(1, [(2, 3)]))
    acks[15].done()
    await committer.commit([part], "count")
    offset, metadata = consumer.commits[-1][TP0]
    assert (offset, decode(metadata, 1)) == (1, [(2, 3), (15, 16)])


async def test_offsets_skipped_after_a_restart_count_as_completed() -> None:
    consumer, committer, part, acks = _setup()
    # The last owner committed 0 with 3..12 completed; this owner delivered 0..2 and 13..
    part.tracker.committed = 0
    part.skip = [(3, 13)]
    for ack in acks[:3]:
        ack.done()
    await committer.commit([part], "count")
    assert consumer.commits[-1][TP0] == (13, "")
    assert part.skip == []  # pruned below the committed offset


async def test_a_partition_whose_records_are_all_in_flight_commits_nothing() -> None:
    consumer, committer, part, _ = _setup()
    assert await committer.commit([part], "count")
    assert consumer.commits == []


async def test_switched_off_it_commits_plain_offsets_as_before() -> None:
    consumer, committer, part, acks = _setup(limit=None)
    for ack in acks[1:]:
        ack.done()
    await committer.commit([part], "count")
    assert consumer.commits == []  # nothing contiguous: nothing to commit
    acks[0].done()
    await committer.commit([part], "count")
    assert consumer.commits == [{TP0: 30}]


def test_chunks_completing_behind_an_incomplete_one_are_reported_early() -> None:
    early: list[int] = []
    tracker = OffsetTracker(on_early=early.append)
    ring = AckRing(_Route())
    first = ring.acks_for(tracker.open_chunk(0, 1, 2), [_Record(0), _Record(1)])
    second = ring.acks_for(tracker.open_chunk(2, 3, 2), [_Record(2), _Record(3)])
    for ack in second:
        ack.done()
    tracker.sync()  # acks write state bytes; the tracker reads them in batches
    assert early == [2]
    assert tracker.completed_offsets() == [2, 3]
    assert tracker.completed_ranges() == [(2, 4)]
    first[1].done()
    assert tracker.completed_offsets() == [1, 2, 3]
    assert tracker.completed_ranges() == [(1, 4)]


async def test_with_metadata_an_interval_commit_is_due_while_records_are_open() -> None:
    _, committer, _, acks = _setup()
    clock = committer._clock
    assert isinstance(clock, VirtualClock)
    await clock.advance(1.0)
    # Records 1..9 completed inside the chunk that record 0 holds back: no count moved.
    for ack in acks[1:10]:
        ack.done()
    assert committer.due(0) == "interval"
    _, plain, _, _ = _setup(limit=None)
    await plain._clock.advance(1.0)  # type: ignore[attr-defined]
    assert plain.due(0) is None


@pytest.mark.parametrize("seed", range(40))
def test_completed_ranges_are_the_completed_offsets_as_ranges(seed: int) -> None:
    # Chunks with offsets that carry no record (markers) inside and between them, records
    # done, abandoned or pending at random: the chunk-at-a-time ranges are the same set.
    rng = random.Random(seed)
    tracker = OffsetTracker()
    ring = AckRing(_Route())
    tracker.on_release = ring.release
    acks, at = [], 0
    for _ in range(rng.randint(1, 20)):
        offsets = []
        for _ in range(rng.randint(1, 6)):
            offsets.append(at)
            at += 1 + (rng.random() < 0.3)
        chunk = tracker.open_chunk(offsets[0], offsets[-1], len(offsets))
        acks += ring.acks_for(chunk, [_Record(o) for o in offsets])
    for ack in acks:
        roll = rng.random()
        if roll < 0.6:
            ack.done()
        elif roll < 0.65:
            ack.abandon()
    assert tracker.completed_ranges() == ranges_of(tracker.completed_offsets())
