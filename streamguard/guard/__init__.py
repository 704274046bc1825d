"""The guarded sink: the end of a pipeline that calls a downstream which may fail.

A circuit breaker, budgeted retries, a per-call timeout and bounded concurrency around one
async call per item. "Open" means "stop asking", not "drop": while the breaker refuses, no new
demand goes upstream and the items already taken wait; nothing is lost.

Example::

    from streamguard import from_iterable
    from streamguard.breaker import CircuitBreaker
    from streamguard.guard import guarded_sink
    from streamguard.retry import RetryConfig

    await from_iterable(orders).pipe(
        guarded_sink(post_order, breaker=CircuitBreaker("orders-api"),
                     retry=RetryConfig(attempts=3), timeout=2.0, concurrency=16,
                     dead_letter=park_order),
    ).run()
"""

from ._errors import DeliveryError
from ._events import ItemDeadLettered, ItemFellBack
from ._operator import guarded_sink
from ._stage import DeadLetter, Fallback, GuardedSinkStage, OnOpen

__all__ = [
    "DeadLetter",
    "DeliveryError",
    "Fallback",
    "GuardedSinkStage",
    "ItemDeadLettered",
    "ItemFellBack",
    "OnOpen",
    "guarded_sink",
]
