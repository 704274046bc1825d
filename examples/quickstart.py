"""A first pipeline, no external service: a burst of orders, a bounded buffer, a concurrent
async call per order, and a sink. Run: ``python examples/quickstart.py``."""

from __future__ import annotations

import asyncio
import random

from streamguard import from_iterable
from streamguard import operators as op


def is_valid(order: int) -> bool:
    """Every seventh order is malformed in this toy."""
    return order % 7 != 0


async def price(order: int) -> tuple[int, float]:
    """Pretend to call a pricing service."""
    await asyncio.sleep(random.uniform(0.0005, 0.002))
    return order, order * 1.25


async def main() -> None:
    """Run the pipeline and print its per-stage statistics."""
    seen: list[tuple[int, float]] = []
    result = await from_iterable(range(5_000)).pipe(
        op.filter(is_valid, name="valid"),
        op.buffer(256, name="burst-buffer"),
        op.map_async(price, concurrency=32, name="pricing"),
        op.batch(100, timeout=0.05, name="batch"),
        op.sink(seen.extend, name="store"),
    ).run(name="quickstart")
    print(f"pipeline {result.name!r}: {len(seen)} orders priced")
    print(f"{'stage':<14}{'received':>10}{'emitted':>10}{'dropped':>10}")
    for s in result.statistics:
        print(f"{s.stage:<14}{s.received:>10}{s.emitted:>10}{s.dropped:>10}")


if __name__ == "__main__":
    asyncio.run(main())
