"""What a failed call can tell the resilience patterns about itself.

Three duck-typed attributes, so that any exception (an HTTP client's, a driver's) can take
part without inheriting from streamguard:

* ``throttled = True`` — the downstream said "too many requests" (HTTP 429). It is healthy
  and asks us to slow down: a circuit breaker does not count it as a failure, a rate limiter
  slows down, a retry waits ``retry_after``.
* ``retry_after: float`` — seconds the downstream asked us to wait (``Retry-After``), also
  carried by "unavailable" answers (HTTP 503), which do count as failures.
* ``retryable: bool`` — the exception says whether repeating the call can help.

:class:`TooManyRequests` is the ready-made exception carrying the first two.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

from ._errors import StreamGuardError


@runtime_checkable
class Throttled(Protocol):
    """An exception meaning "slow down": ``throttled`` is true, ``retry_after`` may be set."""

    throttled: bool
    retry_after: float | None


class TooManyRequests(StreamGuardError):
    """The downstream asked us to slow down (HTTP 429 and the like).

    It does not trip a circuit breaker, and a retry waits at least *retry_after* seconds.

    Example::

        if response.status == 429:
            raise TooManyRequests("payments API throttled us",
                                  retry_after=float(response.headers.get("Retry-After", 1)))
    """

    throttled = True
    retryable = True

    def __init__(self, message: str = "too many requests", *,
                 retry_after: float | None = None) -> None:
        super().__init__(message if retry_after is None
                         else f"{message} (retry after {retry_after:g} s)")
        self.retry_after = retry_after


def is_throttled(error: BaseException) -> bool:
    """True if *error* says the downstream throttled us (``throttled`` attribute is true)."""
    return getattr(error, "throttled", False) is True


def retry_after_of(error: BaseException) -> float | None:
    """The wait in seconds *error* asks for (its ``retry_after``), if it is a finite number >= 0."""
    value = getattr(error, "retry_after", None)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def retryable_of(error: BaseException) -> bool | None:
    """What *error* declares about itself through a boolean ``retryable``, or None."""
    value = getattr(error, "retryable", None)
    return value if isinstance(value, bool) else None
