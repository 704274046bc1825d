"""A limiter's refusal is a "slow down" signal that breakers and retries understand."""

from __future__ import annotations

from streamguard.breaker import BreakerConfig, CircuitBreaker
from streamguard.core import is_throttled, retry_after_of
from streamguard.ratelimit import RateLimiter, RateLimitExceeded, TokenBucket


async def test_refusal_is_throttled_and_does_not_trip_a_breaker() -> None:
    limiter = RateLimiter("tight", TokenBucket(rate=1, burst=1))
    assert limiter.try_acquire().allowed
    refused = limiter.try_acquire()
    error = RateLimitExceeded("limiter 'tight' refused", decision=refused)
    assert is_throttled(error)
    after = retry_after_of(error)
    assert after is not None
    assert 0 < after <= 1.0

    breaker = CircuitBreaker("api", BreakerConfig(window_size=4, minimum_calls=2))

    async def call() -> None:
        raise error

    for _ in range(6):
        try:
            async with breaker:
                await call()
        except RateLimitExceeded:
            pass
    assert breaker.state.name.lower() == "closed"
