"""Redis goes away (SIGKILL) and comes back: the configured failure mode, counted, logged once,
published as events, and nothing raises."""

from __future__ import annotations

import asyncio
import logging

import pytest

from streamguard.core import EventBus
from streamguard.ratelimit import (
    RateLimiter,
    RateLimitExceeded,
    StorageOutageBegan,
    StorageOutageEnded,
    TokenBucket,
)
from streamguard.testing.servers._redis import RedisServer

pytestmark = pytest.mark.integration

SLOW = 1 / 3600


@pytest.mark.parametrize("mode", ["open", "closed"])
async def test_an_outage_follows_the_failure_mode_and_ends(
        own_redis: RedisServer, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    events: list[object] = []
    bus.subscribe(events.append)
    limiter = RateLimiter(TokenBucket(rate=SLOW, burst=2), name="api", bus=bus,
                          storage=f"{own_redis.url}?timeout=0.2", failure_mode=mode,  # type: ignore[arg-type]
                          outage_probe=0.05)
    try:
        assert [(await limiter.try_acquire()).allowed for _ in range(3)] == [True, True, False]

        own_redis.kill()
        with caplog.at_level(logging.WARNING, logger="streamguard.ratelimit"):
            during = [await limiter.try_acquire() for _ in range(20)]
            await asyncio.sleep(0.06)  # a probe falls due and fails again: still one outage
            during.append(await limiter.try_acquire())
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
                await limiter.acquire(max_wait=0.01)

        own_redis.start()  # a fresh, empty server on the same port
        await asyncio.sleep(0.06)
        assert (await limiter.try_acquire()).allowed
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
    limiter = RateLimiter(TokenBucket(rate=10), name="api", failure_mode="open",
                          storage=f"{own_redis.url}?timeout=0.2", bus=EventBus(),
                          outage_probe=60)
    try:
        for _ in range(1000):  # one failed connect, then the probe interval answers at once
            assert (await limiter.try_acquire()).allowed
        assert limiter.statistics().outage_decisions == 1000
    finally:
        await limiter.aclose()
