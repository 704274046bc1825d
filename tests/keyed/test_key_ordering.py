"""Key-ordered parallelism (#13) in virtual time: per-key order under concurrency, the
concurrency bound, the memory bounds (total and per key) and a hot key that does not block
the others. Every duration is virtual: nothing sleeps for real."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core import StreamGuardError
from streamguard.testing import VirtualClock

Item = tuple[str, int, float]  # (key, sequence number within the key, duration)


class Ledger:
    """Source-side view of the stage: which items were handed to it and not yet settled,
    per key, and every call's start and end in virtual time."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.held: Counter[str] = Counter()
        self.unfinished: Counter[str] = Counter()  # handed over, call not returned yet
        self.peak_unfinished = 0
        self.peak_total = 0
        self.peak_key = 0
        self.active = 0
        self.peak_active = 0
        self.active_keys: set[str] = set()
        self.overlaps: list[str] = []
        self.started: dict[str, list[int]] = defaultdict(list)
        self.settled: Counter[str] = Counter()
        self.how: Counter[str] = Counter()

    def ack(self, item: Item) -> Any:
        key = item[0]
        self.held[key] += 1
        self.unfinished[key] += 1
        self.peak_unfinished = max(self.peak_unfinished, self.unfinished[key])
        self.peak_total = max(self.peak_total, sum(self.held.values()))
        self.peak_key = max(self.peak_key, self.held[key])
        ledger = self

        class _Ack:
            def _settle(self, how: str) -> None:
                ledger.held[key] -= 1
                ledger.settled[key] += 1
                ledger.how[how] += 1

            def done(self) -> None:
                self._settle("done")

            def fail(self, error: BaseException) -> None:
                self._settle("failed")

            def abandon(self) -> None:
                self._settle("abandoned")

        return _Ack()

    def work(self) -> Callable[[Item], Awaitable[Item]]:
        async def work(item: Item) -> Item:
            key, seq, duration = item
            if key in self.active_keys:
                self.overlaps.append(key)
            self.active_keys.add(key)
            self.started[key].append(seq)
            self.active += 1
            self.peak_active = max(self.peak_active, self.active)
            try:
                await self.clock.sleep(duration)
            finally:
                self.active -= 1
                self.active_keys.discard(key)
                self.unfinished[key] -= 1
            return item

        return work


def numbered(keys: list[str], durations: list[float]) -> list[Item]:
    """Give every item its sequence number within its key."""
    count: Counter[str] = Counter()
    items = []
    for key, duration in zip(keys, durations, strict=True):
        items.append((key, count[key], duration))
        count[key] += 1
    return items


async def run_virtual(clock: VirtualClock, coro: Awaitable[Any], step: float = 0.25) -> Any:
    task = asyncio.ensure_future(coro)
    for _ in range(1_000_000):
        if task.done():
            return task.result()
        await clock.advance(step)
    raise AssertionError("pipeline did not finish")


def in_order(started: dict[str, list[int]]) -> bool:
    """The checker: every key's items started in their arrival order, each once."""
    return all(seqs == list(range(len(seqs))) for seqs in started.values())


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(
    data=st.lists(st.tuples(st.sampled_from("abcdefghij"),
                            st.sampled_from([0.0, 0.25, 0.5, 1.0, 3.0])), max_size=120),
    concurrency=st.integers(1, 8),
    max_per_key=st.integers(1, 6),
    as_sink=st.booleans(),
)
async def test_per_key_order_and_every_bound_hold(
    data: list[tuple[str, float]], concurrency: int, max_per_key: int, as_sink: bool,
) -> None:
    clock = VirtualClock()
    ledger = Ledger(clock)
    items = numbered([k for k, _ in data], [d for _, d in data])
    source = from_iterable(items, ack=ledger.ack, chunk_size=7)
    out: list[Item] = []
    if as_sink:
        pipeline = source.pipe(op.sink(ledger.work(), concurrency=concurrency,
                                       key=lambda it: it[0], max_per_key=max_per_key))
        await run_virtual(clock, pipeline.run())
    else:
        out = await run_virtual(clock, source.pipe(op.map_async(
            ledger.work(), concurrency=concurrency, ordered=False, key=lambda it: it[0],
            max_per_key=max_per_key)).to_list())
        by_key: dict[str, list[int]] = defaultdict(list)
        for key, seq, _ in out:
            by_key[key].append(seq)
        assert in_order(by_key)  # results of one key leave in order too
        assert len(out) == len(items)
    assert in_order(ledger.started)
    assert ledger.overlaps == []                      # one call per key at a time
    assert ledger.peak_active <= concurrency          # the concurrency bound
    assert ledger.peak_total <= 2 * concurrency       # the total memory bound
    # The per-key bound counts items waiting or in a call; a finished result waiting for
    # downstream counts in the total only. A sink's ack settles when the call returned.
    assert ledger.peak_unfinished <= max_per_key
    if as_sink:
        assert ledger.peak_key <= max_per_key
    assert sum(ledger.settled.values()) == len(items)
    assert ledger.how["done"] == len(items)


@pytest.mark.parametrize("concurrency", [2, 3, 8])
async def test_different_keys_run_concurrently_up_to_the_bound(concurrency: int) -> None:
    # 2 and 3 hold 4 and 6 items: a default per-key bound of a quarter (1) ran them one call
    # at a time, since every item requested might be of the fullest key.
    clock = VirtualClock()
    ledger = Ledger(clock)
    items = numbered([f"k{i}" for i in range(40)], [1.0] * 40)
    await run_virtual(clock, from_iterable(items, ack=ledger.ack).pipe(
        op.sink(ledger.work(), concurrency=concurrency, key=lambda it: it[0])).run())
    assert ledger.peak_active == concurrency
    # 40 one-second calls, c at a time
    assert clock.now() <= -(-40 // concurrency) + 0.25


async def test_one_key_runs_one_at_a_time() -> None:
    clock = VirtualClock()
    ledger = Ledger(clock)
    items = numbered(["same"] * 10, [1.0] * 10)
    await run_virtual(clock, from_iterable(items, ack=ledger.ack).pipe(
        op.sink(ledger.work(), concurrency=8, key=lambda it: it[0])).run())
    assert ledger.peak_active == 1
    assert clock.now() >= 10
    assert in_order(ledger.started)


async def test_a_hot_key_does_not_block_other_keys() -> None:
    # The hot key comes first and each of its items takes 100 s; the 30 items of other keys
    # behind it in the stream finish long before the hot key's first item.
    clock = VirtualClock()
    ledger = Ledger(clock)
    finished: dict[str, float] = {}
    work = ledger.work()

    async def timed(item: Item) -> Item:
        await work(item)
        finished[f"{item[0]}/{item[1]}"] = clock.now()
        return item

    keys = ["hot"] * 3 + [f"k{i}" for i in range(30)] + ["hot"]
    durations = [100.0] * 3 + [1.0] * 30 + [100.0]
    items = numbered(keys, durations)
    await run_virtual(clock, from_iterable(items, ack=ledger.ack).pipe(
        op.sink(timed, concurrency=4, key=lambda it: it[0], max_per_key=4)).run(), step=1.0)
    others = [t for name, t in finished.items() if not name.startswith("hot")]
    assert len(others) == 30
    assert max(others) < finished["hot/0"]   # all 30 done while the hot key's first ran
    assert ledger.peak_key <= 4              # the hot key held at most its share
    assert in_order(ledger.started)


async def test_a_hot_key_holds_at_most_its_share_and_demand_follows() -> None:
    # 2 × concurrency = 16 held in total, at most 4 of the hot key: while the hot key is
    # full the stage asks upstream for nothing (it cannot choose which key comes next).
    clock = VirtualClock()
    ledger = Ledger(clock)
    items = numbered(["hot"] * 20 + ["cold"] * 5, [10.0] * 20 + [1.0] * 5)
    task = asyncio.ensure_future(from_iterable(items, ack=ledger.ack, chunk_size=1).pipe(
        op.sink(ledger.work(), concurrency=8, key=lambda it: it[0], max_per_key=4)).run())
    await clock.advance(5.0)
    assert ledger.held["hot"] == 4
    assert sum(ledger.held.values()) == 4
    await clock.advance(10.0)  # one hot item finished: exactly one more was asked for
    assert ledger.held["hot"] == 4
    assert ledger.settled["hot"] == 1
    await run_virtual(clock, task, step=5.0)
    assert ledger.peak_key <= 4
    assert ledger.settled["cold"] == 5
    assert in_order(ledger.started)


async def test_cancel_abandons_what_is_parked_and_in_flight() -> None:
    clock = VirtualClock()
    ledger = Ledger(clock)
    items = numbered(["a", "b"] * 6, [10.0] * 12)
    task = asyncio.ensure_future(from_iterable(items, ack=ledger.ack).pipe(
        op.sink(ledger.work(), concurrency=4, key=lambda it: it[0], max_per_key=3)).run())
    await clock.advance(15.0)
    assert ledger.how["done"] == 2  # a/0 and b/0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await clock.advance(0)
    assert sum(ledger.held.values()) == 0  # every ack handed to the stage settled
    assert ledger.how["abandoned"] >= 2


async def test_a_failing_key_function_fails_the_stream_and_settles_every_ack() -> None:
    ledger = Ledger(VirtualClock())
    items = numbered(["a", "b", "c"], [0.0] * 3)

    def key(item: Item) -> str:
        if item[0] == "b":
            raise ValueError("no key")
        return item[0]

    with pytest.raises(StreamGuardError):
        await from_iterable(items, ack=ledger.ack).pipe(
            op.sink(ledger.work(), concurrency=2, key=key)).run()
    assert sum(ledger.held.values()) == 0


def test_bad_arguments_are_refused_naming_the_rule() -> None:
    async def f(x: int) -> int:
        return x

    with pytest.raises(StreamGuardError, match="key= keeps the order per key and needs "
                                                "ordered=False"):
        op.map_async(f, concurrency=4, key=lambda x: x)
    with pytest.raises(StreamGuardError, match="max_per_key needs key="):
        op.sink(f, concurrency=4, max_per_key=3)
    with pytest.raises(StreamGuardError, match="max_per_key"):
        op.sink(f, concurrency=4, key=lambda x: x, max_per_key=0)
    with pytest.raises(StreamGuardError, match="key= needs an async fn"):
        op.sink(print, key=lambda x: x)


async def test_guarded_sink_keeps_per_key_order_behind_a_breaker() -> None:
    # The guarded sink (breaker + retry) takes key= like op.sink: one call per key at a
    # time, in arrival order, different keys concurrently.
    from streamguard.breaker import CircuitBreaker
    from streamguard.guard import guarded_sink

    clock = VirtualClock()
    ledger = Ledger(clock)
    items = numbered([f"k{i % 5}" for i in range(40)], [1.0, 0.25, 3.0, 0.5] * 10)
    breaker = CircuitBreaker("keyed", clock=clock)
    await run_virtual(clock, from_iterable(items, ack=ledger.ack).pipe(
        guarded_sink(ledger.work(), breaker=breaker, concurrency=4, clock=clock,
                     key=lambda it: it[0], max_per_key=3)).run())
    assert in_order(ledger.started)
    assert ledger.overlaps == []
    assert 1 < ledger.peak_active <= 4
    assert ledger.peak_key <= 3
    assert ledger.how["done"] == 40
