"""The README promises that a bad argument is a ``ConfigError`` naming "the operator, the field
and the value". This sweep checks the operator part for every public operator of
``streamguard.operators`` and every other public stage factory: each is called with invalid
arguments and the message must start with its public name (``op.debounce: …``,
``guarded_sink: …``).

The parametrisation is read from ``streamguard.operators.__all__``, so a new operator joins
the sweep by itself and fails it until it has a case here (and names itself).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.adaptive import shed
from streamguard.core import ConfigError
from streamguard.guard import guarded_sink
from streamguard.kafka import LagThrottleConfig, throttle_by_lag
from streamguard.ratelimit import RateLimiter, TokenBucket, rate_limit

Bad = Callable[[], object]
BAD: Any = "bad"  # typed Any: every call below is wrong on purpose
NOT_A_STR: Any = 3


async def _deliver(item: Any) -> None:
    return None


async def _lag() -> int:
    return 0


def _limiter() -> RateLimiter:
    return RateLimiter("sweep", TokenBucket(rate=10, burst=2))


def _stream(*_: Any) -> Any:
    return from_iterable([1])




def _branch(stream: Any) -> Any:
    return stream.pipe(op.sink(print))


_WINDOW: dict[str, Any] = {"timestamp": float}

# public name -> calls that each break one rule (the review's findings first where it had some)
CASES: dict[str, list[Bad]] = {
    "op.batch": [lambda: op.batch(0), lambda: op.batch(2, clock=BAD)],
    "op.buffer": [lambda: op.buffer(10, overflow=BAD), lambda: op.buffer(0),
                  lambda: op.buffer(10, replenish=11)],
    "op.debounce": [lambda: op.debounce(-1), lambda: op.debounce(1, clock=BAD),
                    lambda: op.debounce(1, name=NOT_A_STR)],
    "op.delay": [lambda: op.delay(0), lambda: op.delay(1, capacity=0)],
    "op.distinct": [lambda: op.distinct(BAD), lambda: op.distinct(capacity=0)],
    "op.filter": [lambda: op.filter(BAD)],
    "op.hopping_window": [lambda: op.hopping_window(1, 2, **_WINDOW),
                          lambda: op.hopping_window(2, 1, timestamp=BAD)],
    "op.interval": [lambda: op.interval(0), lambda: op.interval(1, clock=BAD)],
    "op.map": [lambda: op.map(BAD)],
    "op.map_async": [lambda: op.map_async(_deliver, concurrency=0)],
    "op.pairwise": [lambda: op.pairwise(name=NOT_A_STR)],
    "op.prefetch": [lambda: op.prefetch(0), lambda: op.prefetch(8, low_tide=2)],
    "op.reduce": [lambda: op.reduce(BAD, 0)],
    "op.sample": [lambda: op.sample(float("inf"))],
    "op.scan": [lambda: op.scan(BAD, 0)],
    "op.session_window": [lambda: op.session_window(0, **_WINDOW),
                          lambda: op.session_window(1, **_WINDOW, delay=-1),
                          lambda: op.session_window(1, **_WINDOW, max_items=0),
                          lambda: op.session_window(1, **_WINDOW, on_late=BAD)],
    "op.sink": [lambda: op.sink(print, prefetch=0)],
    "op.take": [lambda: op.take(-1)],
    "op.take_while": [lambda: op.take_while(BAD)],
    "op.throttle_first": [lambda: op.throttle_first(-1)],
    "op.timeout": [lambda: op.timeout(1, per=BAD), lambda: op.timeout(0)],
    "op.tumbling_window": [lambda: op.tumbling_window(0, **_WINDOW),
                           lambda: op.tumbling_window(1, **_WINDOW, lateness=-1)],
    "op.window": [lambda: op.window(count=0), lambda: op.window(),
                  lambda: op.window(count=2, step=3), lambda: op.window(duration=-1),
                  lambda: op.window(duration=1, every=2), lambda: op.window(max_items=0)],
    "op.broadcast": [lambda: op.broadcast(), lambda: op.broadcast(_branch, buffer=-1),
                     lambda: op.broadcast(_branch, overflow=BAD)],
    "op.concat": [lambda: op.concat(_stream(), prefetch=0)],
    "op.concat_map": [lambda: op.concat_map(_stream, prefetch=0)],
    "op.flat_map": [lambda: op.flat_map(_stream, concurrency=0)],
    "op.group_by": [lambda: op.group_by(str, max_groups=0),
                    lambda: op.group_by(str, on_limit=BAD)],
    "op.merge": [lambda: op.merge(_stream(), prefetch=0)],
    "op.on_error_resume": [lambda: op.on_error_resume(_stream, errors=())],
    "op.partition": [lambda: op.partition(int, _branch, _branch, overflow=["drop_oldest"],
                                          buffer=1)],
    "op.retry": [lambda: op.retry(name=NOT_A_STR)],
    "op.zip": [lambda: op.zip(), lambda: op.zip(_stream(), prefetch=0)],
    # the other public stage factories
    "guarded_sink": [lambda: guarded_sink(_deliver, concurrency=0),
                     lambda: guarded_sink(_deliver, on_open=BAD)],
    "rate_limit": [lambda: rate_limit(_limiter(), cost=0),
                   lambda: rate_limit(_limiter(), mode=BAD)],
    "throttle_by_lag": [lambda: throttle_by_lag(_lag, BAD),
                        lambda: throttle_by_lag(BAD, LagThrottleConfig(max_rate=1, threshold=1))],
    "shed": [lambda: shed(int, capacity=0)],
}

OPERATORS = [f"op.{n}" for n in op.__all__ if inspect.isfunction(getattr(op, n))]
STAGES = ["guarded_sink", "rate_limit", "throttle_by_lag", "shed"]


@pytest.mark.parametrize("factory", OPERATORS + STAGES)
def test_a_bad_argument_names_the_operator_first(factory: str) -> None:
    assert factory in CASES, f"{factory} has no case here: add the calls that break its rules"
    for bad in CASES[factory]:
        with pytest.raises(ConfigError) as info:
            bad()
        assert str(info.value).startswith(f"{factory}: "), str(info.value)
