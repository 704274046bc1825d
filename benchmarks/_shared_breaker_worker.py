"""One worker process of ``suite_shared_breaker``: ``python benchmarks/_shared_breaker_worker.py
ARGS_JSON``.

Builds its breaker (shared through Redis when ``url`` is given, else this process's own),
waits for the common start time, then runs ``concurrency`` tasks that POST to the downstream
through ``@breaker`` until the breaker refuses them; a 5xx answer is a failed call. Prints one
JSON line: the failed calls it made and when it stopped calling.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any


async def work(args: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    from streamguard.breaker import BreakerConfig, CircuitBreaker, CircuitOpenError
    from streamguard.core import EventBus

    config = BreakerConfig(window_size=args["window"], minimum_calls=args["window"],
                           open_duration=60)
    breaker = CircuitBreaker(args["name"], config, storage=args["redis"], bus=EventBus())
    await breaker.sync()  # join the group's state before the start (a no-op alone)
    failed = 0
    async with aiohttp.ClientSession() as session:
        @breaker
        async def post() -> None:
            async with session.post(args["downstream"] + "/work") as answer:
                await answer.read()
                if answer.status >= 500:
                    raise ConnectionError(f"{answer.status} from the downstream")

        async def caller() -> None:
            nonlocal failed
            while True:
                try:
                    await post()
                except CircuitOpenError:
                    return
                except ConnectionError:
                    failed += 1

        await asyncio.sleep(max(0.0, args["start"] - time.time()))
        await asyncio.gather(*(caller() for _ in range(args["concurrency"])))
    stopped = time.time()
    await breaker.aclose()
    return {"failed": failed, "stopped": stopped}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(work(json.loads(sys.argv[1])))))
