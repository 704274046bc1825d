"""Per-consumer limits at an API edge: a global limit, one per consumer and one per endpoint,
all of which must pass; refused requests get an HTTP 429 with the rate-limit headers.

Two well-behaved consumers (20 requests/s each) share the edge with one that floods it
(500 requests/s). Each consumer may make 25 requests/s (bursts of 10), the whole edge 200/s.
The flood is refused at its own tier and its refusals consume nothing from the global tier,
so the well-behaved consumers never see a 429. Run: ``python examples/per_consumer_limits.py``
(about 3 seconds).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from streamguard import from_async_iterable
from streamguard import operators as op
from streamguard.ratelimit import (
    CompositeLimiter,
    Decision,
    SlidingWindowLog,
    Tier,
    TokenBucket,
    rate_limit,
)


@dataclass(frozen=True, slots=True)
class Request:
    """One API call."""

    consumer: str
    endpoint: str
    number: int


async def traffic(seconds: float, rates: dict[str, float]) -> AsyncIterator[Request]:
    """Requests of every consumer at its own rate, interleaved in time order."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    # Request k of a consumer is due at k / rate: computed, not summed, so rounding cannot
    # add a request at the very end (40 additions of 0.05 fall just short of 2.0).
    sent = dict.fromkeys(rates, 0)
    numbers = itertools.count()
    while True:
        consumer = min(sent, key=lambda c: sent[c] / rates[c])
        offset = sent[consumer] / rates[consumer]
        if offset >= seconds:
            return
        await asyncio.sleep(max(0.0, start + offset - loop.time()))
        number = next(numbers)
        yield Request(consumer, "/search" if number % 3 else "/orders", number)
        sent[consumer] += 1


def edge_limiter() -> CompositeLimiter:
    """Global 200/s, 25/s per consumer, and at most 150 per second per endpoint."""
    return CompositeLimiter("edge", tiers=[
        Tier(name="global", algorithm=TokenBucket(rate=200, burst=50)),
        Tier(name="consumer", algorithm=TokenBucket(rate=25, burst=10),
             key=lambda r: r.consumer),
        Tier(name="endpoint", algorithm=SlidingWindowLog(limit=150, window=1.0),
             key=lambda r: r.endpoint),
    ])


async def main(*, seconds: float = 3.0) -> dict[str, Any]:
    """Run the edge for *seconds*; return what each consumer got."""
    ok: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    first_429: dict[str, str] = {}

    def serve(request: Request) -> None:
        ok[request.consumer] += 1

    def respond_429(request: Request, decision: Decision) -> None:
        refused[request.consumer] += 1
        if not first_429:
            first_429.update(decision.headers())

    limiter = edge_limiter()
    rates = {"alice": 20.0, "bob": 20.0, "mallory": 500.0}
    await from_async_iterable(traffic(seconds, rates)).pipe(
        rate_limit(limiter, mode="police", on_reject=respond_429, name="edge"),
        op.sink(serve, name="backend"),
    ).run(name="per-consumer-limits")
    summary = {
        "seconds": seconds,
        "ok": dict(ok),
        "429": dict(refused),
        "first_429_headers": first_429,
        "limiter": limiter.statistics(),
    }
    print(f"{'consumer':<10}{'ok':>6}{'429':>7}")
    for consumer in rates:
        print(f"{consumer:<10}{ok[consumer]:>6}{refused[consumer]:>7}")
    print("first 429:", first_429)
    return summary


if __name__ == "__main__":
    asyncio.run(main())
