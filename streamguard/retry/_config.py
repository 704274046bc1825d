"""`RetryConfig`: how often to try, how long to wait between tries, what is worth retrying."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..core._errors import require

Backoff = Literal["full_jitter", "decorrelated_jitter", "exponential"]


def _exception_types(value: object) -> bool:
    return isinstance(value, tuple) and all(
        isinstance(t, type) and issubclass(t, BaseException) for t in value)


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryConfig:
    """The rules of a :class:`~streamguard.retry.Retry`.

    Attributes:
        attempts: tries in all, the first included, >= 1. Default 3.
        backoff: the wait before retry *n* (n = 1, 2, …):

            * ``"full_jitter"`` (default): uniform in ``[0, min(max_delay, base_delay ×
              multiplier^(n-1))]`` — AWS's "full jitter"; spreads the retries of many
              clients so they do not arrive in waves.
            * ``"decorrelated_jitter"``: uniform in ``[base_delay, 3 × previous wait]``,
              capped at ``max_delay``.
            * ``"exponential"``: ``min(max_delay, base_delay × multiplier^(n-1))``, no jitter
              (predictable; for tests and single clients).
        base_delay: seconds, > 0. Default 0.1.
        multiplier: growth per retry, >= 1. Default 2.
        max_delay: the cap of every wait, >= ``base_delay``. Default 10.
        retry_on: exception types worth retrying. Default ``(Exception,)``.
        retry_if: if given, decides instead of ``retry_on`` (``(error) -> bool``).
        honour_retry_after: wait at least the ``retry_after`` seconds an error carries
            (a downstream's ``Retry-After``). Default True.
        max_retry_after: a ``retry_after`` longer than this many seconds ends the retries
            instead of blocking for it, > 0. Default 60.

    Whatever the rules say, cancellation is never retried (nor swallowed), a call the
    circuit breaker refused is never retried, and an exception's own boolean
    ``retryable`` attribute overrides ``retry_on`` and ``retry_if``.
    """

    attempts: int = 3
    backoff: Backoff = "full_jitter"
    base_delay: float = 0.1
    multiplier: float = 2.0
    max_delay: float = 10.0
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    retry_if: Callable[[BaseException], bool] | None = None
    honour_retry_after: bool = True
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        require(isinstance(self.attempts, int) and self.attempts >= 1,
                "attempts must be an int >= 1 (the first try included)", self.attempts)
        require(self.backoff in ("full_jitter", "decorrelated_jitter", "exponential"),
                "backoff must be 'full_jitter', 'decorrelated_jitter' or 'exponential'",
                self.backoff)
        require(math.isfinite(self.base_delay) and self.base_delay > 0,
                "base_delay must be > 0 seconds", self.base_delay)
        require(math.isfinite(self.multiplier) and self.multiplier >= 1,
                "multiplier must be >= 1", self.multiplier)
        require(math.isfinite(self.max_delay) and self.max_delay >= self.base_delay,
                f"max_delay must be >= base_delay={self.base_delay:g}", self.max_delay)
        require(_exception_types(self.retry_on),
                "retry_on must be a tuple of exception classes", self.retry_on)
        require(self.retry_if is None or callable(self.retry_if),
                "retry_if must be a callable (exception) -> bool or None", self.retry_if)
        require(math.isfinite(self.max_retry_after) and self.max_retry_after > 0,
                "max_retry_after must be > 0 seconds", self.max_retry_after)
