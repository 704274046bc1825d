"""The states of a circuit breaker."""

from __future__ import annotations

from enum import StrEnum


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
