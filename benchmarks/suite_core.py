"""Core throughput: a 3-stage lossless pipeline (map → filter → sink) over 1,000,000 integers
through streamguard, plain reactivex (synchronous push, no backpressure), a chain of
``asyncio.Queue(1000)`` stages and aiostream; plus ``map_async`` with concurrency 64.

Every contender runs in the same process, interleaved, best of a few rounds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

N = 1_000_000
N_ASYNC = 100_000
ROUNDS = 3


def _f(x: int) -> int:
    return x + 1


def _p(x: int) -> bool:
    return x % 2 == 0


class _Count:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, _x: object) -> None:
        self.n += 1


async def streamguard_pipeline() -> int:
    from streamguard import from_iterable
    from streamguard import operators as op

    count = _Count()
    await from_iterable(range(N)).pipe(op.map(_f), op.filter(_p), op.sink(count)).run()
    return count.n


async def reactivex_pipeline() -> int:
    import reactivex
    from reactivex import operators as rx_ops

    count = _Count()
    reactivex.from_iterable(range(N)).pipe(rx_ops.map(_f), rx_ops.filter(_p)).subscribe(
        on_next=count)
    return count.n


async def queue_chain() -> int:
    q1: asyncio.Queue[int | None] = asyncio.Queue(1000)
    q2: asyncio.Queue[int | None] = asyncio.Queue(1000)
    q3: asyncio.Queue[int | None] = asyncio.Queue(1000)
    count = _Count()

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
    return count.n


async def aiostream_pipeline() -> int:
    from aiostream import pipe, stream

    count = _Count()
    xs = stream.iterate(range(N)) | pipe.map(_f) | pipe.filter(_p)  # type: ignore[arg-type]
    async with xs.stream() as items:
        async for x in items:
            count(x)
    return count.n


async def _work(x: int) -> int:
    await asyncio.sleep(0)
    return x + 1


async def streamguard_map_async() -> int:
    from streamguard import from_iterable
    from streamguard import operators as op

    count = _Count()
    await from_iterable(range(N_ASYNC)).pipe(
        op.map_async(_work, concurrency=64), op.sink(count)).run()
    return count.n


async def semaphore_gather() -> int:
    sem = asyncio.Semaphore(64)
    count = _Count()

    async def one(x: int) -> None:
        async with sem:
            count(await _work(x))

    # The anchor for map_async: gather with a semaphore (unbounded task creation).
    await asyncio.gather(*(one(x) for x in range(N_ASYNC)))
    return count.n


def _time(fn: Callable[[], Awaitable[int]], expect: int) -> float:
    async def timed() -> float:
        t0 = time.perf_counter()
        got = await fn()
        dt = time.perf_counter() - t0
        assert got == expect, f"{fn.__name__} produced {got}, expected {expect}"
        return dt

    return asyncio.run(timed())


def run() -> dict[str, dict[str, Any]]:
    """Measure all contenders, interleaved; report items/s and ratios."""
    contenders: dict[str, tuple[Callable[[], Awaitable[int]], int, int]] = {
        "streamguard": (streamguard_pipeline, N // 2, N),
        "reactivex": (reactivex_pipeline, N // 2, N),
        "queue_chain": (queue_chain, N // 2, N),
        "aiostream": (aiostream_pipeline, N // 2, N),
        "map_async_64": (streamguard_map_async, N_ASYNC, N_ASYNC),
        "semaphore_gather_64": (semaphore_gather, N_ASYNC, N_ASYNC),
    }
    best: dict[str, float] = {}
    for _ in range(ROUNDS):
        for name, (fn, expect, _n) in contenders.items():
            dt = _time(fn, expect)
            best[name] = min(best.get(name, float("inf")), dt)
    rate = {name: contenders[name][2] / best[name] for name in contenders}
    figures = {f"{name}_items_per_s": round(r, 1) for name, r in rate.items()}
    ratios = {
        "pipeline_vs_reactivex": round(rate["streamguard"] / rate["reactivex"], 3),
        "pipeline_vs_queue_chain": round(rate["streamguard"] / rate["queue_chain"], 3),
        "pipeline_vs_aiostream": round(rate["streamguard"] / rate["aiostream"], 3),
        "map_async_vs_semaphore_gather": round(
            rate["map_async_64"] / rate["semaphore_gather_64"], 3),
    }
    return {"figures": figures, "ratios": ratios}
