"""Fan-in, nesting and grouping operators against their peers, side by side in one run.

* ``merge``: 4 sources × 250,000 integers merged into one counting sink — streamguard's
  ``op.merge`` (backpressured, round-robin) against aiostream's ``stream.merge``.
* ``flat_map``: 100,000 items, each expanded into an inner stream of 10 items, at most 8 inner
  streams at once — ``op.flat_map(fn, concurrency=8)`` against aiostream's
  ``stream.flatmap(xs, fn, task_limit=8)``.
* ``group_by``: 1,000,000 integers, 100 keys, count per group — ``op.group_by`` with one
  substream per key against reactivex's ``group_by`` + ``flat_map`` + ``count``
  (synchronous push, no backpressure).
* ``window``: 1,000,000 integers in tumbling count windows of 100 into a sink that counts
  the items of each window — ``op.window(count=100)`` against reactivex's
  ``buffer_with_count(100)`` (the list-emitting form RxPY documents for count windows;
  synchronous push, no backpressure).

Every contender runs interleaved with its peer, order rotated, one warm-up and five rounds
(``_harness.compare``); figures are items per second, ratios are ratios of medians.
"""

from __future__ import annotations

import time
from typing import Any

from _harness import Contender, compare, ratio, result

ROUNDS = 5
MERGE_SOURCES, MERGE_EACH = 4, 250_000
FLAT_OUTER, FLAT_INNER, FLAT_CONCURRENCY = 100_000, 10, 8
GROUP_N, GROUP_KEYS = 1_000_000, 100
WINDOW_N, WINDOW_COUNT = 1_000_000, 100


class _Count:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, _x: object) -> None:
        self.n += 1


def _rate(n: int, started: float, counted: int) -> float:
    if counted != n:
        raise AssertionError(f"expected {n} items, counted {counted}")
    return n / (time.perf_counter() - started)


# ---------------------------------------------------------------- merge
async def sg_merge() -> float:
    from streamguard import from_iterable
    from streamguard import operators as op

    count = _Count()
    started = time.perf_counter()
    sources = [from_iterable(range(MERGE_EACH)) for _ in range(MERGE_SOURCES)]
    await op.merge(*sources).pipe(op.sink(count)).run()
    return _rate(MERGE_SOURCES * MERGE_EACH, started, count.n)


async def aiostream_merge() -> float:
    from aiostream import stream

    count = _Count()
    started = time.perf_counter()
    xs = stream.merge(*(stream.iterate(range(MERGE_EACH)) for _ in range(MERGE_SOURCES)))
    async with xs.stream() as items:
        async for x in items:
            count(x)
    return _rate(MERGE_SOURCES * MERGE_EACH, started, count.n)


# ---------------------------------------------------------------- flat_map
_INNER = range(FLAT_INNER)


async def sg_flat_map() -> float:
    from streamguard import from_iterable
    from streamguard import operators as op

    count = _Count()
    started = time.perf_counter()
    await from_iterable(range(FLAT_OUTER)).pipe(
        op.flat_map(lambda _x: from_iterable(_INNER), concurrency=FLAT_CONCURRENCY),
        op.sink(count),
    ).run()
    return _rate(FLAT_OUTER * FLAT_INNER, started, count.n)


async def aiostream_flat_map() -> float:
    from aiostream import stream

    count = _Count()
    started = time.perf_counter()
    def inner(_x: int, *_rest: int) -> Any:
        return stream.iterate(_INNER)

    xs = stream.flatmap(stream.iterate(range(FLAT_OUTER)), inner, task_limit=FLAT_CONCURRENCY)
    async with xs.stream() as items:
        async for x in items:
            count(x)
    return _rate(FLAT_OUTER * FLAT_INNER, started, count.n)


# ---------------------------------------------------------------- group_by
def _key(x: int) -> int:
    return x % GROUP_KEYS


def _check_counts(counts: dict[int, int]) -> None:
    if len(counts) != GROUP_KEYS or sum(counts.values()) != GROUP_N:
        raise AssertionError(f"wrong counts: {len(counts)} groups, {sum(counts.values())} items")


async def sg_group_by() -> float:
    from streamguard import from_iterable
    from streamguard import operators as op
    from streamguard.core import Stream

    counts: dict[int, int] = {}

    def count(group: op.GroupedStream[int, int]) -> Stream[Any]:
        key = group.key
        counts[key] = 0

        def one(_x: int) -> None:
            counts[key] += 1

        return group.pipe(op.sink(one))

    started = time.perf_counter()
    await from_iterable(range(GROUP_N)).pipe(
        op.group_by(_key, max_groups=GROUP_KEYS),
        op.flat_map(count, concurrency=GROUP_KEYS),
    ).run()
    elapsed = time.perf_counter() - started
    _check_counts(counts)
    return GROUP_N / elapsed


def reactivex_group_by() -> float:
    import reactivex
    from reactivex import operators as rx_ops

    counts: dict[int, int] = {}

    def record(pair: tuple[int, int]) -> None:
        counts[pair[0]] = pair[1]

    def count(group: Any) -> Any:
        return group.pipe(rx_ops.count(), rx_ops.map(lambda c: (group.key, c)))

    started = time.perf_counter()
    reactivex.from_iterable(range(GROUP_N)).pipe(
        rx_ops.group_by(_key), rx_ops.flat_map(count)).subscribe(on_next=record)
    elapsed = time.perf_counter() - started
    _check_counts(counts)
    return GROUP_N / elapsed


# ---------------------------------------------------------------- window
class _WindowItems:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, window: list[int]) -> None:
        self.n += len(window)


async def sg_window() -> float:
    from streamguard import from_iterable
    from streamguard import operators as op

    count = _WindowItems()
    started = time.perf_counter()
    await from_iterable(range(WINDOW_N)).pipe(
        op.window(count=WINDOW_COUNT), op.sink(count)).run()
    return _rate(WINDOW_N, started, count.n)


def reactivex_window() -> float:
    import reactivex
    from reactivex import operators as rx_ops

    count = _WindowItems()
    started = time.perf_counter()
    reactivex.from_iterable(range(WINDOW_N)).pipe(
        rx_ops.buffer_with_count(WINDOW_COUNT)).subscribe(on_next=count)
    return _rate(WINDOW_N, started, count.n)


def run() -> dict[str, Any]:
    """Run the suite; see the module docstring."""
    figures = {}
    merge = compare([
        Contender("merge_streamguard", sg_merge,
                  config="op.merge(*4 × from_iterable(range(250_000))) → op.sink(count); "
                         "defaults (prefetch=256 per input)"),
        Contender("merge_aiostream", aiostream_merge,
                  config="stream.merge(*4 × stream.iterate(range(250_000))), "
                         "async with xs.stream() as s: async for x in s (aiostream 0.8 docs)"),
    ], rounds=ROUNDS)
    figures.update(merge)
    flat = compare([
        Contender("flat_map_streamguard", sg_flat_map,
                  config="from_iterable(range(100_000)) → op.flat_map(x → from_iterable(range(10)), "
                         "concurrency=8) → op.sink(count)"),
        Contender("flat_map_aiostream", aiostream_flat_map,
                  config="stream.flatmap(stream.iterate(range(100_000)), x → "
                         "stream.iterate(range(10)), task_limit=8), async for"),
    ], rounds=ROUNDS)
    figures.update(flat)
    groups = compare([
        Contender("group_by_streamguard", sg_group_by,
                  config="from_iterable(range(1_000_000)) → op.group_by(x % 100, max_groups=100) "
                         "→ op.flat_map(g → g.pipe(op.sink(count per key)), concurrency=100)"),
        Contender("group_by_reactivex", reactivex_group_by,
                  config="reactivex.from_iterable(range(1_000_000)).pipe(ops.group_by(x % 100), "
                         "ops.flat_map(g → g.pipe(ops.count(), ops.map(c → (g.key, c))))), "
                         "subscribe (synchronous push, no backpressure)"),
    ], rounds=ROUNDS)
    figures.update(groups)
    windows = compare([
        Contender("window_streamguard", sg_window,
                  config="from_iterable(range(1_000_000)) → op.window(count=100) → "
                         "op.sink(count items per window); defaults"),
        Contender("window_reactivex", reactivex_window,
                  config="reactivex.from_iterable(range(1_000_000)).pipe("
                         "ops.buffer_with_count(100)).subscribe(on_next=count items per list) "
                         "(synchronous push, no backpressure)"),
    ], rounds=ROUNDS)
    figures.update(windows)
    ratios = {
        "merge_vs_aiostream": ratio(merge["merge_streamguard"], merge["merge_aiostream"]),
        "flat_map_vs_aiostream": ratio(flat["flat_map_streamguard"],
                                       flat["flat_map_aiostream"]),
        "group_by_vs_reactivex": ratio(groups["group_by_streamguard"],
                                       groups["group_by_reactivex"]),
        "window_vs_reactivex": ratio(windows["window_streamguard"],
                                     windows["window_reactivex"]),
    }
    return result(figures, ratios)
