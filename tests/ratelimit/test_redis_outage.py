"""Redis goes away (SIGKILL) and comes back: the configured failure mode, counted, logged once,
published as events, and nothing raises."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from streamguard import from_async_iterable
from streamguard.core import EventBus
from streamguard.ratelimit import (
    RateLimiter,
    RateLimitExceeded,
    StorageOutageBegan,
    StorageOutageEnded,
    TokenBucket,
    rate_limit,
)
from streamguard.servers import RedisServer

pytestmark = pytest.mark.integration

SLOW = 1 / 3600


@pytest.mark.parametrize("mode", ["open", "closed"])
async def test_an_outage_follows_the_failure_mode_and_ends(
        own_redis: RedisServer, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    events: list[object] = []
    bus.subscribe(events.append)
    limiter = RateLimiter("api", TokenBucket(rate=SLOW, burst=2), bus=bus,
                          storage=f"{own_redis.url}?timeout=0.2", failure_mode=mode,  # type: ignore[arg-type]
                          outage_probe=0.05)
    try:
        assert [(await limiter.decide()).allowed for _ in range(3)] == [True, True, False]

        own_redis.kill()
        with caplog.at_level(logging.WARNING, logger="streamguard.ratelimit"):
            during = [await limiter.decide() for _ in range(20)]
            await asyncio.sleep(0.06)  # a probe falls due and fails again: still one outage
            during.append(await limiter.decide())
        assert all(d.allowed == (mode == "open") for d in during)
        down = [r for r in caplog.records if "is down" in r.getMessage()]
        assert len(down) == 1
        assert f"failing {mode}" in down[0].getMessage()
        stats = limiter.statistics()
        assert stats.storage_down
        assert (stats.outages, stats.outage_decisions) == (1, 21)
        if mode == "open":
            assert await limiter.acquire() == 0.0
        else:
            assert during[0].retry_after > 0
            with pytest.raises(RateLimitExceeded):
                await limiter.acquire(timeout=0.01)

        own_redis.start()  # a fresh, empty server on the same port
        await asyncio.sleep(0.06)
        assert (await limiter.decide()).allowed
        assert not limiter.statistics().storage_down
    finally:
        await limiter.aclose()
    began = [e for e in events if isinstance(e, StorageOutageBegan)]
    ended = [e for e in events if isinstance(e, StorageOutageEnded)]
    assert len(began) == 1
    assert began[0].failure_mode == mode
    assert began[0].storage == own_redis.url
    assert len(ended) == 1
    assert ended[0].decisions >= 21
    assert ended[0].duration > 0


async def test_redis_that_never_answers_costs_no_timeout_per_decision(
        own_redis: RedisServer) -> None:
    own_redis.kill()
    limiter = RateLimiter("api", TokenBucket(rate=10), failure_mode="open",
                          storage=f"{own_redis.url}?timeout=0.2", bus=EventBus(),
                          outage_probe=60)
    try:
        for _ in range(1000):  # one failed connect, then the probe interval answers at once
            assert (await limiter.decide()).allowed
        assert limiter.statistics().outage_decisions == 1000
    finally:
        await limiter.aclose()


@pytest.mark.parametrize("mode", ["open", "closed"])
async def test_a_policing_pipeline_keeps_running_through_an_outage(own_redis: RedisServer,
                                                                   mode: str) -> None:
    limiter = RateLimiter("edge", TokenBucket(rate=5000, burst=100), bus=EventBus(),
                          storage=f"{own_redis.url}?timeout=0.2", failure_mode=mode,  # type: ignore[arg-type]
                          outage_probe=0.02)
    rejected: list[int] = []

    async def source() -> AsyncIterator[int]:
        for i in range(300):
            if i == 100:
                own_redis.kill()
            if i == 200:
                own_redis.start()
                await asyncio.sleep(0.05)  # past the next probe
            await asyncio.sleep(0.001)
            yield i

    try:
        out = await from_async_iterable(source()).pipe(
            rate_limit(limiter, mode="police", on_reject=lambda i, d: rejected.append(i)),
        ).to_list()
    finally:
        await limiter.aclose()
    assert sorted(out + rejected) == list(range(300))
    assert set(range(90)) <= set(out)  # before the outage: the limit is far away
    if mode == "open":
        assert rejected == []
    else:  # refused while Redis was down, admitted again once it was back
        assert len(rejected) >= 50
        assert all(90 <= i < 250 for i in rejected)
        assert set(range(250, 300)) <= set(out)
    assert limiter.statistics().outages == 1


async def test_a_shaping_pipeline_waits_out_a_fail_closed_outage(own_redis: RedisServer) -> None:
    limiter = RateLimiter("shape", TokenBucket(rate=5000, burst=100), bus=EventBus(),
                          storage=f"{own_redis.url}?timeout=0.2", failure_mode="closed",
                          outage_probe=0.02)

    async def revive() -> None:
        await asyncio.sleep(0.3)
        own_redis.start()

    async def source() -> AsyncIterator[int]:
        for i in range(200):
            if i == 50:
                own_redis.kill()
                reviver = asyncio.create_task(revive())
            await asyncio.sleep(0.001)
            yield i
        await reviver

    try:
        out = await from_async_iterable(source()).pipe(rate_limit(limiter)).to_list()
    finally:
        await limiter.aclose()
    assert out == list(range(200))  # nothing lost, nothing reordered: items waited
    stats = limiter.statistics()
    assert stats.outages == 1
    assert stats.delayed > 0
