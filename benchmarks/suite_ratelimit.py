"""Rate limiting: streamguard next to aiolimiter and the ``limits`` library, in one run.

Every measurement goes through ``_harness.compare``: contenders interleaved, order rotated, one
warm-up, ``ROUNDS`` rounds, medians with min/max; each peer configured as its documentation
recommends for the same semantics, its configuration written beside its figure.

1. Cost per decision when nothing is limited (µs, lower is better): ``async with`` and
   ``await acquire()`` against aiolimiter's; the synchronous ``try_acquire()`` against
   ``limits``' ``hit()``, algorithm for algorithm (moving window = sliding log, fixed window,
   sliding window counter), same limit, same number of hits, one key.
2. Accuracy at 2,000/s with an always-hungry consumer (3 s per round, 11 rounds): the busiest 100 ms
   window and the achieved rate, for the ``rate_limit`` stage and an ``acquire`` loop (token
   bucket, burst 20), and aiolimiter like-for-like ``AsyncLimiter(20, 0.01)`` (burst 20 over
   burst/rate seconds), with its common spelling ``AsyncLimiter(2000, 1)`` reported beside it,
   labelled. The bound is ``rate * 0.1 + burst`` = 220. The same rounds give the busiest 50, 200
   and 500 ms windows of the stage and of aiolimiter (``WIDTHS``), and the CPU seconds each spends
   per round (``time.process_time``) while the limit binds. Then the leaky-bucket shaper through
   the stage on real timers (#9 item 7: lateness is made up).
3. Fairness (#9 item 6): the scenario of ``tests/ratelimit/_fairness.py`` in virtual time —
   global 200/s + 5/s per user, a hot user at 30% and 90% of the traffic (mixed and all its
   items first), the README's recommended configuration; the others' delivered ÷ their
   max-min fair share, and Jain's index. Virtual time is deterministic: one run each.
4. The stage never binding before a sync sink, against the sync sink alone (#11).
5. Redis: decisions per second on one connection (a local ``redis-server``), single and
   three-tier composite, next to plain PINGs on the same client.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _harness import Contender, Spread, compare, ratio, result
from aiolimiter import AsyncLimiter
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage as LimitsMemory
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core import EventBus
from streamguard.ratelimit import (
    CompositeLimiter,
    FixedWindow,
    LeakyBucketShaper,
    RateLimiter,
    SlidingWindowCounter,
    SlidingWindowLog,
    Tier,
    TokenBucket,
    rate_limit,
)
from streamguard.servers import RedisServer
from tests.ratelimit._fairness import run_scenario

HUGE = 1e12  # a limit that is never reached: the not-limited path
RATE, BURST, SECONDS = 2000.0, 20.0, 3.0
ROUNDS = 5
# The busiest 100 ms window is a small integer that loop jitter moves by ±2 (one late wake-up
# puts the window's last grant outside it), for every contender alike: 5 rounds cannot tell
# 217 from 219, so accuracy takes 11 (8 rounds of each gave equal medians, 218.5 and 218.5).
ACCURACY_ROUNDS = 11
# The busiest window's width is arbitrary, and where its end falls among a limiter's wake-ups
# (one every ~1.1 ms here, each letting ~2 grants through) moves the count by a grant: the same
# rounds measured at other widths show whether a difference of one grant keeps its sign.
WIDTHS = (50, 200, 500)
WIDTH_CONTENDERS = ("sg_stage", "aiolimiter_like")
# While the limit binds, the stage's runner wakes about every 1.1 ms and lets ~2 items through:
# its CPU per round (time.process_time, the whole process) against aiolimiter's loop doing the
# same shaping shows what each wake costs beyond the decision itself.
CPU_CONTENDERS = ("sg_stage", "aiolimiter_like")
N = 100_000  # decisions per round for the O(1) paths
N_LOG = 5_000  # hits per round for the window logs (limits' moving window is O(hits) per hit)
WINDOW_LIMIT = 10**9  # per 1 s window: never reached in N hits


# ---------------------------------------------------------------- 1. cost per decision
def _sync_us(fn: Callable[[], object], n: int) -> float:
    began = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - began) / n * 1e6


async def _async_us(fn: Callable[[], Awaitable[object]], n: int) -> float:
    began = time.perf_counter()
    for _ in range(n):
        await fn()
    return (time.perf_counter() - began) / n * 1e6


async def _async_with_us(cm: Any, n: int) -> float:
    began = time.perf_counter()
    for _ in range(n):
        async with cm:
            pass
    return (time.perf_counter() - began) / n * 1e6


def _sg(algorithm: Any) -> RateLimiter:
    return RateLimiter("bench", algorithm, bus=EventBus())


def _costs() -> dict[str, Spread]:
    item = RateLimitItemPerSecond(WINDOW_LIMIT, 1)
    limits_conf = "limits {}(storage.MemoryStorage()).hit(RateLimitItemPerSecond(1e9, 1), 'user-1')"
    sg_conf = "RateLimiter('bench', {}).try_acquire(key='user-1')"

    def fresh_sync(make: Callable[[], Callable[[], object]], n: int) -> Callable[[], float]:
        return lambda: _sync_us(make(), n)  # new state each round: same work every round

    async_with = compare([
        Contender("sg_async_with_us", lambda: _async_with_us(
            _sg(TokenBucket(rate=HUGE, burst=HUGE)), N),
            "async with RateLimiter('bench', TokenBucket(rate=1e12, burst=1e12))"),
        Contender("aiolimiter_async_with_us", lambda: _async_with_us(AsyncLimiter(HUGE, 1), N),
                  "async with AsyncLimiter(1e12, 1)"),
        Contender("sg_acquire_us", lambda: _async_us(
            _sg(TokenBucket(rate=HUGE, burst=HUGE)).acquire, N),
            "await RateLimiter('bench', TokenBucket(rate=1e12, burst=1e12)).acquire()"),
        Contender("aiolimiter_acquire_us", lambda: _async_us(AsyncLimiter(HUGE, 1).acquire, N),
                  "await AsyncLimiter(1e12, 1).acquire()"),
        Contender("sg_token_bucket_try_acquire_us", fresh_sync(
            lambda: (lambda sg: lambda: sg.try_acquire(key="user-1"))(
                _sg(TokenBucket(rate=HUGE, burst=HUGE))), N),
            sg_conf.format("TokenBucket(rate=1e12, burst=1e12)")),
    ], rounds=ROUNDS)
    windows = compare([
        Contender("sg_sliding_log_us", fresh_sync(
            lambda: (lambda sg: lambda: sg.try_acquire(key="user-1"))(
                _sg(SlidingWindowLog(limit=WINDOW_LIMIT, window=1))), N_LOG),
            sg_conf.format("SlidingWindowLog(limit=1e9, window=1)")),
        Contender("limits_moving_window_us", fresh_sync(
            lambda: (lambda lim: lambda: lim.hit(item, "user-1"))(
                MovingWindowRateLimiter(LimitsMemory())), N_LOG),
            limits_conf.format("MovingWindowRateLimiter")),
        Contender("sg_fixed_window_us", fresh_sync(
            lambda: (lambda sg: lambda: sg.try_acquire(key="user-1"))(
                _sg(FixedWindow(limit=WINDOW_LIMIT, window=1))), N // 4),
            sg_conf.format("FixedWindow(limit=1e9, window=1)")),
        Contender("limits_fixed_window_us", fresh_sync(
            lambda: (lambda lim: lambda: lim.hit(item, "user-1"))(
                FixedWindowRateLimiter(LimitsMemory())), N // 4),
            limits_conf.format("FixedWindowRateLimiter")),
        Contender("sg_sliding_counter_us", fresh_sync(
            lambda: (lambda sg: lambda: sg.try_acquire(key="user-1"))(
                _sg(SlidingWindowCounter(limit=WINDOW_LIMIT, window=1))), N // 4),
            sg_conf.format("SlidingWindowCounter(limit=1e9, window=1)")),
        Contender("limits_sliding_window_counter_us", fresh_sync(
            lambda: (lambda lim: lambda: lim.hit(item, "user-1"))(
                SlidingWindowCounterRateLimiter(LimitsMemory())), N // 4),
            limits_conf.format("SlidingWindowCounterRateLimiter")),
    ], rounds=ROUNDS)
    return {**async_with, **windows}


# ---------------------------------------------------------------- 2. accuracy
def _busiest(stamps: list[float], width: float) -> int:
    best = lo = 0
    for hi, end in enumerate(stamps):
        while end - stamps[lo] > width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def _hungry(acquire_once: Callable[[], Awaitable[object]]) -> list[float]:
    loop = asyncio.get_running_loop()
    stamps: list[float] = []
    end = loop.time() + SECONDS
    while loop.time() < end:
        await acquire_once()
        now = loop.time()
        if now < end:
            stamps.append(now)
    return stamps


async def _aiolimiter_once(limiter: AsyncLimiter) -> None:
    async with limiter:
        pass


async def _through_stage(algorithm: Any) -> list[float]:
    loop = asyncio.get_running_loop()
    limiter = RateLimiter("stage", algorithm, bus=EventBus())
    stamps: list[float] = []
    end = loop.time() + SECONDS
    await from_iterable(itertools.count()).pipe(
        rate_limit(limiter),
        op.take_while(lambda _: loop.time() < end),
        op.map(lambda _: stamps.append(loop.time())),
    ).run()
    return stamps


def _accuracies() -> tuple[dict[str, Spread], dict[str, Spread]]:
    """Busiest 100 ms windows (the compared figure) and, from the same rounds, rate errors,
    the busiest windows of the other ``WIDTHS`` and the CPU seconds of ``CPU_CONTENDERS``."""
    errors: dict[str, list[float]] = {}
    widths: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}

    def measured(name: str, run: Callable[[], Awaitable[list[float]]]) -> Callable[[], Any]:
        async def once() -> float:
            began = time.process_time()
            stamps = await run()
            cpu = time.process_time() - began
            errors.setdefault(name, []).append(abs(len(stamps) / SECONDS - RATE) / RATE * 100)
            if name in CPU_CONTENDERS:
                cpus.setdefault(f"{name}_binding_cpu_s", []).append(cpu)
            if name in WIDTH_CONTENDERS:
                for ms in WIDTHS:
                    widths.setdefault(f"{name}_max_{ms}ms_window", []).append(
                        float(_busiest(stamps, ms / 1000)))
            return float(_busiest(stamps, 0.1))
        return once

    def bucket() -> TokenBucket:
        return TokenBucket(rate=RATE, burst=BURST)

    windows = compare([
        Contender("sg_stage", measured("sg_stage", lambda: _through_stage(bucket())),
                  "rate_limit(RateLimiter('stage', TokenBucket(rate=2000, burst=20)))"),
        Contender("sg_acquire", measured("sg_acquire", lambda: _hungry(
            RateLimiter("acquire", bucket(), bus=EventBus()).acquire)),
            "await RateLimiter('acquire', TokenBucket(rate=2000, burst=20)).acquire()"),
        Contender("aiolimiter_like", measured("aiolimiter_like", lambda: (
            lambda aio: _hungry(lambda: _aiolimiter_once(aio)))(AsyncLimiter(BURST, BURST / RATE))),
            "like-for-like: async with AsyncLimiter(20, 0.01)  (burst 20, refill 2000/s)"),
        Contender("aiolimiter_common", measured("aiolimiter_common", lambda: (
            lambda aio: _hungry(lambda: _aiolimiter_once(aio)))(AsyncLimiter(RATE, 1))),
            "common spelling: async with AsyncLimiter(2000, 1)  (burst 2000)"),
        Contender("sg_shaper_stage", measured("sg_shaper_stage", lambda: _through_stage(
            LeakyBucketShaper(rate=RATE, capacity=100))),
            "rate_limit(RateLimiter('stage', LeakyBucketShaper(rate=2000, capacity=100)))"),
    ], rounds=ACCURACY_ROUNDS)
    configs = {name: windows[name].config for name in windows}
    # [1:]: the warm-up round
    others = {f"{name}_rate_error_pct": Spread(f"{name}_rate_error_pct", tuple(values[1:]),
                                               configs[name]) for name, values in errors.items()}
    others.update({key: Spread(key, tuple(values[1:]), configs[_contender(key)])
                   for key, values in (widths | cpus).items()})
    return windows, others


def _contender(figure: str) -> str:
    # "sg_stage_max_50ms_window", "sg_stage_binding_cpu_s" -> "sg_stage"
    return next(name for name in (*WIDTH_CONTENDERS, *CPU_CONTENDERS)
                if figure.startswith(f"{name}_"))


# ---------------------------------------------------------------- 3. fairness
def _fairness() -> dict[str, float]:
    def recommended(refused: list[Any]) -> dict[str, Any]:
        return {"max_pending_per_key": 8,
                "on_reject": lambda order, decision: refused.append(order)}

    out: dict[str, float] = {}
    for hot in (0.3, 0.9):
        label = f"hot{round(hot * 100)}"
        shares, jains = [], []
        for first in (False, True):
            outcome = asyncio.run(run_scenario(hot, hot_first=first, options=recommended))
            tag = f"{label}{'_first' if first else ''}"
            out[f"fairness_others_share_{tag}"] = round(outcome.others_share, 4)
            out[f"fairness_jain_{tag}"] = round(outcome.jain, 4)
            shares.append(outcome.others_share)
            jains.append(outcome.jain)
            default = asyncio.run(run_scenario(hot, hot_first=first))
            out[f"fairness_others_share_{tag}_defaults"] = round(default.others_share, 4)
        out[f"fairness_others_share_{label}"] = round(min(shares), 4)
        out[f"fairness_jain_{label}"] = round(min(jains), 4)
    return out


# ---------------------------------------------------------------- 4. never binding
def _unbound() -> dict[str, Spread]:
    n = 200_000

    async def with_limit() -> float:
        limiter = RateLimiter("open", TokenBucket(rate=HUGE, burst=HUGE), bus=EventBus())
        began = time.perf_counter()
        await from_iterable(range(n)).pipe(rate_limit(limiter), op.sink(lambda _: None)).run()
        return n / (time.perf_counter() - began)

    async def alone() -> float:
        began = time.perf_counter()
        await from_iterable(range(n)).pipe(op.sink(lambda _: None)).run()
        return n / (time.perf_counter() - began)

    return compare([
        Contender("rate_limit_then_sink_items_per_s", with_limit,
                  "from_iterable → rate_limit(TokenBucket(1e12, 1e12)) → sink(sync)"),
        Contender("sink_alone_items_per_s", alone, "from_iterable → sink(sync)"),
    ], rounds=ROUNDS)


# ---------------------------------------------------------------- 5. Redis
def _redis(url: str) -> dict[str, Spread]:
    import redis.asyncio as aioredis

    n = 3000

    async def single() -> float:
        limiter = RateLimiter("bench-redis", TokenBucket(rate=HUGE, burst=HUGE), storage=url,
                              bus=EventBus())
        try:
            await limiter.decide()  # connect and load the script first
            return 1e6 / await _async_us(limiter.decide, n)
        finally:
            await limiter.aclose()

    async def composite() -> float:
        limiter = CompositeLimiter("bench-tiers", [
            Tier(name="global", algorithm=TokenBucket(rate=HUGE, burst=HUGE)),
            Tier(name="user", algorithm=TokenBucket(rate=HUGE, burst=HUGE), key=lambda k: k),
            Tier(name="endpoint", algorithm=TokenBucket(rate=HUGE, burst=HUGE),
                 key=lambda k: k),
        ], storage=url, bus=EventBus())
        try:
            await limiter.decide(key="u")
            return 1e6 / await _async_us(lambda: limiter.decide(key="u"), n)
        finally:
            await limiter.aclose()

    async def ping() -> float:
        client = aioredis.Redis.from_url(url)
        try:
            await client.ping()
            return 1e6 / await _async_us(client.ping, n)
        finally:
            await client.aclose()

    return compare([
        Contender("redis_decisions_per_s", single, "await RateLimiter(..., storage=url).decide()"),
        Contender("redis_composite3_decisions_per_s", composite,
                  "await CompositeLimiter(3 tiers, storage=url).decide(key='u')"),
        Contender("redis_ping_per_s", ping, "await redis.asyncio.Redis.ping()"),
    ], rounds=ROUNDS)


# ---------------------------------------------------------------- the suite
def run() -> dict[str, Any]:
    """Measure everything side by side; return figures, spreads and the ratios goals use."""
    spreads: dict[str, Spread] = {}
    spreads.update(_costs())
    windows, errors = _accuracies()
    spreads.update({f"{k}_max_100ms_window": v for k, v in windows.items()})
    spreads.update(errors)
    spreads.update(_unbound())
    with RedisServer() as server:
        spreads.update(_redis(server.url))
    fairness = _fairness()
    s = spreads
    bound = RATE * 0.1 + BURST
    ratios = {
        "overhead_vs_aiolimiter": ratio(s["sg_async_with_us"], s["aiolimiter_async_with_us"]),
        "acquire_vs_aiolimiter_acquire": ratio(s["sg_acquire_us"], s["aiolimiter_acquire_us"]),
        "sliding_log_vs_limits_moving_window": ratio(s["sg_sliding_log_us"],
                                                     s["limits_moving_window_us"]),
        "fixed_window_vs_limits_fixed_window": ratio(s["sg_fixed_window_us"],
                                                     s["limits_fixed_window_us"]),
        "sliding_counter_vs_limits_sliding_window_counter": ratio(
            s["sg_sliding_counter_us"], s["limits_sliding_window_counter_us"]),
        "rate_error_pct": round(s["sg_stage_rate_error_pct"].median, 3),
        "acquire_rate_error_pct": round(s["sg_acquire_rate_error_pct"].median, 3),
        "aiolimiter_like_rate_error_pct": round(s["aiolimiter_like_rate_error_pct"].median, 3),
        "shaper_rate_error_pct": round(s["sg_shaper_stage_rate_error_pct"].median, 3),
        "max_100ms_window_vs_bound": round(s["sg_stage_max_100ms_window"].median / bound, 3),
        "acquire_max_100ms_window_vs_bound": round(
            s["sg_acquire_max_100ms_window"].median / bound, 3),
        "max_100ms_window_vs_aiolimiter_like": ratio(s["sg_stage_max_100ms_window"],
                                                     s["aiolimiter_like_max_100ms_window"]),
        **{f"max_{ms}ms_window_vs_aiolimiter_like": ratio(
            s[f"sg_stage_max_{ms}ms_window"], s[f"aiolimiter_like_max_{ms}ms_window"])
           for ms in WIDTHS},
        "binding_cpu_vs_aiolimiter_like": ratio(s["sg_stage_binding_cpu_s"],
                                                s["aiolimiter_like_binding_cpu_s"]),
        "max_100ms_window_vs_aiolimiter_common": ratio(s["sg_stage_max_100ms_window"],
                                                       s["aiolimiter_common_max_100ms_window"]),
        "fairness_others_share_hot30": fairness["fairness_others_share_hot30"],
        "fairness_others_share_hot90": fairness["fairness_others_share_hot90"],
        "fairness_jain_hot30": fairness["fairness_jain_hot30"],
        "fairness_jain_hot90": fairness["fairness_jain_hot90"],
        "rate_limit_unbound_vs_sink": ratio(s["rate_limit_then_sink_items_per_s"],
                                            s["sink_alone_items_per_s"]),
        "redis_decisions_vs_ping": ratio(s["redis_decisions_per_s"], s["redis_ping_per_s"]),
    }
    extra: dict[str, float] = {"bound_100ms": bound, **fairness}
    return result(spreads, ratios, extra)
