"""The curated API of the rate-limit packages: ``__all__`` lists every public name, every
listed name exists and is documented."""

from __future__ import annotations

import importlib
import inspect

import pytest

PACKAGES = ["streamguard.ratelimit", "streamguard.ratelimit.algorithms",
            "streamguard.ratelimit.storage"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_matches_public_names(name: str) -> None:
    module = importlib.import_module(name)
    public = {n for n, v in vars(module).items()
              if not n.startswith("_") and not inspect.ismodule(v) and n != "annotations"}
    assert public == set(module.__all__)


@pytest.mark.parametrize("name", PACKAGES)
def test_public_names_are_documented(name: str) -> None:
    module = importlib.import_module(name)
    objects = {n: getattr(module, n) for n in module.__all__}
    undocumented = [n for n, obj in objects.items()
                    if (inspect.isclass(obj) or inspect.isfunction(obj))
                    and not inspect.getdoc(obj)]
    assert undocumented == []


def test_rate_limit_exceeded_is_a_streamguard_error() -> None:
    from streamguard.core import StreamGuardError
    from streamguard.ratelimit import RateLimitExceeded

    assert issubclass(RateLimitExceeded, StreamGuardError)


def test_exports_carry_their_public_path() -> None:
    # #10: tracebacks say streamguard.ratelimit.RateLimitExceeded, not ..._decision.
    import streamguard.ratelimit as ratelimit

    wrong = {n: getattr(ratelimit, n).__module__ for n in ratelimit.__all__
             if isinstance(getattr(ratelimit, n), type) or inspect.isfunction(getattr(ratelimit, n))
             if getattr(ratelimit, n).__module__ != "streamguard.ratelimit"}
    assert wrong == {}


def test_internals_are_not_exported() -> None:
    import streamguard.ratelimit as ratelimit
    import streamguard.ratelimit.storage as storage

    assert not {"BaseLimiter", "RateLimitStage", "ceiling"} & set(ratelimit.__all__)
    assert not {"Binding", "KeyTable", "MemoryBinding", "RedisBinding", "TierSpec"} & set(
        storage.__all__)


async def test_the_limiter_follows_the_api_conventions() -> None:
    # The README's "API conventions": name first; try_acquire sync and never raising a
    # refusal; acquire async, waiting at most timeout, raising RateLimitExceeded with the
    # decision; the stage's one word for waiting is "backpressure"; on_reject is item first.
    from typing import get_args

    from streamguard.core import EventBus
    from streamguard.ratelimit import (
        CompositeLimiter,
        Mode,
        RateLimiter,
        RateLimitExceeded,
        Tier,
        TokenBucket,
    )
    from streamguard.testing import VirtualClock

    for cls in (RateLimiter, CompositeLimiter):
        first = next(iter(inspect.signature(cls).parameters.values()))
        assert first.name == "name"
        assert first.default is inspect.Parameter.empty
    limiter = RateLimiter("api", TokenBucket(rate=1, burst=1), clock=VirtualClock(),
                          bus=EventBus())
    assert not inspect.iscoroutinefunction(limiter.try_acquire)
    assert inspect.iscoroutinefunction(limiter.acquire)
    assert limiter.try_acquire().allowed
    assert not limiter.try_acquire().allowed  # a refusal is a value, not an exception
    with pytest.raises(RateLimitExceeded) as info:
        await limiter.acquire(timeout=0.5)  # it would take 1 s: refused at once
    assert info.value.decision.retry_after == pytest.approx(1.0)
    assert info.value.retry_after == pytest.approx(1.0)
    assert "timeout" in inspect.signature(limiter.acquire).parameters
    assert get_args(Mode) == ("backpressure", "police", "error")
    composite = CompositeLimiter("api", [Tier(name="all", algorithm=TokenBucket(rate=1))])
    assert composite.name == "api"
