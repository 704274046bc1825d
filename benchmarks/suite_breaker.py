"""Circuit breaking: what a guarded call costs when all is well, and what an outage costs the
downstream — and the items.

1. Closed-state overhead per guarded call (µs, lower is better): a guarded no-op call minus the
   bare call, both timed inside the same round. streamguard's decorator against pybreaker's
   ``call`` (sync: its async API needs tornado) and aiobreaker's ``call_async``; streamguard's
   ``async with`` and its permit API against purgatory's ``async with``.
2. A retry storm: a downstream fails every call for OUTAGE seconds while items arrive at RATE/s,
   fed to one client per round: a naive loop (3 immediate retries), tenacity alone, the two
   fail-fast peers *with a breaker* (tenacity + aiobreaker, tenacity + purgatory; a refused call
   is not retried and the item is given up, as their documentation shows) and streamguard's
   guarded sink (breaker, budgeted retries, backpressure). Every breaker has the same rule
   (open after 5 failures, probe after 1 s) and every retry the same 4 attempts with jittered
   exponential backoff. Reported: downstream calls during the outage per item offered during
   it, and items delivered in all.

Every figure comes from ``_harness.compare``: contenders interleaved, order rotated, a warm-up,
ROUNDS rounds, median with min and max, each peer's configuration beside it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from _harness import Contender, Spread, compare, ratio, result

N = 200_000
ROUNDS = 5
STORM_ROUNDS = 7  # calls during an outage are small integers: more rounds, steadier median
BEFORE = 0.5  # healthy seconds before the outage
OUTAGE = 5.0
AFTER = 1.5  # healthy seconds after it
RATE = 500
FAIL_MAX = 5
OPEN_S = 1.0


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
    return (time.perf_counter() - start - bare) / N * 1e6


def _overhead(body: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[float]]:
    """One round: µs per call of *body* minus the bare loop, both timed now."""
    async def measure() -> float:
        bare = await _time_async(_bare)
        return (await _time_async(body) - bare) * 1e6

    return measure


def closed_overheads() -> dict[str, Spread]:
    """Overhead in µs per guarded call, per contender."""
    loops = _loops()
    return compare([
        Contender("closed_overhead_us_streamguard_decorator",
                  _overhead(loops["streamguard_decorator"]),
                  config='@CircuitBreaker("bench") (defaults) on an async def'),
        Contender("closed_overhead_us_streamguard_async_with",
                  _overhead(loops["streamguard_async_with"]),
                  config='async with CircuitBreaker("bench") (defaults)'),
        Contender("closed_overhead_us_streamguard_permit", _overhead(loops["streamguard_permit"]),
                  config="breaker.try_acquire() … breaker.on_success(permit)"),
        Contender("closed_overhead_us_aiobreaker", _overhead(loops["aiobreaker"]),
                  config="aiobreaker.CircuitBreaker(fail_max=5).call_async(fn)"),
        Contender("closed_overhead_us_purgatory", _overhead(loops["purgatory"]),
                  config="async with (await AsyncCircuitBreakerFactory().get_breaker(name))"),
        Contender("closed_overhead_us_pybreaker", _pybreaker_overhead,
                  config="pybreaker.CircuitBreaker(fail_max=5).call(fn) (sync)"),
    ], rounds=ROUNDS)


# ---------------------------------------------------------------------------- outage
class Downstream:
    """Fails every call from *start* to *until* (loop time); counts calls meanwhile, and
    every item it accepted."""

    def __init__(self, start: float, until: float) -> None:
        self.start = start
        self.until = until
        self.calls = 0
        self.delivered = 0

    async def call(self, item: int) -> None:
        await asyncio.sleep(0.001)  # a fast network round trip
        if self.start <= asyncio.get_running_loop().time() < self.until:
            self.calls += 1
            raise ConnectionError(f"downstream unavailable (item {item})")
        self.delivered += 1


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


def _tenacity(**extra: Any) -> Any:
    import tenacity

    return tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(4), reraise=True,
        wait=tenacity.wait_random_exponential(multiplier=0.05, max=1.0), **extra)


async def naive(down: Downstream, n: int) -> None:
    async def send(item: int) -> None:
        for _ in range(4):
            try:
                await down.call(item)
                return
            except ConnectionError:
                pass

    await _spawn_each(send, n)


async def with_tenacity(down: Downstream, n: int) -> None:
    async def send(item: int) -> None:
        try:
            async for attempt in _tenacity():
                with attempt:
                    await down.call(item)
        except ConnectionError:
            pass  # given up after 4 tries, like the naive loop

    await _spawn_each(send, n)


async def with_tenacity_aiobreaker(down: Downstream, n: int) -> None:
    import datetime

    import aiobreaker
    import tenacity

    breaker = aiobreaker.CircuitBreaker(
        fail_max=FAIL_MAX, timeout_duration=datetime.timedelta(seconds=OPEN_S))

    async def send(item: int) -> None:
        try:
            async for attempt in _tenacity(
                    retry=tenacity.retry_if_not_exception_type(aiobreaker.CircuitBreakerError)):
                with attempt:
                    await breaker.call_async(down.call, item)
        except (ConnectionError, aiobreaker.CircuitBreakerError):
            pass  # refused or given up: the fail-fast design drops the item

    await _spawn_each(send, n)


async def with_tenacity_purgatory(down: Downstream, n: int) -> None:
    import tenacity
    from purgatory import AsyncCircuitBreakerFactory
    from purgatory.domain.model import OpenedState

    breaker = await AsyncCircuitBreakerFactory().get_breaker(
        "storm", threshold=FAIL_MAX, ttl=OPEN_S)

    async def guarded(item: int) -> None:
        async with breaker:
            await down.call(item)

    async def send(item: int) -> None:
        try:
            async for attempt in _tenacity(
                    retry=tenacity.retry_if_not_exception_type(OpenedState)):
                with attempt:
                    await guarded(item)
        except (ConnectionError, OpenedState):
            pass  # refused or given up: the fail-fast design drops the item

    await _spawn_each(send, n)


async def with_streamguard(down: Downstream, n: int) -> None:
    from streamguard import Emitter
    from streamguard.breaker import CircuitBreaker
    from streamguard.core import EventBus
    from streamguard.guard import guarded_sink

    bus = EventBus()
    breaker = CircuitBreaker("bench", BREAKER, bus=bus)
    emitter = Emitter[int]()

    run = asyncio.create_task(emitter.stream().pipe(guarded_sink(
        down.call, breaker=breaker, retry=RETRY, timeout=2.0, concurrency=16)).run(bus=bus))
    async for item in _paced(n):
        await emitter.emit(item)
    emitter.complete()
    await run


def _storm_config() -> tuple[Any, Any]:
    from streamguard.breaker import BreakerConfig
    from streamguard.retry import RetryConfig

    return (BreakerConfig(window_size=FAIL_MAX, minimum_calls=FAIL_MAX,
                          failure_rate_threshold=1.0, open_duration=OPEN_S),
            RetryConfig(attempts=4, base_delay=0.05, max_delay=1.0))


BREAKER, RETRY = _storm_config()
CLIENTS: dict[str, tuple[Callable[[Downstream, int], Awaitable[None]], str]] = {
    "naive": (naive, "a task per item, 4 immediate tries"),
    "tenacity": (with_tenacity, "a task per item, tenacity AsyncRetrying(stop_after_attempt(4), "
                 "wait_random_exponential(0.05, max=1))"),
    "tenacity_aiobreaker": (with_tenacity_aiobreaker, (
        f"a task per item, tenacity (same, retry_if_not_exception_type(CircuitBreakerError)) "
        f"around aiobreaker.CircuitBreaker(fail_max={FAIL_MAX}, timeout_duration={OPEN_S:g} s)"
        ".call_async; refused items are given up")),
    "tenacity_purgatory": (with_tenacity_purgatory, (
        f"a task per item, tenacity (same, not retrying OpenedState) around purgatory "
        f"get_breaker(threshold={FAIL_MAX}, ttl={OPEN_S:g}); refused items are given up")),
    "streamguard": (with_streamguard, (
        f"Emitter → guarded_sink(breaker: count window {FAIL_MAX}, open at 100% failures, "
        f"open {OPEN_S:g} s; retry: RetryConfig(attempts=4, base_delay=0.05, max_delay=1) "
        "with its retry budget; timeout=2, concurrency=16, on_open='backpressure')")),
}


def storm() -> tuple[dict[str, Spread], dict[str, Spread]]:
    """Per client: calls during the outage per item offered during it, and items delivered."""
    delivered: dict[str, list[float]] = {name: [] for name in CLIENTS}
    n = int(RATE * (BEFORE + OUTAGE + AFTER))

    def measure(name: str) -> Callable[[], Awaitable[float]]:
        client = CLIENTS[name][0]

        async def one() -> float:
            loop = asyncio.get_running_loop()
            down = Downstream(loop.time() + BEFORE, loop.time() + BEFORE + OUTAGE)
            await client(down, n)
            delivered[name].append(down.delivered)
            return down.calls / (RATE * OUTAGE)

        return one

    calls = compare([Contender(f"outage_calls_per_item_{name}", measure(name), config=config)
                     for name, (_, config) in CLIENTS.items()], rounds=STORM_ROUNDS)
    kept = {f"delivered_{name}": Spread(f"delivered_{name}", tuple(values[1:]),
                                        f"of {n:,} items; {CLIENTS[name][1]}")
            for name, values in delivered.items()}  # values[0] was the warm-up
    return calls, kept


# ---------------------------------------------------------------------------- suite
def run() -> dict[str, Any]:
    """Run the suite (called by ``benchmarks/run.py breaker``)."""
    overhead = closed_overheads()
    calls, delivered = storm()

    def o(name: str) -> Spread:
        return overhead[f"closed_overhead_us_{name}"]

    def c(name: str) -> Spread:
        return calls[f"outage_calls_per_item_{name}"]

    def d(name: str) -> Spread:
        return delivered[f"delivered_{name}"]

    ratios = {
        "overhead_vs_pybreaker": ratio(o("streamguard_decorator"), o("pybreaker")),
        "overhead_vs_aiobreaker": ratio(o("streamguard_decorator"), o("aiobreaker")),
        "overhead_vs_purgatory": ratio(o("streamguard_async_with"), o("purgatory")),
        "permit_overhead_vs_purgatory": ratio(o("streamguard_permit"), o("purgatory")),
        "storm_calls_vs_naive": ratio(c("streamguard"), c("naive"), 4),
        "storm_calls_vs_tenacity": ratio(c("streamguard"), c("tenacity"), 4),
        # The breaker peers: the worse of the two is the one the goal is held against.
        "storm_calls_vs_breaker_peer": max(ratio(c("streamguard"), c("tenacity_aiobreaker")),
                                           ratio(c("streamguard"), c("tenacity_purgatory"))),
        "storm_delivered_vs_breaker_peer": min(
            ratio(d("streamguard"), d("tenacity_aiobreaker")),
            ratio(d("streamguard"), d("tenacity_purgatory"))),
    }
    out = result({**overhead, **calls, **delivered}, ratios)
    out["description"] = (
        f"closed_overhead_us_*: µs per guarded call (lower is better); outage_calls_per_item_*: "
        f"downstream calls during a {OUTAGE:g} s outage per item offered during it at "
        f"{RATE}/s (lower is better); delivered_*: items delivered of "
        f"{int(RATE * (BEFORE + OUTAGE + AFTER)):,} (higher is better)")
    return out
