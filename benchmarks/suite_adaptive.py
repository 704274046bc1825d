"""Adaptive concurrency against a downstream of known capacity.

The downstream (``streamguard.servers.DownstreamServer``, its own process) serves C = 32
requests at once, 50 ms each (capacity 640 requests/s); above C requests queue, and past a
0.5 s deadline they are answered 503. Each round runs a pipeline for 10 s: an endless source →
``map_async(call, concurrency=…, ordered=False)`` → sink, C = 32 for the first 5 s, then
C = 8 (capacity 160/s). Contenders, interleaved round by round:

* ``adaptive`` — ``concurrency=AdaptiveLimit("downstream", Vegas(initial=8))``;
* ``fixed256`` — ``concurrency=256``, what a user picks to "go fast".

Figures (medians over rounds): goodput (200s per second) and p99 latency from 2 s to 5 s;
seconds until the adaptive limit stays within ±25 % of C (from the start, and from the drop
to C = 8). The plot (``docs/adaptive.png``) shows one round's limit and latency over time.
"""

from __future__ import annotations

import asyncio
import itertools
import pathlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from _harness import Contender, compare, ratio, result

CAPACITY = 32
LOW_CAPACITY = 8
SERVICE = 0.05
DEADLINE = 0.5
PHASE = 5.0
WINDOW = (2.0, 5.0)
ROOT = pathlib.Path(__file__).resolve().parent.parent


@dataclass
class _Round:
    latencies: list[tuple[float, float, int]] = field(default_factory=list)  # (t, s, status)
    limits: list[tuple[float, int]] = field(default_factory=list)

    def goodput(self) -> float:
        lo, hi = WINDOW
        ok = sum(1 for t, _, status in self.latencies if lo <= t < hi and status == 200)
        return ok / (hi - lo)

    def p99(self) -> float:
        lo, hi = WINDOW
        xs = sorted(s for t, s, _ in self.latencies if lo <= t < hi)
        return xs[int(0.99 * (len(xs) - 1))] if xs else float("nan")

    def settle(self, start: float, end: float, capacity: int) -> float:
        """Seconds from *start* until the limit stays within ±25 % of *capacity* up to *end*."""
        points = [(t, n) for t, n in self.limits if t < end]
        current = next((n for t, n in reversed(points) if t <= start), points[0][1])
        settled_at = start if 0.75 * capacity <= current <= 1.25 * capacity else None
        for t, n in points:
            if t <= start:
                continue
            inside = 0.75 * capacity <= n <= 1.25 * capacity
            if inside and settled_at is None:
                settled_at = t
            elif not inside:
                settled_at = None
        return (settled_at - start) if settled_at is not None else end - start


async def _run(url: str, set_capacity: Callable[[int], None],
               concurrency: Callable[[], Any]) -> _Round:
    import aiohttp

    from streamguard import from_iterable
    from streamguard import operators as op
    from streamguard.adaptive import AdaptiveLimit

    record = _Round()
    limit = concurrency()
    began = time.monotonic()
    if isinstance(limit, AdaptiveLimit):
        record.limits.append((0.0, limit.limit))
        limit.on_event(lambda e: record.limits.append((time.monotonic() - began, e.limit)))
    end = began + 2 * PHASE
    loop = asyncio.get_running_loop()
    dropped = loop.call_later(PHASE, lambda: loop.run_in_executor(None, set_capacity,
                                                                  LOW_CAPACITY))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def call(_i: int) -> None:
            t0 = time.monotonic()
            async with session.get(f"{url}/work") as answer:
                await answer.read()
                status = answer.status
            t1 = time.monotonic()
            record.latencies.append((t1 - began, t1 - t0, status))
            if status != 200:
                raise ConnectionError(f"{status} from the downstream")

        await from_iterable(itertools.count()).pipe(
            op.take_while(lambda _i: time.monotonic() < end),
            op.map_async(call, concurrency=limit, ordered=False, on_error="skip"),
            op.sink(lambda _x: None),
        ).run()
    dropped.cancel()
    return record


def run() -> dict[str, Any]:
    """Run the suite (about two and a half minutes)."""
    from streamguard.adaptive import AdaptiveLimit, Vegas
    from streamguard.servers import DownstreamConfig, DownstreamServer

    rounds: dict[str, list[_Round]] = {"adaptive": [], "fixed256": []}
    config = DownstreamConfig(capacity=CAPACITY, service_time=SERVICE, deadline=DEADLINE)
    with DownstreamServer(config) as down:
        def measure(name: str, concurrency: Callable[[], Any]) -> Callable[[], float]:
            def one() -> float:
                down.set_capacity(CAPACITY)
                time.sleep(0.5)  # the queue of the previous round drains
                r = asyncio.run(_run(down.url, down.set_capacity, concurrency))
                rounds[name].append(r)
                return r.goodput()
            return one

        adaptive_cfg = 'AdaptiveLimit("downstream", Vegas(initial=8))'
        spreads = compare([
            Contender("adaptive_goodput_per_s",
                      measure("adaptive", lambda: AdaptiveLimit("downstream", Vegas(initial=8))),
                      config=f"map_async(call, concurrency={adaptive_cfg}, ordered=False)"),
            Contender("fixed256_goodput_per_s", measure("fixed256", lambda: 256),
                      config="map_async(call, concurrency=256, ordered=False)"),
        ], rounds=5, warmup=1)
    for name in rounds:
        del rounds[name][0]  # the warm-up round
    import statistics

    def med(xs: list[float]) -> float:
        return round(statistics.median(xs), 4)

    p99_adaptive = med([r.p99() for r in rounds["adaptive"]])
    p99_fixed = med([r.p99() for r in rounds["fixed256"]])
    converge = med([r.settle(0.0, PHASE, CAPACITY) for r in rounds["adaptive"]])
    reconverge = med([r.settle(PHASE, 2 * PHASE, LOW_CAPACITY) for r in rounds["adaptive"]])
    capacity_per_s = CAPACITY / SERVICE
    _plot(rounds["adaptive"][len(rounds["adaptive"]) // 2],
          rounds["fixed256"][len(rounds["fixed256"]) // 2])
    out = result(spreads, {
        "adaptive_goodput_vs_capacity": round(spreads["adaptive_goodput_per_s"].median
                                              / capacity_per_s, 3),
        "adaptive_p99_vs_fixed256": round(p99_adaptive / p99_fixed, 3),
        "adaptive_converge_s": converge,
        "adaptive_reconverge_s": reconverge,
        "fixed256_goodput_vs_capacity": round(spreads["fixed256_goodput_per_s"].median
                                              / capacity_per_s, 3),
        "adaptive_goodput_vs_fixed256": ratio(spreads["adaptive_goodput_per_s"],
                                              spreads["fixed256_goodput_per_s"]),
    }, extra={"p99_adaptive_s": p99_adaptive, "p99_fixed256_s": p99_fixed,
              "capacity_per_s": capacity_per_s})
    out["description"] = (f"a downstream of C = {CAPACITY} × {int(SERVICE * 1000)} ms "
                          f"({int(capacity_per_s)}/s), C = {LOW_CAPACITY} after {PHASE:.0f} s")
    return out


def _plot(adaptive: _Round, fixed: _Round) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    ts = [t for t, _ in adaptive.limits] + [2 * PHASE]
    ns = [n for _, n in adaptive.limits] + [adaptive.limits[-1][1]]
    top.step(ts, ns, where="post", label="adaptive limit (Vegas)")
    top.axhline(256, color="#c44e52", linestyle="--", label="fixed concurrency 256")
    top.step([0, PHASE, 2 * PHASE], [CAPACITY, LOW_CAPACITY, LOW_CAPACITY], where="post",
             color="#555", linestyle=":", label="downstream capacity C")
    top.set_yscale("log")
    top.set_ylabel("concurrency")
    top.legend(fontsize=8, loc="upper right")
    for r, label, color in ((fixed, "fixed 256", "#c44e52"), (adaptive, "adaptive", "#4c72b0")):
        bottom.scatter([t for t, _, _ in r.latencies], [s for _, s, _ in r.latencies], s=1,
                       color=color, label=label, alpha=0.4)
    bottom.set_ylabel("latency (s)")
    bottom.set_xlabel("seconds (C drops from 32 to 8 at 5 s)")
    bottom.legend(fontsize=8, loc="upper left", markerscale=8)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "adaptive.png", dpi=90)
    plt.close(fig)
