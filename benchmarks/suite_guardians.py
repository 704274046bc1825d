"""The guardians end to end: what rate limiting, a circuit breaker and retries cost on the path
a user runs, against the hand-written worker pool a careful asyncio programmer would write.

1. ``from_iterable`` → ``rate_limit`` (one limiter, never binding) → ``guarded_sink`` (breaker +
   retry, concurrency 16) delivering N items to an async call that succeeds at once, against
   16 asyncio worker tasks fed by a bounded queue, each call guarded by aiolimiter + tenacity +
   purgatory (and, as context, aiobreaker instead of purgatory), and against the same 16
   workers with no guard at all (the bare pool: the floor of any guarded design).
2. ``rate_limit`` on its own, one limiter without a key, never binding, before a synchronous
   sink, against the synchronous sink alone: what one decision costs on the chunk path.

Each peer is configured as its own documentation shows it (configuration beside each figure);
the limiter is never binding and the downstream never fails, so every contender does the same
work: figures are items per second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _harness import Contender, compare, ratio, result

N = 100_000
N_SYNC = 300_000
CONCURRENCY = 16
ROUNDS = 5
RATE = 10_000_000.0  # items/s: never reached, so no limiter ever waits
BURST = 1_000


async def deliver(item: int) -> None:
    """The downstream call: succeeds at once (the guard's own cost is what is measured)."""


def _per_second(n: int, start: float) -> float:
    return n / (time.perf_counter() - start)


# ---------------------------------------------------------------------------- streamguard
async def streamguard_guardians() -> float:
    from streamguard import from_iterable
    from streamguard.breaker import CircuitBreaker
    from streamguard.guard import guarded_sink
    from streamguard.ratelimit import RateLimiter, TokenBucket, rate_limit
    from streamguard.retry import RetryConfig

    limiter: Any = RateLimiter
    limit = (limiter("bench", TokenBucket(rate=RATE, burst=BURST))
             if list(_params(limiter))[1] == "name"
             else limiter(TokenBucket(rate=RATE, burst=BURST), name="bench"))
    start = time.perf_counter()
    await from_iterable(range(N)).pipe(
        rate_limit(limit),
        guarded_sink(deliver, breaker=CircuitBreaker("bench"), retry=RetryConfig(attempts=3),
                     concurrency=CONCURRENCY),
    ).run()
    return _per_second(N, start)


def _params(cls: Any) -> Any:
    import inspect
    return inspect.signature(cls.__init__).parameters


# ---------------------------------------------------------------------------- worker pools
async def _pool(guarded: Callable[[int], Awaitable[None]]) -> float:
    """16 long-lived workers fed by a bounded queue, as asyncio's docs show a worker pool."""
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=CONCURRENCY * 2)

    async def worker() -> None:
        while True:
            item = await queue.get()
            try:
                await guarded(item)
            finally:
                queue.task_done()

    start = time.perf_counter()
    workers = [asyncio.create_task(worker()) for _ in range(CONCURRENCY)]
    for i in range(N):
        await queue.put(i)
    await queue.join()
    for w in workers:
        w.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    return _per_second(N, start)


async def bare_pool() -> float:
    return await _pool(deliver)


Call = Callable[[int], Awaitable[None]]


def _tenacity_retry() -> Callable[[Call], Call]:
    import tenacity

    # tenacity's documented async use: the @retry decorator on a coroutine function.
    return tenacity.retry(stop=tenacity.stop_after_attempt(3), reraise=True,
                          wait=tenacity.wait_random_exponential(multiplier=0.1, max=10),
                          retry=tenacity.retry_if_exception_type(ConnectionError))


async def pool_purgatory() -> float:
    from aiolimiter import AsyncLimiter
    from purgatory import AsyncCircuitBreakerFactory

    limiter = AsyncLimiter(BURST, BURST / RATE)
    breaker = await AsyncCircuitBreakerFactory().get_breaker("bench", threshold=5, ttl=30)

    @_tenacity_retry()
    async def guarded(item: int) -> None:
        async with limiter, breaker:
            await deliver(item)

    return await _pool(guarded)


async def pool_aiobreaker() -> float:
    import datetime

    import aiobreaker
    from aiolimiter import AsyncLimiter

    limiter = AsyncLimiter(BURST, BURST / RATE)
    breaker = aiobreaker.CircuitBreaker(fail_max=5,
                                        timeout_duration=datetime.timedelta(seconds=30))

    @_tenacity_retry()
    async def guarded(item: int) -> None:
        async with limiter:
            await breaker.call_async(deliver, item)

    return await _pool(guarded)


# ---------------------------------------------------------------------------- rate_limit alone
class _Count:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, _x: object) -> None:
        self.n += 1


async def rate_limit_then_sink() -> float:
    from streamguard import from_iterable
    from streamguard import operators as op
    from streamguard.ratelimit import RateLimiter, TokenBucket, rate_limit

    limiter: Any = RateLimiter
    limit = (limiter("bench", TokenBucket(rate=RATE, burst=BURST))
             if list(_params(limiter))[1] == "name"
             else limiter(TokenBucket(rate=RATE, burst=BURST), name="bench"))
    count = _Count()
    start = time.perf_counter()
    await from_iterable(range(N_SYNC)).pipe(rate_limit(limit), op.sink(count)).run()
    assert count.n == N_SYNC
    return _per_second(N_SYNC, start)


async def sink_alone() -> float:
    from streamguard import from_iterable
    from streamguard import operators as op

    count = _Count()
    start = time.perf_counter()
    await from_iterable(range(N_SYNC)).pipe(op.sink(count)).run()
    assert count.n == N_SYNC
    return _per_second(N_SYNC, start)


# ---------------------------------------------------------------------------- suite
POOL = f"{CONCURRENCY} asyncio worker tasks, asyncio.Queue(maxsize={CONCURRENCY * 2})"
LIMIT = f"never binding: {RATE:,.0f}/s, burst {BURST}"


def run() -> dict[str, Any]:
    """Run the suite (called by ``benchmarks/run.py guardians``)."""
    guardians = compare([
        Contender("guardians_streamguard", streamguard_guardians, config=(
            f"from_iterable(range({N:,})) → rate_limit(RateLimiter(TokenBucket({LIMIT}))) → "
            f"guarded_sink(call, breaker=CircuitBreaker() defaults, "
            f"retry=RetryConfig(attempts=3), concurrency={CONCURRENCY})")),
        Contender("pool_aiolimiter_tenacity_purgatory", pool_purgatory, config=(
            f"{POOL}; each call: @tenacity.retry(stop_after_attempt(3), "
            "wait_random_exponential(0.1, max=10)) around `async with "
            f"AsyncLimiter({BURST}, {BURST}/{RATE:,.0f}), purgatory breaker(threshold=5, "
            "ttl=30)`")),
        Contender("pool_aiolimiter_tenacity_aiobreaker", pool_aiobreaker, config=(
            f"{POOL}; each call: @tenacity.retry(same) around `async with "
            f"AsyncLimiter({BURST}, {BURST}/{RATE:,.0f})` + aiobreaker.CircuitBreaker("
            "fail_max=5, timeout_duration=30 s).call_async")),
        Contender("bare_pool", bare_pool, config=f"{POOL}; each call unguarded"),
    ], rounds=ROUNDS)
    sync = compare([
        Contender("rate_limit_then_sync_sink", rate_limit_then_sink, config=(
            f"from_iterable(range({N_SYNC:,})) → rate_limit(one RateLimiter, no key, "
            f"{LIMIT}) → op.sink(count)")),
        Contender("sync_sink_alone", sink_alone,
                  config=f"from_iterable(range({N_SYNC:,})) → op.sink(count)"),
    ], rounds=ROUNDS)
    sg = guardians["guardians_streamguard"]
    ratios = {
        "guardians_vs_pool_peer": ratio(sg, guardians["pool_aiolimiter_tenacity_purgatory"]),
        "guardians_vs_pool_aiobreaker": ratio(
            sg, guardians["pool_aiolimiter_tenacity_aiobreaker"]),
        "guardians_vs_bare_pool": ratio(sg, guardians["bare_pool"]),
        "rate_limit_unbound_vs_sink": ratio(sync["rate_limit_then_sync_sink"],
                                            sync["sync_sink_alone"]),
    }
    out = result({**guardians, **sync}, ratios)
    out["description"] = ("items/s (higher is better); the downstream call succeeds at once "
                          "and the limiter never binds, so every contender does the same work")
    return out
