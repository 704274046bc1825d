"""A retry storm, and how a guarded sink avoids it. No external service.

A downstream fails every call for a few seconds. Two clients feed it 500 items/s at the same
time: a naive loop that retries each failure 3 times at once, and a guarded sink (circuit
breaker, budgeted retries, backpressure). The naive loop multiplies the load on the sick
downstream by four; the guarded pipeline stops asking, probes now and then, and once the
downstream is back delivers every item.

Run: ``python examples/retry_storm.py``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

from streamguard import Emitter
from streamguard.breaker import BreakerConfig, CircuitBreaker, StateTransition
from streamguard.core import EventBus
from streamguard.guard import guarded_sink
from streamguard.retry import RetryConfig

RATE = 500


class SickDownstream:
    """Fails every call for *outage* seconds from creation; counts calls per client."""

    def __init__(self, outage: float) -> None:
        self.until = asyncio.get_running_loop().time() + outage
        self.during: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()

    async def call(self, client: str, item: int) -> None:
        await asyncio.sleep(0.001)
        if asyncio.get_running_loop().time() < self.until:
            self.during[client] += 1
            raise ConnectionError(f"503 for item {item}")
        self.accepted[client] += 1


async def paced(n: int) -> AsyncIterator[int]:
    """0..n-1 at RATE per second (catching up at once after a pause)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(n):
        delay = start + i / RATE - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield i


async def naive(down: SickDownstream, n: int) -> None:
    async def send(item: int) -> None:
        for _ in range(4):
            try:
                await down.call("naive", item)
                return
            except ConnectionError:
                pass

    async with asyncio.TaskGroup() as group:
        async for item in paced(n):
            group.create_task(send(item))


async def guarded(down: SickDownstream, n: int, bus: EventBus) -> None:
    async def deliver(item: int) -> None:
        await down.call("guarded", item)

    breaker = CircuitBreaker("sick-downstream", BreakerConfig(
        open_duration=0.5, open_duration_multiplier=2, max_open_duration=2.0,
        open_duration_jitter=0.1), bus=bus)
    emitter = Emitter[int]()
    run = asyncio.create_task(emitter.stream().pipe(guarded_sink(
        deliver, breaker=breaker, retry=RetryConfig(attempts=3, base_delay=0.05, max_delay=1.0),
        timeout=1.0, concurrency=16, name="guarded")).run(bus=bus))
    async for item in paced(n):
        await emitter.emit(item)  # waits while the breaker keeps the pipeline from asking
    emitter.complete()
    await run


async def main(*, outage: float = 5.0, seconds: float = 7.0) -> tuple[int, int, int]:
    """Run both clients; return (naive calls, guarded calls) during the outage and the number
    of items the guarded pipeline delivered."""
    down = SickDownstream(outage)
    n = int(RATE * seconds)
    bus = EventBus()
    transitions: Counter[str] = Counter()
    bus.subscribe(lambda e: transitions.update(
        [str(e.to_state)] if isinstance(e, StateTransition) else []))
    await asyncio.gather(naive(down, n), guarded(down, n, bus))
    storm, calm = down.during["naive"], down.during["guarded"]
    print(f"during the {outage:g} s outage, {RATE} items/s offered to each client:")
    print(f"  naive loop (3 immediate retries): {storm:>6} calls")
    print(f"  guarded sink:                     {calm:>6} calls ({calm / storm:.2%} of naive)")
    print(f"  breaker transitions: {dict(transitions)}")
    print(f"after the outage the guarded sink delivered {down.accepted['guarded']} of {n} items")
    return storm, calm, down.accepted["guarded"]


if __name__ == "__main__":
    asyncio.run(main())
