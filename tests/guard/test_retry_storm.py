"""The retry storm, against a real HTTP server that fails everything for 20 s, then recovers.

Two clients feed the same server at 500 items/s, in the same run, told apart by a header:

* ``naive`` — each item is posted, and retried at once up to 3 times on failure;
* ``guarded`` — a guarded sink: circuit breaker, budgeted retries with jitter, backpressure.

During the outage the server must receive at most 1 % as many requests from the guarded
pipeline as from the naive loop; after it, every guarded item must have been accepted.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from streamguard import Emitter
from streamguard.breaker import BreakerConfig, CircuitBreaker
from streamguard.core import EventBus
from streamguard.guard import guarded_sink
from streamguard.retry import RetryConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVER = pathlib.Path(__file__).with_name("_storm_server.py")
OUTAGE = 20.0
RATE = 500  # items per second, for each client
FEED_SECONDS = 22
ITEMS = RATE * FEED_SECONDS


class Unavailable(ConnectionError):
    """The server answered with an error status."""


@pytest.fixture
async def storm_server() -> AsyncIterator[str]:
    # The suite turns asyncio debug mode on for tests; the server should run at full speed.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONASYNCIODEBUG"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SERVER), str(OUTAGE), stdout=asyncio.subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.startswith(b"PORT "), f"storm server did not start: {line!r}"
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()


async def paced(n: int, rate: int) -> AsyncIterator[int]:
    """Yield 0..n-1 at *rate* per second, catching up at once if the consumer fell behind."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(n):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield i


async def naive_client(session: aiohttp.ClientSession, url: str) -> None:
    async def send(item: int) -> None:
        for _ in range(4):  # one try and 3 immediate retries
            try:
                async with session.post(url, params={"id": str(item)}) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass

    tasks = set()
    async for item in paced(ITEMS, RATE):
        task = asyncio.create_task(send(item))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)


async def guarded_client(session: aiohttp.ClientSession, url: str, bus: EventBus) -> None:
    async def deliver(item: int) -> None:
        async with session.post(url, params={"id": str(item)}) as response:
            if response.status != 200:
                raise Unavailable(f"HTTP {response.status} for item {item}")

    breaker = CircuitBreaker("storm-server", BreakerConfig(
        open_duration=0.5, open_duration_multiplier=2, max_open_duration=2.0,
        open_duration_jitter=0.1, probe_timeout=5.0), bus=bus)
    emitter = Emitter[int]()
    pipeline = asyncio.create_task(emitter.stream().pipe(guarded_sink(
        deliver, breaker=breaker, retry=RetryConfig(attempts=3, base_delay=0.05, max_delay=1),
        timeout=2.0, concurrency=16, name="storm")).run(bus=bus))

    async def feed() -> None:
        async for item in paced(ITEMS, RATE):
            await emitter.emit(item)  # waits while the pipeline asks for nothing
        emitter.complete()

    await asyncio.gather(feed(), pipeline)


async def test_guarded_pipeline_does_not_storm_and_loses_nothing(storm_server: str) -> None:
    url = f"{storm_server}/deliver"
    bus = EventBus()
    naive_headers, guarded_headers = {"X-Client": "naive"}, {"X-Client": "guarded"}
    async with aiohttp.ClientSession(headers=naive_headers) as naive, \
            aiohttp.ClientSession(headers=guarded_headers) as guarded:
        async with naive.post(f"{storm_server}/start") as response:
            assert response.status == 200
        await asyncio.wait_for(asyncio.gather(
            naive_client(naive, url), guarded_client(guarded, url, bus)), timeout=90)
        async with naive.get(f"{storm_server}/stats") as response:
            stats: dict[str, Any] = await response.json()

    storm, calm = stats["naive"]["during"], stats["guarded"]["during"]
    print(f"\nduring the {OUTAGE:g} s outage: naive sent {storm} requests, guarded sent {calm} "
          f"({calm / storm:.3%}); guarded accepted {len(stats['guarded']['accepted'])} "
          f"of {ITEMS} items")
    assert storm >= RATE * OUTAGE  # the naive loop really did hammer the server
    assert calm <= 0.01 * storm
    accepted = stats["guarded"]["accepted"]
    assert sorted(set(accepted)) == list(range(ITEMS))  # every item, none lost
