"""The in-memory demo: a burst of orders, validation, a flaky downstream with retries and a
dead-letter list. Used when no Kafka broker can be started."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from ..operators import buffer, filter, sink
from ..sources import from_iterable
from ._config import DemoConfig

PIPELINE = "demo"


class DownstreamError(Exception):
    """The flaky downstream refused an order."""


@dataclass
class Ledger:
    """What the demo counts itself, independent of the metrics."""

    items_in: int = 0
    delivered: list[int] = field(default_factory=list)
    dead_letters: list[int] = field(default_factory=list)


class FlakyDownstream:
    """Fails a random fraction of calls, with an outage in the middle of the burst."""

    def __init__(self, seed: int, items: int) -> None:
        self._random = random.Random(seed)
        self._outage = range(items // 3, items // 3 + items // 10)

    async def call(self, order: int) -> int:
        await asyncio.sleep(0)
        if order in self._outage or self._random.random() < 0.02:
            raise DownstreamError(f"downstream refused order {order}")
        return order


async def run_memory(config: DemoConfig, ledger: Ledger) -> None:
    """Run the in-memory scenario to its end."""
    downstream = FlakyDownstream(config.seed, config.items)

    def orders() -> object:
        for order in range(config.items):
            ledger.items_in += 1
            yield order

    async def deliver(order: int) -> None:
        for _attempt in range(3):
            try:
                ledger.delivered.append(await downstream.call(order))
                return
            except DownstreamError:
                continue
        ledger.dead_letters.append(order)

    def valid(order: int) -> bool:
        return not (config.malformed_every and order % config.malformed_every == 0)

    await from_iterable(orders()).pipe(  # type: ignore[arg-type]
        filter(valid, name="validate"),
        buffer(256, name="burst-buffer"),
        sink(deliver, concurrency=16, name="downstream"),
    ).run(name=PIPELINE)
