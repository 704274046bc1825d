"""Circuit breaking: what a guarded call costs when all is well, and what an outage costs the
downstream.

1. Closed-state overhead per guarded call (µs): time of a guarded no-op call minus the time of
   the bare call, best of a few interleaved rounds. streamguard's decorator and its permit API
   against pybreaker's ``call`` (sync: its async API needs tornado) and aiobreaker's
   ``call_async``; streamguard's ``async with`` against purgatory's ``async with``.
2. Downstream calls per item during an outage: a downstream that fails every call for a few
   seconds while items arrive at 500/s, fed side by side in the same event loop to a naive loop
   (3 immediate retries), tenacity (3 retries, exponential backoff with jitter) and
   streamguard's guarded sink (breaker, budgeted retries, backpressure).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

N = 200_000
ROUNDS = 5
OUTAGE = 6.0
RATE = 500


# ---------------------------------------------------------------------------- closed overhead
async def _op() -> int:
    return 1


def _sync_op() -> int:
    return 1


async def _time_async(body: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await body()
    return (time.perf_counter() - start) / N


async def _bare() -> None:
    for _ in range(N):
        await _op()


def _loops() -> dict[str, Callable[[], Awaitable[None]]]:
    import aiobreaker
    from purgatory import AsyncCircuitBreakerFactory

    from streamguard.breaker import CircuitBreaker

    sg = CircuitBreaker("bench")
    guarded = sg(_op)
    ab = aiobreaker.CircuitBreaker(fail_max=5)
    factory = AsyncCircuitBreakerFactory()

    async def sg_decorator() -> None:
        for _ in range(N):
            await guarded()

    async def sg_async_with() -> None:
        for _ in range(N):
            async with sg:
                await _op()

    async def sg_permit() -> None:
        for _ in range(N):
            permit = sg.try_acquire()
            assert permit is not None
            await _op()
            sg.on_success(permit)

    async def aiobreaker_call() -> None:
        for _ in range(N):
            await ab.call_async(_op)

    async def purgatory_async_with() -> None:
        breaker = await factory.get_breaker("bench")
        for _ in range(N):
            async with breaker:
                await _op()

    return {"streamguard_decorator": sg_decorator, "streamguard_async_with": sg_async_with,
            "streamguard_permit": sg_permit, "aiobreaker": aiobreaker_call,
            "purgatory": purgatory_async_with}


def _pybreaker_overhead() -> float:
    import pybreaker

    pb = pybreaker.CircuitBreaker(fail_max=5)
    start = time.perf_counter()
    for _ in range(N):
        _sync_op()
    bare = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(N):
        pb.call(_sync_op)
    return (time.perf_counter() - start - bare) / N


async def closed_overheads() -> dict[str, float]:
    """Best-of-ROUNDS overhead in µs per contender, rounds interleaved."""
    loops = _loops()
    best: dict[str, float] = {name: float("inf") for name in [*loops, "pybreaker"]}
    for _ in range(ROUNDS):
        bare = await _time_async(_bare)
        for name, body in loops.items():
            best[name] = min(best[name], await _time_async(body) - bare)
        best["pybreaker"] = min(best["pybreaker"], _pybreaker_overhead())
    return {name: value * 1e6 for name, value in best.items()}


# ---------------------------------------------------------------------------- outage
class Downstream:
    """Fails every call until *until* (loop time); counts calls per client meanwhile."""

    def __init__(self, until: float) -> None:
        self.until = until
        self.calls: dict[str, int] = {}

    async def call(self, client: str, item: int) -> None:
        await asyncio.sleep(0.001)  # a fast network round trip
        if asyncio.get_running_loop().time() < self.until:
            self.calls[client] = self.calls.get(client, 0) + 1
            raise ConnectionError(f"downstream unavailable (item {item})")


async def _paced(n: int) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(n):
        delay = start + i / RATE - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield i


async def _spawn_each(send: Callable[[int], Coroutine[Any, Any, None]], n: int) -> None:
    tasks: set[asyncio.Task[None]] = set()
    async for item in _paced(n):
        task = asyncio.create_task(send(item))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks, return_exceptions=True)


async def naive(down: Downstream, n: int) -> None:
    async def send(item: int) -> None:
        for _ in range(4):
            try:
                await down.call("naive", item)
                return
            except ConnectionError:
                pass

    await _spawn_each(send, n)


async def with_tenacity(down: Downstream, n: int) -> None:
    import tenacity

    async def send(item: int) -> None:
        try:
            async for attempt in tenacity.AsyncRetrying(
                    stop=tenacity.stop_after_attempt(4), reraise=True,
                    wait=tenacity.wait_random_exponential(multiplier=0.05, max=1.0)):
                with attempt:
                    await down.call("tenacity", item)
        except ConnectionError:
            pass  # given up after 4 tries, like the naive loop

    await _spawn_each(send, n)


async def with_streamguard(down: Downstream, n: int) -> None:
    from streamguard import Emitter
    from streamguard.breaker import BreakerConfig, CircuitBreaker
    from streamguard.core import EventBus
    from streamguard.guard import guarded_sink
    from streamguard.retry import RetryConfig

    bus = EventBus()
    breaker = CircuitBreaker("bench", BreakerConfig(
        open_duration=0.5, open_duration_multiplier=2, max_open_duration=2.0,
        open_duration_jitter=0.1), bus=bus)
    emitter = Emitter[int]()

    async def deliver(item: int) -> None:
        await down.call("streamguard", item)

    run = asyncio.create_task(emitter.stream().pipe(guarded_sink(
        deliver, breaker=breaker, retry=RetryConfig(attempts=4, base_delay=0.05, max_delay=1),
        timeout=2.0, concurrency=16)).run(bus=bus))
    async for item in _paced(n):
        await emitter.emit(item)
    emitter.complete()
    await run


async def outage_calls_per_item() -> dict[str, float]:
    """Calls each client made during the outage, per item offered during it."""
    loop = asyncio.get_running_loop()
    down = Downstream(loop.time() + OUTAGE)
    n = int(RATE * (OUTAGE + 1))
    await asyncio.gather(naive(down, n), with_tenacity(down, n), with_streamguard(down, n))
    offered = RATE * OUTAGE
    return {client: down.calls.get(client, 0) / offered
            for client in ("naive", "tenacity", "streamguard")}


# ---------------------------------------------------------------------------- suite
async def _main() -> dict[str, dict[str, float]]:
    overhead = await closed_overheads()
    storm = await outage_calls_per_item()
    figures: dict[str, float] = {f"closed_overhead_us_{k}": v for k, v in overhead.items()}
    figures.update({f"outage_calls_per_item_{k}": v for k, v in storm.items()})
    ratios = {
        "overhead_vs_pybreaker": overhead["streamguard_decorator"] / overhead["pybreaker"],
        "overhead_vs_aiobreaker": overhead["streamguard_decorator"] / overhead["aiobreaker"],
        "overhead_vs_purgatory": overhead["streamguard_async_with"] / overhead["purgatory"],
        "permit_overhead_vs_purgatory": overhead["streamguard_permit"] / overhead["purgatory"],
        "storm_calls_vs_naive": storm["streamguard"] / storm["naive"],
        "storm_calls_vs_tenacity": storm["streamguard"] / storm["tenacity"],
    }
    return {"figures": figures, "ratios": ratios}


def run() -> dict[str, Any]:
    """Run the suite (called by ``benchmarks/run.py breaker``)."""
    return asyncio.run(_main())
