"""The typed events of a circuit breaker: one per state transition and one per call outcome.

``source`` is the breaker's name and ``generation`` the generation the event belongs to (it
grows by one with every transition). Metrics, logs and tests subscribe to them on an
:class:`~streamguard.core.EventBus`; the breaker publishes them after its state is
consistent, never while changing it, so a listener may call back into the breaker.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core._events import Event
from ._state import State


@dataclass(frozen=True, slots=True)
class BreakerEvent(Event):
    """Base of every breaker event."""

    generation: int


@dataclass(frozen=True, slots=True)
class StateTransition(BreakerEvent):
    """The breaker moved from *from_state* to *to_state*; *reason* says why, for humans.

    ``generation`` is the new generation. *open_for* is how long an ``OPEN`` state lasts
    before the timer moves it to ``HALF_OPEN`` (``None`` for the other states).
    """

    from_state: State
    to_state: State
    reason: str
    open_for: float | None = None


@dataclass(frozen=True, slots=True)
class CallSucceeded(BreakerEvent):
    """A permitted call succeeded in *duration* seconds (*slow* if over the slow threshold)."""

    duration: float
    slow: bool


@dataclass(frozen=True, slots=True)
class CallFailed(BreakerEvent):
    """A permitted call failed with *error*, counted as a failure."""

    error: BaseException
    duration: float
    slow: bool


@dataclass(frozen=True, slots=True)
class CallIgnored(BreakerEvent):
    """A permitted call ended without a verdict: *reason* is ``"cancelled"``,
    ``"throttled"`` (too many requests), ``"ignored"`` (an ignored exception type) or
    ``"released"`` (the permit was given back unused)."""

    error: BaseException | None
    reason: str


@dataclass(frozen=True, slots=True)
class CallNotPermitted(BreakerEvent):
    """The breaker refused a call in *state*."""

    state: State


@dataclass(frozen=True, slots=True)
class StaleResultIgnored(BreakerEvent):
    """A result arrived for a call permitted in generation *permit*, an earlier state; it was
    not counted (``generation`` is the current one)."""

    permit: int
    success: bool


@dataclass(frozen=True, slots=True)
class ProbeExpired(BreakerEvent):
    """A half-open probe gave no result within *timeout* seconds; it counts as failed."""

    timeout: float
