"""Retry with backoff and a shared budget, so that one hiccup never becomes a retry storm.

The pattern has resilience4j's shape: a validated :class:`RetryConfig`, the runtime
:class:`Retry`, one exception (:class:`RetryError`) and typed events; :class:`RetryBudget`
(Finagle's and Envoy's idea) caps retries at a fraction of first attempts. It works on its own
around any async call and imports nothing of the stream core but the clock, the errors and
the events — nor the breaker: a refused call declares itself ``retryable = False``.

Programming errors (:data:`PROGRAMMING_ERRORS`: ``TypeError``, ``AttributeError``,
``NameError`` …) are never retried by default.

Example::

    from streamguard.breaker import CircuitBreaker
    from streamguard.retry import Retry, RetryBudget, RetryConfig

    retry = Retry("payments", RetryConfig(attempts=3), budget=RetryBudget(),
                  breaker=CircuitBreaker("payments"))
    receipt = await retry.call(client.pay, order)
"""

from ..core._public import publish as _publish
from ._budget import BudgetConfig, BudgetStatistics, RetryBudget
from ._config import PROGRAMMING_ERRORS, Backoff, RetryConfig
from ._retry import (
    GIVE_UP_REASONS,
    GiveUpReason,
    Retry,
    RetryAttempted,
    RetryBudgetExhausted,
    RetryError,
    RetryEvent,
    RetryGaveUp,
)

__all__ = [
    "GIVE_UP_REASONS",
    "PROGRAMMING_ERRORS",
    "Backoff",
    "BudgetConfig",
    "BudgetStatistics",
    "GiveUpReason",
    "Retry",
    "RetryAttempted",
    "RetryBudget",
    "RetryBudgetExhausted",
    "RetryConfig",
    "RetryError",
    "RetryEvent",
    "RetryGaveUp",
]

_publish(__name__, globals(), __all__)
