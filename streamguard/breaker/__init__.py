"""Circuit breakers: stop calling a failing downstream, probe until it recovers.

The pattern has resilience4j's shape: a validated :class:`BreakerConfig`, the runtime
:class:`CircuitBreaker`, one exception (:class:`CircuitOpenError`) and typed events,
published on the process-wide bus and to the breaker's own subscribers
(:meth:`CircuitBreaker.on_state_change`, :meth:`CircuitBreaker.on_event`). It works on its own
around any async call and imports nothing of the stream core but the clock, the errors and
the events.

Example::

    from streamguard.breaker import BreakerConfig, CircuitBreaker

    breaker = CircuitBreaker("payments", BreakerConfig(open_duration=10))

    @breaker
    async def pay(order_id: str) -> None: ...

    async with breaker:
        await client.post("/refund")

    permit = breaker.try_acquire()            # sync: a permit, or None when refused
    permit = await breaker.acquire(timeout=5)  # async: waits up to 5 s, else CircuitOpenError

    # every worker whose breaker is named "payments" shares one state through Redis
    shared = CircuitBreaker("payments", storage="redis://10.0.0.5:6379/0")
"""

from ..core._public import publish as _publish
from ._breaker import CircuitBreaker
from ._config import BreakerConfig, WindowKind
from ._machine import Permit
from ._shared import RedisBreakerStorage
from ._state import (
    BreakerEvent,
    BreakerStatistics,
    CallFailed,
    CallIgnored,
    CallNotPermitted,
    CallSucceeded,
    CircuitOpenError,
    ProbeExpired,
    SharedStateLost,
    SharedStateRestored,
    StaleResultIgnored,
    State,
    StateTransition,
)

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
    "RedisBreakerStorage",
    "SharedStateLost",
    "SharedStateRestored",
    "StaleResultIgnored",
    "State",
    "StateTransition",
    "WindowKind",
]

_publish(__name__, globals(), __all__)
