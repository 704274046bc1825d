"""Typed events of the guarded sink, besides the stage events every stage publishes."""

from __future__ import annotations

from dataclasses import dataclass

from ..core._stage import StageEvent


@dataclass(frozen=True, slots=True)
class ItemDeadLettered(StageEvent):
    """An item went to the dead-letter sink; *reason* is ``"breaker open"``, ``"retries
    exhausted"``, ``"not retryable"`` or ``"call failed"`` (no retry configured); *error* is
    the error that sent it there."""

    reason: str
    error: BaseException


@dataclass(frozen=True, slots=True)
class ItemFellBack(StageEvent):
    """The breaker refused an item and the fallback handled it instead."""

    error: BaseException
