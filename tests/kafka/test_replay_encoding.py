"""The completed-offsets metadata (#13): it round-trips, it always fits the broker's limit,
truncation only ever drops offsets, and anything that is not ours is refused."""

from __future__ import annotations

import base64
import random
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamguard.kafka._offset_map import (
    BITSET,
    DEFAULT_LIMIT,
    MAX_RUNS,
    PREFIX,
    RUNS,
    MetadataError,
    advance,
    decode,
    encode,
    guaranteed_span,
    ranges_of,
    union,
)

offsets_above = st.sets(st.integers(min_value=1, max_value=60_000), max_size=3_000)
bases = st.integers(min_value=0, max_value=2**62)


def expand(ranges: list[tuple[int, int]]) -> set[int]:
    return {o for s, e in ranges for o in range(s, e)}


@settings(max_examples=150, deadline=None)
@given(offsets_above, bases)
def test_decode_of_encode_round_trips_when_it_fits(rel: set[int], base: int) -> None:
    completed = sorted(base + o for o in rel)
    text = encode(base, ranges_of(completed), limit=100_000)
    assert expand(decode(text, base)) == set(completed)


@settings(max_examples=150, deadline=None)
@given(offsets_above, bases, st.integers(min_value=len(PREFIX) + 24, max_value=DEFAULT_LIMIT))
def test_truncation_fits_the_limit_and_only_ever_drops_offsets(
    rel: set[int], base: int, limit: int
) -> None:
    completed = sorted(base + o for o in rel)
    text = encode(base, ranges_of(completed), limit=limit)
    assert len(text) <= limit
    kept = expand(decode(text, base))
    assert kept <= set(completed)
    # What is kept is a prefix: everything completed below the highest kept offset is kept.
    if kept:
        top = max(kept)
        assert {o for o in completed if o <= top} == kept


def test_any_pattern_within_the_guaranteed_span_fits() -> None:
    span = guaranteed_span(DEFAULT_LIMIT)
    assert span == 24_448
    rng = random.Random(13)
    # Random halves do not compress: only the bitset's one bit per offset carries them.
    completed = [1000 + o for o in range(1, span) if rng.random() < 0.5] + [1000 + span - 1]
    text = encode(1000, ranges_of(completed))
    assert len(text) <= DEFAULT_LIMIT
    assert expand(decode(text, 1000)) == set(completed)
    # One offset further and a random pattern no longer fits whole.
    beyond = [*completed, 1000 + span + 1]
    assert expand(decode(encode(1000, ranges_of(beyond)), 1000)) == set(completed)


def test_beyond_what_fits_the_prefix_that_fits_is_kept_and_the_rest_replayed() -> None:
    rng = random.Random(7)
    completed = sorted(o for o in range(1, 100_000) if rng.random() < 0.5)
    text = encode(0, ranges_of(completed))
    kept = expand(decode(text, 0))
    assert len(text) <= DEFAULT_LIMIT
    assert max(kept) < 99_000  # not all of it...
    assert {o for o in completed if o < guaranteed_span()} <= kept  # ...at least the window
    top = max(kept)
    assert kept == {o for o in completed if o <= top}  # a prefix


def test_long_runs_fit_far_beyond_the_guaranteed_span() -> None:
    # One stuck record at the committed offset, ten million completed above it.
    ranges = [(101, 10_000_101)]
    text = encode(100, ranges)
    assert len(text) < 64
    assert decode(text, 100) == ranges


def test_empty_metadata_means_nothing_completed_above() -> None:
    assert encode(5, []) == ""
    assert encode(5, [(1, 5)]) == ""  # below the committed offset: already committed
    assert decode("", 5) == []
    assert decode(None, 5) == []


@pytest.mark.parametrize(("metadata", "reason"), [
    ("some other tool's note", "prefix"),
    (PREFIX + "!!!", "base64"),
    (PREFIX + base64.b64encode(b"abc").decode(), "header"),
    (PREFIX + base64.b64encode(struct.pack(">BQI", 9, 10, 1) + b"\x01").decode(), "kind"),
    (PREFIX + base64.b64encode(struct.pack(">BQI", RUNS, 10, 9) + b"\x01\x02").decode(),
     "span"),
    (PREFIX + base64.b64encode(struct.pack(">BQI", BITSET, 10, 80) + b"\x01").decode(),
     "bitset"),
    (PREFIX + base64.b64encode(struct.pack(">BQI", BITSET | 0x80, 10, 8) + b"xx").decode(),
     "zlib"),
    (PREFIX + base64.b64encode(struct.pack(">BQI", RUNS | 0x80, 10, 8)
                               + zlib.compress(b"\x00" * 2_000_000)).decode(), "1 MiB"),
])
def test_foreign_or_corrupt_metadata_is_refused(metadata: str, reason: str) -> None:
    with pytest.raises(MetadataError, match=reason):
        decode(metadata, 10)


def test_metadata_written_for_another_offset_is_refused() -> None:
    text = encode(10, [(12, 20)])
    assert decode(text, 10) == [(12, 20)]
    with pytest.raises(MetadataError, match="written for offset 10, but the committed offset "
                                            "is 11"):
        decode(text, 11)


def test_range_helpers() -> None:
    assert ranges_of([1, 2, 3, 7, 9, 10]) == [(1, 4), (7, 8), (9, 11)]
    assert union([(1, 3), (8, 9)], [(3, 5), (6, 7)]) == [(1, 5), (6, 7), (8, 9)]
    assert advance(3, [(3, 6), (8, 9)]) == 6
    assert advance(2, [(3, 6)]) == 2


def test_the_work_per_commit_is_bounded_by_the_number_of_runs() -> None:
    # 1-in-3 incomplete over two million offsets: zlib would squeeze it all, but only the
    # first MAX_RUNS runs are looked at; the rest is delivered again.
    ranges = ranges_of(o for o in range(1, 2_000_000) if o % 3)
    kept = decode(encode(0, ranges), 0)
    assert kept == ranges[:MAX_RUNS]
    assert guaranteed_span() // 2 < MAX_RUNS  # never cuts into the guaranteed window
