"""Core throughput, every contender interleaved through ``_harness.compare``.

* **sync pipeline**: ``map → filter → sink`` over 1,000,000 integers through streamguard,
  reactivex (synchronous push, no backpressure), a chain of ``asyncio.Queue(1000)`` stages
  and aiostream.
* **map_async**: 100,000 calls of ``async def work(x): await asyncio.sleep(0); return x + 1``
  with ``concurrency=c`` at c = 16 and 256, against a hand-written pool of c long-lived worker
  tasks pulling from one shared iterator (the fastest way to write it by hand) and aiostream's
  ``pipe.map(work, task_limit=c)``. streamguard runs unordered, like the pool (results are
  consumed as they finish); the ordered figure is reported beside it.

Figures are items per second (median of the rounds, min and max in ``spreads``); ratios are
ratios of medians. ``SG_BENCH_ROUNDS`` overrides the number of rounds (default 5).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _harness import Contender, compare, ratio, result

N = 1_000_000
N_ASYNC = 100_000
ROUNDS = int(os.environ.get("SG_BENCH_ROUNDS", "5"))


def _f(x: int) -> int:
    return x + 1


def _p(x: int) -> bool:
    return x % 2 == 0


class _Count:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, _x: object) -> None:
        self.n += 1


def _rate(n: int, expect: int, body: Callable[[_Count], Awaitable[None]]) -> Callable[[], Any]:
    """One round: run *body*, check it saw *expect* items, return items/s over *n* inputs."""

    async def measure() -> float:
        count = _Count()
        t0 = time.perf_counter()
        await body(count)
        dt = time.perf_counter() - t0
        assert count.n == expect, f"counted {count.n}, expected {expect}"
        return n / dt

    return measure


# ---------------------------------------------------------------- the sync pipeline
async def _streamguard_pipeline(count: _Count) -> None:
    from streamguard import from_iterable
    from streamguard import operators as op

    await from_iterable(range(N)).pipe(op.map(_f), op.filter(_p), op.sink(count)).run()


async def _reactivex_pipeline(count: _Count) -> None:
    import reactivex
    from reactivex import operators as rx_ops

    reactivex.from_iterable(range(N)).pipe(rx_ops.map(_f), rx_ops.filter(_p)).subscribe(
        on_next=count)


async def _queue_chain(count: _Count) -> None:
    q1: asyncio.Queue[int | None] = asyncio.Queue(1000)
    q2: asyncio.Queue[int | None] = asyncio.Queue(1000)
    q3: asyncio.Queue[int | None] = asyncio.Queue(1000)

    async def produce() -> None:
        for x in range(N):
            await q1.put(x)
        await q1.put(None)

    async def mapper() -> None:
        while (x := await q1.get()) is not None:
            await q2.put(_f(x))
        await q2.put(None)

    async def filterer() -> None:
        while (x := await q2.get()) is not None:
            if _p(x):
                await q3.put(x)
        await q3.put(None)

    async def consume() -> None:
        while (x := await q3.get()) is not None:
            count(x)

    await asyncio.gather(produce(), mapper(), filterer(), consume())


async def _aiostream_pipeline(count: _Count) -> None:
    from aiostream import pipe, stream

    xs = stream.iterate(range(N)) | pipe.map(_f) | pipe.filter(_p)  # type: ignore[arg-type]
    async with xs.stream() as items:
        async for x in items:
            count(x)


# ---------------------------------------------------------------- map_async
async def _work(x: int) -> int:
    await asyncio.sleep(0)
    return x + 1


def _map_async(c: int, ordered: bool) -> Callable[[_Count], Awaitable[None]]:
    async def body(count: _Count) -> None:
        from streamguard import from_iterable
        from streamguard import operators as op

        await from_iterable(range(N_ASYNC)).pipe(
            op.map_async(_work, concurrency=c, ordered=ordered), op.sink(count)).run()

    return body


def _worker_pool(c: int) -> Callable[[_Count], Awaitable[None]]:
    async def body(count: _Count) -> None:
        items = iter(range(N_ASYNC))

        async def worker() -> None:
            for x in items:
                count(await _work(x))

        await asyncio.gather(*(worker() for _ in range(c)))

    return body


def _aiostream_map(c: int) -> Callable[[_Count], Awaitable[None]]:
    async def body(count: _Count) -> None:
        from aiostream import pipe, stream

        xs: Any = stream.iterate(range(N_ASYNC)) | pipe.map(_work, task_limit=c)  # type: ignore[arg-type]
        async with xs.stream() as items:
            async for x in items:
                count(x)

    return body


def run() -> dict[str, Any]:
    """Measure every contender, interleaved; report items/s and ratios of medians."""
    half = N // 2
    sync = compare([
        Contender("streamguard_pipeline", _rate(N, half, _streamguard_pipeline),
                  config="from_iterable(range(N)) → op.map → op.filter → op.sink, run()"),
        Contender("reactivex_pipeline", _rate(N, half, _reactivex_pipeline),
                  config="reactivex.from_iterable → ops.map → ops.filter, subscribe(on_next)"),
        Contender("queue_chain", _rate(N, half, _queue_chain),
                  config="4 tasks joined by asyncio.Queue(1000)"),
        Contender("aiostream_pipeline", _rate(N, half, _aiostream_pipeline),
                  config="stream.iterate | pipe.map | pipe.filter, async with .stream()"),
    ], rounds=ROUNDS)
    figures = dict(sync)
    ratios = {
        "pipeline_vs_reactivex": ratio(sync["streamguard_pipeline"], sync["reactivex_pipeline"]),
        "pipeline_vs_queue_chain": ratio(sync["streamguard_pipeline"], sync["queue_chain"]),
        "pipeline_vs_aiostream": ratio(sync["streamguard_pipeline"], sync["aiostream_pipeline"]),
    }
    for c in (16, 256):
        spreads = compare([
            Contender(f"map_async_c{c}", _rate(N_ASYNC, N_ASYNC, _map_async(c, False)),
                      config=f"op.map_async(work, concurrency={c}, ordered=False) → op.sink"),
            Contender(f"map_async_ordered_c{c}", _rate(N_ASYNC, N_ASYNC, _map_async(c, True)),
                      config=f"op.map_async(work, concurrency={c}) (ordered) → op.sink"),
            Contender(f"worker_pool_c{c}", _rate(N_ASYNC, N_ASYNC, _worker_pool(c)),
                      config=f"{c} asyncio tasks, each `for x in shared_iterator: "
                             "count(await work(x))`, gathered"),
            Contender(f"aiostream_map_c{c}", _rate(N_ASYNC, N_ASYNC, _aiostream_map(c)),
                      config=f"stream.iterate | pipe.map(work, task_limit={c})"),
        ], rounds=ROUNDS)
        figures.update(spreads)
        ratios[f"map_async_vs_worker_pool_c{c}"] = ratio(
            spreads[f"map_async_c{c}"], spreads[f"worker_pool_c{c}"])
        ratios[f"map_async_ordered_vs_worker_pool_c{c}"] = ratio(
            spreads[f"map_async_ordered_c{c}"], spreads[f"worker_pool_c{c}"])
        ratios[f"map_async_vs_aiostream_c{c}"] = ratio(
            spreads[f"map_async_c{c}"], spreads[f"aiostream_map_c{c}"])
    return result(figures, ratios)
