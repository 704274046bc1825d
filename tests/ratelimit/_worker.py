"""One process of the distributed tests: ``python -m tests.ratelimit._worker ARGS_JSON``.

Waits for the shared start time, then acquires from the shared Redis limit until the end
time, and prints one JSON line: admissions (wall-clock times), refusals, outage decisions.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from streamguard.core import EventBus
from streamguard.ratelimit import RateLimiter, RateLimitExceeded, TokenBucket, storage_from_uri


async def work(args: dict[str, Any]) -> dict[str, Any]:
    storage = storage_from_uri(args["url"])
    limiter = RateLimiter(args["name"], TokenBucket(rate=args["rate"], burst=args["burst"]),
                          storage=storage, bus=EventBus(), failure_mode=args["mode"],
                          outage_probe=0.05)
    # Connect and load the script before the start, on a limit of its own.
    warmup = RateLimiter(f"warmup-{os.getpid()}", TokenBucket(rate=1), storage=storage,
                         bus=EventBus())
    await warmup.decide()
    admitted: list[float] = []
    refused = 0
    await asyncio.sleep(max(0.0, args["start"] - time.time()))
    try:
        while (left := args["end"] - time.time()) > 0:
            try:
                await limiter.acquire(timeout=left)
            except RateLimitExceeded:
                refused += 1
                await asyncio.sleep(args["pause"] or 0.001)
                continue
            now = time.time()
            if now < args["end"]:
                admitted.append(now)
            if args["pause"]:
                await asyncio.sleep(args["pause"])
        stats = limiter.statistics()
    finally:
        await storage.aclose()
    return {"admitted": admitted, "refused": refused,
            "outage_decisions": stats.outage_decisions, "outages": stats.outages}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(work(json.loads(sys.argv[1])))))
