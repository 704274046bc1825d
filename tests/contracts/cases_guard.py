"""Contract cases of the guard: ``guarded_sink`` plain, with every guardian, and routing
failed items to a dead-letter sink (each a sink: it ends the pipeline)."""

from __future__ import annotations

import asyncio

from streamguard.breaker import BreakerConfig, CircuitBreaker
from streamguard.guard import guarded_sink
from streamguard.retry import RetryConfig

from .registry import stage


async def _deliver(item: int) -> None:
    await asyncio.sleep(0)


async def _odd_fails(item: int) -> None:
    await asyncio.sleep(0)
    if item % 2:
        raise ConnectionError(f"refused {item}")


def _parked(item: int, error: BaseException) -> None:
    pass


stage("guarded_sink", lambda: guarded_sink(_deliver, concurrency=4), sink=True)
stage("guarded_sink_guarded", lambda: guarded_sink(
    _deliver, breaker=CircuitBreaker("contract"), retry=RetryConfig(attempts=3),
    timeout=60.0, concurrency=4), sink=True)
# Half the calls fail and are not retried: the breaker (window far larger than any run) stays
# closed, every failed item goes to the dead-letter sink at once (on_open="dead_letter": no
# item waits on the breaker's clock) and completes there.
stage("guarded_sink_dead_letter", lambda: guarded_sink(
    _odd_fails, breaker=CircuitBreaker("contract-dl", BreakerConfig(
        window_size=10_000, minimum_calls=10_000)),
    concurrency=4, on_open="dead_letter", dead_letter=_parked), sink=True)
