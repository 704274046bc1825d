"""HTTP headers out of a decision, and Retry-After back in."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from streamguard.core import ConfigError, EventBus
from streamguard.ratelimit import (
    CompositeLimiter,
    Decision,
    FixedWindow,
    RateLimiter,
    Tier,
    TokenBucket,
    parse_retry_after,
)
from streamguard.testing import VirtualClock


def test_a_refusal_renders_every_header() -> None:
    clock = VirtualClock()
    limiter = RateLimiter("api", FixedWindow(limit=100, window=60), clock=clock,
                          bus=EventBus())
    clock.tick(30.2)
    for _ in range(100):
        limiter.try_acquire()
    refused = limiter.try_acquire()
    assert refused.headers() == {
        "Retry-After": "30",
        "X-RateLimit-Limit": "100",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "30",
        "RateLimit-Policy": '"api";q=100;w=60',
        "RateLimit": '"api";r=0;t=30',
    }


def test_an_allowed_decision_has_no_retry_after() -> None:
    limiter = RateLimiter("api", TokenBucket(rate=100, burst=20), clock=VirtualClock(),
                          bus=EventBus())
    headers = limiter.try_acquire(5).headers()
    assert "Retry-After" not in headers
    assert headers["X-RateLimit-Remaining"] == "15"
    assert headers["X-RateLimit-Reset"] == "1"              # 0.05 s, rounded up
    assert headers["RateLimit-Policy"] == '"api";q=100;w=1'  # 20 per 0.2 s, as a whole second
    assert limiter.try_acquire().headers(legacy=False, ietf=False) == {}


def test_a_composite_lists_every_tier() -> None:
    clock = VirtualClock()
    limiter = CompositeLimiter("api", clock=clock, bus=EventBus(), tiers=[
        Tier(name="global", algorithm=TokenBucket(rate=1000, burst=1000)),
        Tier(name="user", algorithm=FixedWindow(limit=2, window=10), key=lambda u: u),
    ])
    limiter.try_acquire(key="u")
    limiter.try_acquire(key="u")
    headers = limiter.try_acquire(key="u").headers()
    assert headers["Retry-After"] == "10"
    assert headers["X-RateLimit-Limit"] == "2"
    assert headers["RateLimit-Policy"] == '"api/global";q=1000;w=1, "api/user";q=2;w=10'
    assert headers["RateLimit"] == '"api/global";r=998;t=1, "api/user";r=0;t=10'


def test_a_cost_that_never_fits_has_no_retry_after() -> None:
    decision = RateLimiter("api", TokenBucket(rate=1, burst=2), clock=VirtualClock(),
                           bus=EventBus()).try_acquire(3)
    assert decision.retry_after == math.inf
    assert "Retry-After" not in decision.headers()


def test_policy_names_are_quoted_structured_strings() -> None:
    policy = TokenBucket(rate=1, burst=1)
    decision = Decision(True, 1, 0, 0, 1, policy, 'we"ird\\name')
    assert decision.headers()["RateLimit"].startswith('"we\\"ird\\\\name";')


@pytest.mark.parametrize(("value", "seconds"), [
    ("120", 120.0), (" 7 ", 7.0), (2.5, 2.5), (0, 0.0),
])
def test_retry_after_in_seconds(value: str | float, seconds: float) -> None:
    assert parse_retry_after(value) == seconds


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(datetime(2025, 1, 1, 12, 2, 30, tzinfo=UTC), usegmt=True)
    earlier = format_datetime(datetime(2025, 1, 1, 11, 0, 0, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == 150.0
    assert parse_retry_after(earlier, now=now.timestamp()) == 0.0


@pytest.mark.parametrize("value", ["soon", "-5", "", -1.0, math.nan])
def test_a_bad_retry_after_is_a_config_error(value: str | float) -> None:
    with pytest.raises(ConfigError, match="Retry-After must be delta-seconds >= 0 or an HTTP-date"):
        parse_retry_after(value)
