"""Circuit breakers: stop calling a failing downstream, probe until it recovers.

The pattern has resilience4j's shape: a validated :class:`BreakerConfig`, the runtime
:class:`CircuitBreaker`, one exception (:class:`CircuitOpenError`) and typed events. It works
on its own around any async call and imports nothing of the stream core but the clock, the
errors and the events.

Example::

    from streamguard.breaker import BreakerConfig, CircuitBreaker

    breaker = CircuitBreaker("payments", BreakerConfig(open_duration=10))

    @breaker
    async def pay(order_id: str) -> None: ...

    async with breaker:
        await client.post("/refund")
"""

from ..core._signals import Throttled, TooManyRequests, is_throttled, retry_after_of, retryable_of
from ._breaker import CircuitBreaker, Permit
from ._config import BreakerConfig
from ._errors import CircuitOpenError
from ._events import (
    BreakerEvent,
    CallFailed,
    CallIgnored,
    CallNotPermitted,
    CallSucceeded,
    ProbeExpired,
    StaleResultIgnored,
    StateTransition,
)
from ._outcome import Verdict, classify
from ._state import State
from ._stats import BreakerStatistics

__all__ = [
    "BreakerConfig",
    "BreakerEvent",
    "BreakerStatistics",
    "CallFailed",
    "CallIgnored",
    "CallNotPermitted",
    "CallSucceeded",
    "CircuitBreaker",
    "CircuitOpenError",
    "Permit",
    "ProbeExpired",
    "StaleResultIgnored",
    "State",
    "StateTransition",
    "Throttled",
    "TooManyRequests",
    "Verdict",
    "classify",
    "is_throttled",
    "retry_after_of",
    "retryable_of",
]
