"""Shared circuit-breaker state across worker processes, against one real downstream that is
down.

Four worker processes (``benchmarks/_shared_breaker_worker.py``) call one HTTP downstream
(``streamguard.servers.DownstreamServer``, its own process, capacity set to 0: every request
waits 20 ms and is answered 503) through ``@breaker``, each until its breaker refuses. The
figure is the number of failed calls the downstream answered before every worker stopped
calling (its own ``rejected`` counter, which the workers' counts must match). Contenders,
interleaved round by round, same breaker rule (``BreakerConfig(window_size=20,
minimum_calls=20, open_duration=60)``):

* ``local`` — one breaker per process (``storage=None``), the only choice without shared
  state: each process needs a window of its own;
* ``shared`` — ``storage="redis://…"``, one key for the four (a fresh key per round).

Both run with one caller per worker (the issue's "4 × 20") and with 8 callers per worker.
The per-call cost is measured in one process: 20,000 calls through ``@breaker`` around an
``async def`` that yields once, local against shared (outcomes batched to Redis in the
background).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import pathlib
import subprocess
import sys
import time
import uuid
from typing import Any

from _harness import Contender, compare, ratio, result

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKERS = 4
WINDOW = 20
CALLS = 20_000


def _round(downstream: Any, redis_url: str | None, concurrency: int) -> float:
    """One round: the failed calls the downstream answered until all four stopped."""
    before = downstream.stats()["rejected"]
    args = {"downstream": downstream.url, "redis": redis_url, "window": WINDOW,
            "concurrency": concurrency, "name": f"orders-{uuid.uuid4().hex[:8]}",
            "start": time.time() + 2.5}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [subprocess.Popen([sys.executable, str(ROOT / "benchmarks" /
                                                      "_shared_breaker_worker.py"),
                                 json.dumps(args)], cwd=ROOT, env=env, stdout=subprocess.PIPE)
               for _ in range(WORKERS)]
    reports = []
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        if worker.returncode != 0:
            raise RuntimeError(f"worker exited with {worker.returncode}")
        reports.append(json.loads(out))
    failed = downstream.stats()["rejected"] - before
    counted = sum(r["failed"] for r in reports)
    if failed != counted:
        raise RuntimeError(f"the downstream answered {failed} failures, the workers counted "
                           f"{counted}")
    return float(failed)


async def _per_call(redis_url: str | None) -> float:
    """Microseconds per healthy call through ``@breaker`` (the call yields once)."""
    from streamguard.breaker import CircuitBreaker
    from streamguard.core import EventBus

    breaker = CircuitBreaker(f"cost-{uuid.uuid4().hex[:8]}", storage=redis_url, bus=EventBus())
    await breaker.sync()

    @breaker
    async def call() -> None:
        await asyncio.sleep(0)

    start = time.perf_counter()
    for _ in range(CALLS):
        await call()
    await breaker.sync()  # the last outcomes reached Redis too
    elapsed = time.perf_counter() - start
    await breaker.aclose()
    return elapsed / CALLS * 1e6


def run() -> dict[str, Any]:
    """Run the suite: returns figures, spreads and ratios."""
    from streamguard.servers import DownstreamConfig, DownstreamServer, RedisServer

    config = DownstreamConfig(capacity=1, service_time=0.02, deadline=0.02)
    with DownstreamServer(config) as downstream, RedisServer() as redis:
        downstream.set_capacity(0)  # down: every call waits 20 ms, then 503
        rule = f"BreakerConfig(window_size={WINDOW}, minimum_calls={WINDOW}, open_duration=60)"
        figures: dict[str, Any] = {}
        for c in (1, 8):
            tag = "" if c == 1 else f"_c{c}"
            spreads = compare([
                Contender(f"local{tag}", functools.partial(_round, downstream, None, c),
                          config=f"{WORKERS} processes x {c} caller(s), @breaker, {rule}, "
                                 "one breaker per process"),
                Contender(f"shared{tag}", functools.partial(_round, downstream, redis.url, c),
                          config=f"{WORKERS} processes x {c} caller(s), @breaker, {rule}, "
                                 "storage='redis://…' (one key)"),
            ], rounds=5)
            figures.update(spreads)
        cost = compare([
            Contender("per_call_us_local", lambda: _per_call(None),
                      config=f"{CALLS:,} healthy calls, @breaker, one process"),
            Contender("per_call_us_shared", lambda: _per_call(redis.url),
                      config=f"{CALLS:,} healthy calls, @breaker, storage='redis://…' "
                             "(local redis-server)"),
        ], rounds=5)
        figures.update(cost)
    ratios = {
        "shared_breaker_failed_calls_vs_local": ratio(figures["shared"], figures["local"]),
        "shared_breaker_failed_calls_vs_local_c8": ratio(figures["shared_c8"],
                                                          figures["local_c8"]),
        "shared_breaker_call_cost_vs_local": ratio(figures["per_call_us_shared"],
                                                   figures["per_call_us_local"]),
    }
    out = result(figures, ratios)
    out["description"] = ("failed calls until 4 worker processes all stop calling a downstream "
                          "that is down (503 after 20 ms), shared breaker state vs one breaker "
                          "per process; µs per healthy call")
    return out
