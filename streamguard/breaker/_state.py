"""What a circuit breaker reports: its states, its refusal error, its typed events and its
statistics snapshot.

Events carry ``source`` (the breaker's name) and ``generation`` (grows by one with every
transition). Metrics, logs and tests subscribe to them on an
:class:`~streamguard.core.EventBus`, or on one breaker with
:meth:`~streamguard.breaker.CircuitBreaker.on_state_change` /
:meth:`~streamguard.breaker.CircuitBreaker.on_event`. The breaker publishes them after its
state is consistent, never while changing it, so a listener may call back into the breaker.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..core._errors import StreamGuardError
from ..core._events import Event


class State(StrEnum):
    """Where a :class:`~streamguard.breaker.CircuitBreaker` stands.

    * ``CLOSED`` — calls flow; outcomes are recorded in the sliding window.
    * ``OPEN`` — calls are refused until a timer moves the breaker to ``HALF_OPEN``.
    * ``HALF_OPEN`` — a few probe calls decide whether to close or to open again.
    * ``DISABLED`` — calls always flow and nothing is recorded (set by hand).
    * ``FORCED_OPEN`` — calls are always refused until changed by hand.
    """

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"
    DISABLED = "DISABLED"
    FORCED_OPEN = "FORCED_OPEN"


# The states as module globals for the breaker's hot paths (`state is CLOSED`): a global is
# read faster than the enum's attribute.
CLOSED, OPEN, HALF_OPEN = State.CLOSED, State.OPEN, State.HALF_OPEN
DISABLED, FORCED_OPEN = State.DISABLED, State.FORCED_OPEN


class CircuitOpenError(StreamGuardError):
    """The breaker did not permit the call; the call was not made.

    The message names the breaker and its state, as resilience4j's does:
    ``CircuitBreaker 'payments' is OPEN and does not permit further calls``, followed by
    when the next probe may go. A retry never repeats a call refused this way.

    Attributes:
        breaker: the breaker's name.
        state: its state when it refused.
        retry_after: seconds until it lets a probe through (``None`` if only a manual
            change will, as in ``FORCED_OPEN``; ``0.0`` if it waits for a probe slot).
    """

    retryable = False

    def __init__(self, breaker: str, state: State, retry_after: float | None) -> None:
        message = f"CircuitBreaker {breaker!r} is {state.value} and does not permit further calls"
        if state is State.FORCED_OPEN:
            message += " (forced open: call reset() or disable() to let calls through)"
        elif state is State.HALF_OPEN:
            message += " (its probe calls are all in flight; wait for their results)"
        elif retry_after is not None:
            message += f" (next probe in {retry_after:.3g} s)"
        super().__init__(message)
        self.breaker = breaker
        self.state = state
        self.retry_after = retry_after


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


@dataclass(frozen=True, slots=True)
class SharedStateLost(BreakerEvent):
    """The breaker's shared state (*storage*, shown without credentials) stopped answering:
    the breaker decides alone, from its own calls, until it answers again. Published once per
    outage, with the first *error*."""

    storage: str
    error: str


@dataclass(frozen=True, slots=True)
class SharedStateRestored(BreakerEvent):
    """The shared state answers again after *duration* seconds; the breaker rejoins it (its
    state becomes the shared one). *local_outcomes* calls were judged alone meanwhile."""

    storage: str
    duration: float
    local_outcomes: int


@dataclass(frozen=True, slots=True)
class BreakerStatistics:
    """What a breaker knows right now.

    Attributes:
        name: the breaker's name.
        state: its state.
        generation: grows by one with every transition; results of calls permitted in an
            earlier generation are ignored.
        calls: outcomes in the sliding window (``CLOSED`` only; reset on every transition).
        failures: failed calls among them.
        slow_calls: slow calls among them.
        failure_rate: ``failures / calls`` (0.0 with no calls).
        slow_call_rate: ``slow_calls / calls`` (0.0 with no calls).
        not_permitted: calls refused since the breaker was made.
        probes_in_flight: ``HALF_OPEN`` probes without a result yet.
        consecutive_reopens: failed recoveries since it last closed (drives open growth).
        open_remaining: seconds until ``OPEN`` turns ``HALF_OPEN`` (0.0 in other states).
        shared: whether the state is shared through a storage (Redis).
        shared_down: the storage does not answer; the breaker decides alone meanwhile.
        shared_outages: outages of the storage seen since the breaker was made.
        local_outcomes: call outcomes judged alone during those outages.
    """

    name: str
    state: State
    generation: int
    calls: int
    failures: int
    slow_calls: int
    failure_rate: float
    slow_call_rate: float
    not_permitted: int
    probes_in_flight: int
    consecutive_reopens: int
    open_remaining: float
    shared: bool = False
    shared_down: bool = False
    shared_outages: int = 0
    local_outcomes: int = 0
