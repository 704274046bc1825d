"""The guarded pipeline the demo runs on either source: validate, rate limit, guarded sink."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Never, TypeVar

from .. import operators as op
from ..breaker import BreakerConfig, CircuitBreaker
from ..core._stream import Stream
from ..guard import guarded_sink
from ..ratelimit import RateLimiter, TokenBucket, rate_limit
from ..retry import RetryConfig
from ._config import DemoConfig
from ._downstream import FlakyDownstream
from ._ledger import Ledger

T = TypeVar("T")

BREAKER = "downstream"
LIMITER = "ingest"


def breaker() -> CircuitBreaker:
    """Opens when half of the last 20 calls failed; probes after 0.5 s."""
    return CircuitBreaker(BREAKER, BreakerConfig(window_size=20, minimum_calls=10,
                                                 open_duration=0.5, probe_timeout=2.0))


def guarded(
    stream: Stream[T], config: DemoConfig, ledger: Ledger,
    *, key_of: Callable[[T], Hashable], order_of: Callable[[T], Any],
    dead_letter: Callable[[T, BaseException], Any], guard: CircuitBreaker | None = None,
) -> Stream[Never]:
    """Build the pipeline on *stream* (to a :class:`FlakyDownstream` set by *config*); every
    item ends in one of the ledger's sets. *guard*: the breaker to use (default a new one)."""
    downstream = FlakyDownstream(outage_start=config.outage_begins, outage=config.outage,
                                 failure_rate=config.failure_rate, seed=config.seed)
    limiter = RateLimiter(LIMITER, TokenBucket(rate=config.rate, burst=config.burst))

    def valid(item: T) -> bool:
        if order_of(item).get("test"):
            ledger.drop(key_of(item))
            return False
        return True

    async def deliver(item: T) -> None:
        await downstream.deliver(order_of(item)["id"])
        ledger.deliver(key_of(item))

    def park(item: T, error: BaseException) -> Any:
        ledger.dead_letter(key_of(item))
        return dead_letter(item, error)

    return stream.pipe(
        op.filter(valid, name="validate"),
        rate_limit(limiter, max_pending=config.burst, name="rate-limit"),
        guarded_sink(deliver, breaker=guard or breaker(),
                     retry=RetryConfig(attempts=3, base_delay=0.02, max_delay=0.2),
                     timeout=1.0, concurrency=16, dead_letter=park, name="downstream"),
    )
