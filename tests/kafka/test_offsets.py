"""OffsetTracker: commit only the highest contiguous completed offset."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamguard.kafka._offsets import ChunkAck, OffsetTracker


def test_in_order_completion_moves_the_committable_offset() -> None:
    progress: list[int] = []
    tracker = OffsetTracker(on_progress=lambda _t, n: progress.append(n))
    a = tracker.open_chunk(0, 2, 3)
    b = tracker.open_chunk(3, 4, 2)
    for _ in range(3):
        a.done()
    assert tracker.committable == 3
    b.done()
    assert tracker.committable == 3
    b.done()
    assert tracker.committable == 5
    assert progress == [3, 2]
    assert tracker.open_chunks == 0


def test_out_of_order_completion_waits_for_the_gap() -> None:
    tracker = OffsetTracker()
    a = tracker.open_chunk(10, 10, 1)
    b = tracker.open_chunk(11, 11, 1)
    c = tracker.open_chunk(15, 16, 2)  # 12..14 are not records (markers, compacted)
    c.done()
    c.done()
    b.done()
    assert tracker.committable is None
    assert tracker.pending_records == 1
    a.done()
    assert tracker.committable == 17


def test_a_failed_record_blocks_commits_until_it_is_settled() -> None:
    failures: list[tuple[ChunkAck, BaseException]] = []
    tracker = OffsetTracker(on_failure=lambda c, e: failures.append((c, e)))
    a = tracker.open_chunk(0, 1, 2)
    b = tracker.open_chunk(2, 2, 1)
    a.done()
    a.fail(ValueError("rejected"))
    b.done()
    assert tracker.committable is None
    assert failures[0][0] is a
    tracker.settle_failure(a)
    assert tracker.committable == 3


def test_a_hold_delays_completion_by_one() -> None:
    tracker = OffsetTracker()
    a = tracker.open_chunk(0, 0, 1)
    a.hold()
    a.done()
    assert tracker.committable is None
    a.done()
    assert tracker.committable == 1


def test_completions_after_revoke_are_ignored() -> None:
    tracker = OffsetTracker()
    a = tracker.open_chunk(0, 0, 1)
    tracker.dead = True
    a.done()
    assert tracker.committable is None


def test_chunks_must_be_opened_in_offset_order() -> None:
    tracker = OffsetTracker()
    tracker.open_chunk(5, 9, 5)
    with pytest.raises(ValueError, match="offset order: 7 after 9"):
        tracker.open_chunk(7, 8, 2)


def test_needs_commit_compares_with_the_committed_offset() -> None:
    tracker = OffsetTracker(committed=0)
    assert not tracker.needs_commit()
    tracker.open_chunk(0, 0, 1).done()
    assert tracker.needs_commit()
    tracker.committed = 1
    assert not tracker.needs_commit()


@given(st.lists(st.integers(1, 5), min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_committable_never_passes_an_incomplete_record(
    sizes: list[int], rnd: random.Random
) -> None:
    tracker = OffsetTracker()
    chunks, offset = [], 0
    for size in sizes:
        chunks.append(tracker.open_chunk(offset, offset + size - 1, size))
        offset += size
    events = [c for c in chunks for _ in range(c.count)]
    rnd.shuffle(events)
    for chunk in events:
        chunk.done()
        first_incomplete = next((c.first for c in chunks if c.remaining > 0), offset)
        assert (tracker.committable or 0) <= first_incomplete
    assert tracker.committable == offset
