"""Typed events of retry; ``source`` names the retry (usually the stage it serves).

Metrics count ``RetryAttempted`` as ``streamguard_retry_attempts_total{stage}`` and
``RetryBudgetExhausted`` as ``streamguard_retry_budget_exhausted_total{stage}``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core._events import Event


@dataclass(frozen=True, slots=True)
class RetryEvent(Event):
    """Base of every retry event."""


@dataclass(frozen=True, slots=True)
class RetryAttempted(RetryEvent):
    """Try number *attempt* (2 or more) will start after *delay* seconds, because the try
    before failed with *error*."""

    attempt: int
    delay: float
    error: BaseException


@dataclass(frozen=True, slots=True)
class RetryBudgetExhausted(RetryEvent):
    """A retry was wanted after *error* but the shared budget had none left."""

    attempt: int
    error: BaseException


@dataclass(frozen=True, slots=True)
class RetryGaveUp(RetryEvent):
    """The call failed for good after *attempts* tries; *reason* says why."""

    attempts: int
    reason: str
    error: BaseException
