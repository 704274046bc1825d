"""`run_demo`: pick the source (Kafka when it can run here), run the demo, say what happens."""

from __future__ import annotations

import sys
from collections.abc import Callable

from ._config import DemoConfig
from ._kafka import kafka_available, run_kafka
from ._ledger import Ledger
from ._memory import run_memory


def _say(text: str) -> None:
    print(f"demo: {text}", file=sys.stderr, flush=True)


async def run_demo(
    config: DemoConfig | None = None, ledger: Ledger | None = None,
    say: Callable[[str], None] = _say,
) -> Ledger:
    """Run the demo; return the ledger (pass your own to read it after an interruption)."""
    config = config or DemoConfig()
    ledger = ledger if ledger is not None else Ledger()
    use_kafka = config.source == "kafka" or (config.source == "auto" and kafka_available())
    if use_kafka:
        ledger.source = "kafka"
        await run_kafka(config, ledger, say)
    else:
        ledger.source = "memory"
        if config.source == "auto":
            ledger.note = ("Kafka is not available, so an in-memory source stands in "
                           "(pip install 'streamguard[demo]' for the Kafka part)")
            say(ledger.note)
        await run_memory(config, ledger, say)
    return ledger
