"""Payments through a flaky API: a circuit breaker, budgeted retries, a timeout per call and a
dead-letter list for the orders that cannot go through. No external service: the "API" is a
function that is slow now and then, rejects a few malformed orders, and is down for a while.

Run: ``python examples/payments_flaky.py``. Watch the breaker open during the outage (the
pipeline then asks for no new orders), probe, and close again; every order ends up either paid
or dead-lettered with its reason, none is lost.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

from streamguard import from_iterable
from streamguard.breaker import BreakerConfig, CircuitBreaker, StateTransition
from streamguard.core import EventBus
from streamguard.guard import ItemDeadLettered, guarded_sink
from streamguard.retry import RetryAttempted, RetryConfig


class MalformedOrder(ValueError):
    """The API rejected the order itself: retrying cannot help."""

    retryable = False


class PaymentsAPI:
    """A toy payment API: down between *outage_start* and *outage_end* seconds after the
    first call, sometimes slow, and it rejects every 97th order."""

    def __init__(self, outage_start: float, outage_end: float, seed: int = 7) -> None:
        self.outage = (outage_start, outage_end)
        self.rng = random.Random(seed)
        self.started: float | None = None
        self.paid: list[int] = []
        self.requests = 0

    async def pay(self, order: int) -> None:
        loop = asyncio.get_running_loop()
        self.started = self.started if self.started is not None else loop.time()
        self.requests += 1
        elapsed = loop.time() - self.started
        await asyncio.sleep(self.rng.uniform(0.001, 0.004) if self.rng.random() > 0.01 else 0.5)
        if self.outage[0] <= elapsed < self.outage[1]:
            raise ConnectionError("payments API unavailable (503)")
        if order % 97 == 0:
            raise MalformedOrder(f"order {order} has no card number")
        self.paid.append(order)


async def main(*, orders: int = 6_000, outage: tuple[float, float] = (0.2, 1.5)) -> dict[str, Any]:
    """Pay *orders* orders while the API is down during *outage*; print and return a summary."""
    api = PaymentsAPI(*outage)
    bus = EventBus()
    counts: Counter[str] = Counter()
    parked: list[tuple[int, str]] = []

    def listen(event: object) -> None:
        if isinstance(event, RetryAttempted):
            counts["retries"] += 1
        elif isinstance(event, ItemDeadLettered):
            counts[f"dead-lettered ({event.reason})"] += 1

    def transition(event: StateTransition) -> None:
        print(f"  breaker {event.from_state} -> {event.to_state}: {event.reason}")
        counts[f"to {event.to_state}"] += 1

    bus.subscribe(listen)
    breaker = CircuitBreaker("payments-api", BreakerConfig(
        window_size=20, minimum_calls=10, open_duration=0.25, open_duration_multiplier=2,
        max_open_duration=1.0, open_duration_jitter=0.2), bus=bus)
    breaker.on_state_change(transition)  # this breaker's transitions, typed

    async def park(order: int, error: BaseException) -> None:
        parked.append((order, f"{type(error).__name__}: {error}"))

    result = await from_iterable(range(orders)).pipe(guarded_sink(
        api.pay, breaker=breaker, retry=RetryConfig(attempts=3, base_delay=0.02, max_delay=0.5),
        timeout=0.1, concurrency=16, dead_letter=park, name="pay"),
    ).run(name="payments", bus=bus)

    stats = result.statistics[-1]
    summary = {"orders": orders, "paid": len(set(api.paid)), "dead_lettered": len(parked),
               "requests": api.requests, **counts}
    print(f"paid {summary['paid']}, dead-lettered {len(parked)} of {orders} orders "
          f"with {api.requests} API requests; stage counted {stats.emitted} delivered, "
          f"{stats.rejected} rejected")
    for key, value in sorted(counts.items()):
        print(f"  {key}: {value}")
    for order, reason in parked[:3]:
        print(f"  e.g. order {order}: {reason}")
    return summary


if __name__ == "__main__":
    asyncio.run(main())
