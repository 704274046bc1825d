"""The demo without Kafka: the same guarded pipeline on an in-memory burst."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..sources import from_iterable
from ._config import DemoConfig
from ._ledger import Ledger
from ._pipeline import guarded


async def run_memory(config: DemoConfig, ledger: Ledger, say: Callable[[str], None]) -> None:
    """Run the burst through the pipeline to its end."""
    orders = [config.order(i) for i in range(config.items)]
    ledger.enter(o["id"] for o in orders)
    say(f"a burst of {len(orders):,} orders; the limiter lets {config.rate:,.0f}/s through, "
        f"the downstream fails for {config.outage:g} s")

    def order_of(o: dict[str, Any]) -> dict[str, Any]:
        return o

    await guarded(from_iterable(orders), config, ledger,
                  key_of=lambda o: o["id"], order_of=order_of,
                  dead_letter=lambda o, error: None).run(name="demo")
