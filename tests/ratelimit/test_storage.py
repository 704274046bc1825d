"""One test body per behaviour, run on ``memory://`` and on a real Redis (``storage_uri``).

The Redis runs decide on the server's clock, so the policies here refill slowly enough
(hours per unit) that nothing refills while a test runs; waiting is tested with short real
waits whose length is not asserted.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable

import pytest

from streamguard.core import ConfigError, EventBus, WouldBlock
from streamguard.ratelimit import (
    GCRA,
    Algorithm,
    CompositeLimiter,
    FixedWindow,
    LeakyBucketMeter,
    LeakyBucketShaper,
    RateLimiter,
    RateLimitExceeded,
    SlidingWindowCounter,
    SlidingWindowLog,
    Storage,
    Tier,
    TokenBucket,
    storage_from_uri,
)
from streamguard.ratelimit.storage import MemoryStorage, RedisStorage
from streamguard.servers import RedisServer

SLOW = 1 / 3600  # one unit per hour: nothing refills during a test

POLICIES: list[Algorithm] = [
    TokenBucket(rate=SLOW, burst=3),
    GCRA(rate=SLOW, burst=3),
    LeakyBucketMeter(rate=SLOW, capacity=3),
    FixedWindow(limit=3, window=3600),
    SlidingWindowLog(limit=3, window=3600),
    SlidingWindowCounter(limit=3, window=3600),
]

Factory = Callable[..., RateLimiter]


@pytest.fixture
async def storages(storage_uri: str) -> AsyncIterator[Callable[[], Storage]]:
    """Clients of one storage: the same object for memory, a new connection for Redis (as
    another process would have)."""
    made: list[Storage] = []
    shared = MemoryStorage() if storage_uri.startswith("memory") else None

    def client() -> Storage:
        storage = shared or storage_from_uri(storage_uri)
        made.append(storage)
        return storage

    yield client
    for storage in made:
        await storage.aclose()


@pytest.fixture
def limiter(storages: Callable[[], Storage]) -> Factory:
    def make(algorithm: Algorithm, name: str = "api", **options: object) -> RateLimiter:
        return RateLimiter(name, algorithm, storage=storages(), bus=EventBus(),
                           **options)  # type: ignore[arg-type]
    return make


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.kind)
async def test_admits_the_limit_then_refuses_with_retry_after(limiter: Factory,
                                                              policy: Algorithm) -> None:
    api = limiter(policy)
    allowed = [await api.decide() for _ in range(3)]
    refused = await api.decide()
    assert [d.allowed for d in allowed] == [True, True, True]
    assert [round(d.remaining) for d in allowed] == [2, 1, 0]
    assert not refused.allowed
    assert refused.limit == 3
    assert refused.policy == policy
    assert refused.limiter == "api"
    assert 0 < refused.retry_after <= 2 * 3600  # a sliding counter may wait into the next window
    assert refused.reset_after > 0
    never = await api.decide(4)
    assert not never.allowed
    assert never.retry_after == math.inf


async def test_the_shaper_admits_one_at_a_time(limiter: Factory) -> None:
    api = limiter(LeakyBucketShaper(rate=SLOW, capacity=5))
    first, second = await api.decide(), await api.decide()
    assert first.allowed
    assert not second.allowed
    assert second.retry_after == pytest.approx(3600, rel=0.01)


async def test_keys_are_independent(limiter: Factory) -> None:
    api = limiter(TokenBucket(rate=SLOW, burst=1))
    assert (await api.decide(key="alice")).allowed
    assert not (await api.decide(key="alice")).allowed
    assert (await api.decide(key="bob")).allowed
    assert (await api.decide(key=42)).allowed


async def test_limiters_with_one_name_share_the_limit(limiter: Factory) -> None:
    first, second = limiter(FixedWindow(limit=2, window=3600)), limiter(
        FixedWindow(limit=2, window=3600))
    assert (await first.decide(key="k")).allowed
    assert (await second.decide(key="k")).allowed
    assert not (await first.decide(key="k")).allowed
    assert not (await second.decide(key="k")).allowed


async def test_a_composite_refusal_consumes_nothing(storages: Callable[[], Storage]) -> None:
    api = CompositeLimiter("api", storage=storages(), bus=EventBus(), tiers=[
        Tier(name="global", algorithm=TokenBucket(rate=SLOW, burst=10)),
        Tier(name="user", algorithm=TokenBucket(rate=SLOW, burst=2), key=lambda r: r[0]),
        Tier(name="endpoint", algorithm=FixedWindow(limit=3, window=3600), key=lambda r: r[1]),
    ])
    assert (await api.decide(key=("alice", "/a"))).allowed
    assert (await api.decide(key=("alice", "/b"))).allowed
    for _ in range(5):  # alice is out: her refusals must not eat the global or /a allowance
        refused = await api.decide(key=("alice", "/a"))
        assert not refused.allowed
        assert refused.limiter == "api/user"
    assert [t.limiter for t in refused.tiers] == ["api/global", "api/user", "api/endpoint"]
    assert (await api.decide(key=("bob", "/a"))).allowed
    assert (await api.decide(key=("bob", "/a"))).allowed
    third = await api.decide(key=("carol", "/a"))
    assert not third.allowed
    assert third.limiter == "api/endpoint"
    decision = await api.decide(key=("carol", "/c"))
    assert decision.allowed
    assert decision.tiers[0].remaining == pytest.approx(10 - 5, abs=0.01)


async def test_penalize_blocks_until_retry_after(limiter: Factory) -> None:
    api = limiter(TokenBucket(rate=SLOW, burst=100))
    assert await api.penalize("120", key="k") == 120.0
    refused = await api.decide(key="k")
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(120, abs=1)
    assert (await api.decide(key="other")).allowed
    await api.penalize(0.05, key="k")  # a shorter penalty never shortens the longer one
    assert not (await api.decide(key="k")).allowed


async def test_a_short_penalty_makes_acquire_wait(limiter: Factory) -> None:
    api = limiter(TokenBucket(rate=SLOW, burst=100))
    await api.penalize(0.05)
    waited = await api.acquire()
    assert waited > 0.0
    assert api.statistics().delayed == 1


async def test_reset_gives_the_full_allowance_back(limiter: Factory) -> None:
    api = limiter(TokenBucket(rate=SLOW, burst=1))
    assert (await api.decide()).allowed
    assert not (await api.decide()).allowed
    await api.reset()
    assert (await api.decide()).allowed


async def test_acquire_refuses_a_cost_that_can_never_pass(limiter: Factory) -> None:
    api = limiter(TokenBucket(rate=SLOW, burst=2))
    with pytest.raises(RateLimitExceeded, match=r"cost 3 can never pass: it exceeds the limit 2"):
        await api.acquire(3)


async def test_acquire_gives_up_at_once_beyond_its_timeout(limiter: Factory) -> None:
    api = limiter(TokenBucket(rate=SLOW, burst=1))
    await api.acquire()
    with pytest.raises(RateLimitExceeded, match="cannot pass within timeout=1 s") as info:
        await api.acquire(timeout=1.0)
    assert info.value.decision.retry_after > 1.0


async def test_acquire_waits_for_a_refill(limiter: Factory) -> None:
    api = limiter(GCRA(rate=40, burst=1))
    assert await api.acquire() == 0.0
    assert await api.acquire() > 0.0


def test_an_unknown_storage_uri_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        RateLimiter("api", TokenBucket(rate=1), storage="mongodb://db:27017")
    assert str(info.value) == ("storage URI must start with memory://, redis:// or rediss://, "
                               "got 'mongodb://db:27017'")


@pytest.mark.parametrize(("uri", "message"), [
    ("memory://?max_keys=0", "max_keys must be an int >= 1, got 0"),
    ("memory://?size=3", "memory:// storage URI takes only max_keys (in 'memory://?size=3'), "
                         "got ['size']"),
    ("redis://h:1/0?timeout=-1", "timeout must be a number of seconds > 0 (in "
                                 "'redis://h:1/0?timeout=-1'), got '-1'"),
])
def test_bad_storage_options_name_rule_and_value(uri: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        storage_from_uri(uri)
    assert str(info.value) == message


def test_storage_uris_build_their_backends() -> None:
    assert isinstance(storage_from_uri("memory://"), MemoryStorage)
    redis = storage_from_uri("redis://user:secret@10.0.0.1:6380/2?timeout=0.2&prefix=x:")
    assert isinstance(redis, RedisStorage)
    assert redis.uri == "redis://10.0.0.1:6380/2"  # no password in logs and events
    assert redis.timeout == 0.2
    assert redis.prefix == "x:"


async def test_remote_storage_has_no_synchronous_try(redis_url: str) -> None:
    api = RateLimiter("api", TokenBucket(rate=1), storage=redis_url)
    try:
        with pytest.raises(WouldBlock, match=r"use 'await limiter.decide\(\)' or 'await "
                                             r"limiter.acquire\(timeout=0\)'"):
            api.try_acquire()
        assert not api.local
    finally:
        await api.aclose()


async def test_redis_state_expires_once_idle(redis_server: RedisServer) -> None:
    import redis.asyncio as aioredis

    url = f"{redis_server.url}?prefix=ttl:"
    api = RateLimiter("api", TokenBucket(rate=10, burst=2), storage=url, bus=EventBus())
    log = RateLimiter("log", SlidingWindowLog(limit=5, window=30), storage=url,
                      bus=EventBus())
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        await api.decide(key="k")
        await log.decide(key="k")
        # Full again after 0.1 s: the state may go then (plus a second of margin).
        assert 0 < await client.pttl("ttl:api:k") <= 1100
        assert 29_000 < await client.pttl("ttl:log:k:log") <= 31_000
        await api.penalize(60, key="k")
        assert 60_000 < await client.pttl("ttl:api:k") <= 61_000
    finally:
        await api.aclose()
        await log.aclose()
        await client.aclose()
