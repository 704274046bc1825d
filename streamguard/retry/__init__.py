"""Retry with backoff and a shared budget, so that one hiccup never becomes a retry storm.

The pattern has resilience4j's shape: a validated :class:`RetryConfig`, the runtime
:class:`Retry`, one exception (:class:`RetryError`) and typed events; :class:`RetryBudget`
(Finagle's and Envoy's idea) caps retries at a fraction of first attempts. It works on its own
around any async call and imports nothing of the stream core but the clock, the errors and
the events.

Example::

    from streamguard.breaker import CircuitBreaker
    from streamguard.retry import Retry, RetryBudget, RetryConfig

    retry = Retry("payments", RetryConfig(attempts=3), budget=RetryBudget(),
                  breaker=CircuitBreaker("payments"))
    receipt = await retry.call(client.pay, order)
"""

from ..core._signals import Throttled, TooManyRequests, retry_after_of, retryable_of
from ._backoff import ceiling, next_delay
from ._budget import BudgetConfig, BudgetStatistics, RetryBudget
from ._config import Backoff, RetryConfig
from ._errors import RetryError
from ._events import RetryAttempted, RetryBudgetExhausted, RetryEvent, RetryGaveUp
from ._retry import Retry, describe_call, is_retryable

__all__ = [
    "Backoff",
    "BudgetConfig",
    "BudgetStatistics",
    "Retry",
    "RetryAttempted",
    "RetryBudget",
    "RetryBudgetExhausted",
    "RetryConfig",
    "RetryError",
    "RetryEvent",
    "RetryGaveUp",
    "Throttled",
    "TooManyRequests",
    "ceiling",
    "describe_call",
    "is_retryable",
    "next_delay",
    "retry_after_of",
    "retryable_of",
]
