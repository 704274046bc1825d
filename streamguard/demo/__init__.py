"""``streamguard demo``: the three guardians working together on a burst of traffic and a
flaky downstream, finishing in under a minute with no service set up by hand.

Example::

    result = await run_demo(DemoConfig(source="memory"))
    assert result.lost == 0
"""

from __future__ import annotations

from ._config import DemoConfig
from ._memory import PIPELINE, Ledger, run_memory
from ._summary import DemoResult, demo_summary

__all__ = ["DemoConfig", "DemoResult", "demo_summary", "run_demo"]


async def run_demo(config: DemoConfig | None = None) -> DemoResult:
    """Run the demo; return what it counted."""
    config = config or DemoConfig()
    ledger = Ledger()
    await run_memory(config, ledger)
    dropped = config.items and sum(
        1 for i in range(config.items)
        if config.malformed_every and i % config.malformed_every == 0)
    return DemoResult(source="memory", items_in=ledger.items_in,
                      items_out=len(ledger.delivered), dead_lettered=len(ledger.dead_letters),
                      dropped=dropped)


_ = PIPELINE
