"""One limit shared by several workers through Redis, and what happens when Redis dies.

Three workers (each with its own Redis connection, as separate processes or machines
would have) drain a backlog through one shared limit of 50 items/s. Together they get 50/s,
not 150/s: every decision is one Lua script on the Redis server's clock. Halfway through,
Redis is killed: the limiter fails closed (``failure_mode="closed"``), so the workers wait
instead of overrunning the downstream, each logs the outage once, and when Redis is back
they carry on. Nothing crashes, nothing is lost.

Run: ``python examples/redis_shared_limit.py`` (starts its own ``redis-server`` on a free
port; about 6 seconds), or ``python examples/redis_shared_limit.py redis://HOST:6379/0``
to share a limit through your Redis (no outage then).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.ratelimit import RateLimiter, TokenBucket, rate_limit
from streamguard.servers import RedisServer

RATE = 50.0


async def worker(name: str, url: str, items: range, seconds: float) -> dict[str, Any]:
    """Process *items* at the shared rate until *seconds* have passed."""
    limiter = RateLimiter("shared-export", TokenBucket(rate=RATE, burst=5), storage=url,
                          failure_mode="closed", outage_probe=0.1)
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    done: list[int] = []
    try:
        await from_iterable(items).pipe(
            rate_limit(limiter, name=f"limit-{name}"),
            op.take_while(lambda _: loop.time() < end),
            op.sink(done.append, name=f"export-{name}"),
        ).run(name=name)
        stats = limiter.statistics()
    finally:
        await limiter.aclose()
    return {"worker": name, "processed": len(done), "outages": stats.outages,
            "decisions_while_down": stats.outage_decisions}


async def outage(server: RedisServer, after: float, length: float) -> None:
    """Kill Redis *after* seconds, bring a fresh one back *length* seconds later."""
    await asyncio.sleep(after)
    server.kill()
    await asyncio.sleep(length)
    server.start()


async def main(*, url: str | None = None, seconds: float = 6.0) -> dict[str, Any]:
    """Run three workers for *seconds*; return each one's share and the total rate."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    server = None if url is not None else RedisServer()
    if server is not None:
        server.start()
    try:
        shared_url = url or f"{server.url}?prefix=example{time.time():.0f}:"  # type: ignore[union-attr]
        backlog = [range(i * 10_000, (i + 1) * 10_000) for i in range(3)]
        jobs = [worker(f"worker-{i}", shared_url, backlog[i], seconds) for i in range(3)]
        tasks: list[Any] = list(jobs)
        if server is not None:
            tasks.append(outage(server, after=seconds / 3, length=seconds / 3))
        results = await asyncio.gather(*tasks)
    finally:
        if server is not None:
            server.stop()
    reports = [r for r in results if r is not None]
    total = sum(r["processed"] for r in reports)
    up_seconds = seconds * (2 / 3 if server is not None else 1)
    summary = {"workers": reports, "total": total, "limit_per_s": RATE,
               "achieved_per_s_while_up": total / up_seconds}
    for r in reports:
        print(f"{r['worker']}: {r['processed']} items, {r['decisions_while_down']} decisions "
              f"while Redis was down")
    print(f"together: {total} items, {summary['achieved_per_s_while_up']:.1f}/s while Redis "
          f"was up (limit {RATE:.0f}/s)")
    return summary


if __name__ == "__main__":
    asyncio.run(main(url=sys.argv[1] if len(sys.argv) > 1 else None))
