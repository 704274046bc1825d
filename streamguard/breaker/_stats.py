"""`BreakerStatistics`: a frozen snapshot of a circuit breaker."""

from __future__ import annotations

from dataclasses import dataclass

from ._state import State


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
