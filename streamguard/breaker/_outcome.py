"""How an exception counts for the breaker: a failure, a success, or no verdict at all."""

from __future__ import annotations

from enum import Enum

from ..core._signals import is_throttled
from ._config import BreakerConfig


class Verdict(Enum):
    """What a finished call means for the breaker's window."""

    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    THROTTLED = "throttled"
    IGNORED = "ignored"


def classify(config: BreakerConfig, error: BaseException) -> Verdict:
    """Judge *error* by the config's rules.

    Cancellation and other non-``Exception`` exits say nothing about the downstream, and a
    throttled answer means it is alive and asking us to slow down: neither trips a breaker.
    """
    if not isinstance(error, Exception):
        return Verdict.CANCELLED
    if is_throttled(error):
        return Verdict.THROTTLED
    if config.ignore_exceptions and isinstance(error, config.ignore_exceptions):
        return Verdict.IGNORED
    if config.is_failure is not None:
        return Verdict.FAILURE if config.is_failure(error) else Verdict.SUCCESS
    if isinstance(error, config.record_exceptions):
        return Verdict.FAILURE
    return Verdict.SUCCESS
