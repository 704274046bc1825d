"""`RetryConfig`: how often to try, how long to wait between tries, what is worth retrying;
and the backoff it implies (pure functions of the config, the retry number and a random
source, so tests seed the random source and check exact values without sleeping)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..core._checks import exception_types, is_async_callable, is_int, is_number
from ..core._errors import require

Backoff = Literal["full_jitter", "decorrelated_jitter", "exponential"]
"""How the wait before each retry grows (see :class:`RetryConfig`)."""

_BACKOFFS = ("full_jitter", "decorrelated_jitter", "exponential")

PROGRAMMING_ERRORS: tuple[type[BaseException], ...] = (
    TypeError, AttributeError, NameError, ImportError, SyntaxError, AssertionError,
    NotImplementedError, RecursionError,
)
"""Errors that a bug raises the same way on every try: never retried by default
(``NameError`` includes ``UnboundLocalError``, ``ImportError`` ``ModuleNotFoundError``)."""


def _positive(value: object) -> bool:
    return is_number(value) and isinstance(value, int | float) and math.isfinite(value) \
        and value > 0


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryConfig:
    """The rules of a :class:`~streamguard.retry.Retry`.

    Attributes:
        attempts: tries in all, the first included, an int >= 1. Default 3.
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
        never_retry_on: exception types never retried, whatever ``retry_on`` and
            ``retry_if`` say. Default :data:`PROGRAMMING_ERRORS` (``TypeError``,
            ``AttributeError``, ``NameError``, ``ImportError``, ``SyntaxError``,
            ``AssertionError``, ``NotImplementedError``, ``RecursionError``): a bug fails the
            same way every time, and repeating the call repeats its side effects. Pass
            ``()`` to retry them too.
        retry_if: if given, decides instead of ``retry_on`` (``(error) -> bool``, a plain
            function).
        honour_retry_after: wait at least the ``retry_after`` seconds an error carries
            (a downstream's ``Retry-After``). Default True.
        max_retry_after: a ``retry_after`` longer than this many seconds ends the retries
            instead of blocking for it, > 0. Default 60.

    The retryable set by default is therefore every ``Exception`` except the programming
    errors above — including ``ValueError`` and ``KeyError``, which a garbled answer of a
    sick downstream can raise once. Whatever the rules say, cancellation (any
    ``BaseException`` that is not an ``Exception``) is never retried nor swallowed, and an
    exception's own boolean ``retryable`` attribute decides first: a call the circuit
    breaker refused (:class:`~streamguard.breaker.CircuitOpenError`) and a
    :class:`~streamguard.retry.RetryError` say ``retryable = False``;
    :class:`~streamguard.core.TooManyRequests` says ``True``.
    """

    attempts: int = 3
    backoff: Backoff = "full_jitter"
    base_delay: float = 0.1
    multiplier: float = 2.0
    max_delay: float = 10.0
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    never_retry_on: tuple[type[BaseException], ...] = PROGRAMMING_ERRORS
    retry_if: Callable[[BaseException], bool] | None = None
    honour_retry_after: bool = True
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        require(is_int(self.attempts) and self.attempts >= 1,
                "attempts must be an int >= 1 (the first try included)", self.attempts)
        require(self.backoff in _BACKOFFS,
                "backoff must be 'full_jitter', 'decorrelated_jitter' or 'exponential'",
                self.backoff)
        require(_positive(self.base_delay), "base_delay must be a number > 0 (seconds)",
                self.base_delay)
        require(is_number(self.multiplier) and math.isfinite(self.multiplier)
                and self.multiplier >= 1, "multiplier must be a number >= 1", self.multiplier)
        require(_positive(self.max_delay) and self.max_delay >= self.base_delay,
                f"max_delay must be a number >= base_delay={self.base_delay:g}", self.max_delay)
        require(exception_types(self.retry_on),
                "retry_on must be a tuple of exception classes", self.retry_on)
        require(exception_types(self.never_retry_on),
                "never_retry_on must be a tuple of exception classes", self.never_retry_on)
        require(self.retry_if is None
                or (callable(self.retry_if) and not is_async_callable(self.retry_if)),
                "retry_if must be a plain (not async) callable (exception) -> bool, or None",
                self.retry_if)
        require(isinstance(self.honour_retry_after, bool),
                "honour_retry_after must be a bool", self.honour_retry_after)
        require(_positive(self.max_retry_after),
                "max_retry_after must be a number > 0 (seconds)", self.max_retry_after)


def ceiling(config: RetryConfig, retry: int) -> float:
    """``min(max_delay, base_delay × multiplier^(retry-1))`` for retry number *retry* >= 1."""
    base = config.base_delay
    if config.multiplier == 1 or retry <= 1:
        return min(config.max_delay, base)
    # Past the cap more growth changes nothing; stopping there avoids float overflow.
    steps = math.ceil(math.log(config.max_delay / base, config.multiplier))
    return min(config.max_delay, base * config.multiplier ** min(retry - 1, max(0, steps)))


def next_delay(config: RetryConfig, retry: int, previous: float, rng: random.Random) -> float:
    """The wait before retry number *retry*; *previous* is the wait before the one before
    (``base_delay`` for the first retry)."""
    if config.backoff == "full_jitter":
        return rng.uniform(0.0, ceiling(config, retry))
    if config.backoff == "decorrelated_jitter":
        high = max(config.base_delay, previous * 3)
        return min(config.max_delay, rng.uniform(config.base_delay, high))
    return ceiling(config, retry)
