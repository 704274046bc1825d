"""The one exception of the circuit breaker: it refused a call."""

from __future__ import annotations

from ..core._errors import StreamGuardError
from ._state import State


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
            message += " (forced open: call force_closed() or disable() to let calls through)"
        elif state is State.HALF_OPEN:
            message += " (its probe calls are all in flight; wait for their results)"
        elif retry_after is not None:
            message += f" (next probe in {retry_after:.3g} s)"
        super().__init__(message)
        self.breaker = breaker
        self.state = state
        self.retry_after = retry_after
