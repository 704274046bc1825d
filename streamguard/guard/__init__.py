"""The guarded sink: the end of a pipeline that calls a downstream which may fail.

A circuit breaker, budgeted retries, a per-call timeout and bounded concurrency around one
async call per item. "Open" means "stop asking", not "drop": while the breaker refuses, no new
demand goes upstream and the items already taken wait ("backpressure"); nothing is lost.

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

from ..core._public import publish as _publish
from ._operator import guarded_sink
from ._stage import (
    DEAD_LETTER_REASONS,
    DeadLetterReason,
    DeliveryError,
    ItemCallback,
    ItemDeadLettered,
    ItemFellBack,
    OnOpen,
)

__all__ = [
    "DEAD_LETTER_REASONS",
    "DeadLetterReason",
    "DeliveryError",
    "ItemCallback",
    "ItemDeadLettered",
    "ItemFellBack",
    "OnOpen",
    "guarded_sink",
]

_publish(__name__, globals(), __all__)
