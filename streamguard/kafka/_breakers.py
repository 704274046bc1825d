"""Breaker subscription: pause every partition while a downstream circuit breaker refuses calls.

The source is handed the breaker objects (``KafkaSource(..., pause_on=(breaker, ...))``) and
subscribes to each one's typed state changes (``breaker.on_state_change``); nothing here looks
at names or at the process-wide bus. ``OPEN`` and ``FORCED_OPEN`` refuse calls, so they pause
(reason ``breaker``); ``HALF_OPEN`` lets probes through, so it resumes, as ``CLOSED`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from streamguard.breaker import State
from streamguard.core._errors import require

_REFUSING = frozenset({State.OPEN, State.FORCED_OPEN})


class PausingBreaker(Protocol):
    """What the source needs of a breaker: its state, and typed state-change callbacks."""

    @property
    def state(self) -> State:
        """The breaker's state now."""
        ...

    def on_state_change(self, fn: Callable[[Any], None]) -> Callable[[], None]:
        """Call *fn* with every state transition; return a function that unsubscribes."""
        ...


class BreakerWatch:
    """Tells *on_change* whether any of *breakers* refuses calls, whenever that changes."""

    def __init__(self, breakers: Iterable[PausingBreaker],
                 on_change: Callable[[bool], None]) -> None:
        self._breakers = tuple(breakers)
        for breaker in self._breakers:
            require(callable(getattr(breaker, "on_state_change", None)),
                    "pause_on must hold circuit breakers (objects with on_state_change), "
                    "not names", breaker)
        self._on_change = on_change
        self._refusing: set[int] = set()
        self._unsubscribe: list[Callable[[], None]] = []

    def start(self) -> None:
        """Subscribe to every breaker and apply their states now."""
        for index, breaker in enumerate(self._breakers):
            self._unsubscribe.append(breaker.on_state_change(self._listener(index)))
            self._changed(index, breaker.state)

    def stop(self) -> None:
        """Unsubscribe from every breaker (idempotent)."""
        while self._unsubscribe:
            self._unsubscribe.pop()()

    def _listener(self, index: int) -> Callable[[Any], None]:
        def changed(transition: Any) -> None:
            self._changed(index, transition.to_state)

        return changed

    def _changed(self, index: int, state: State) -> None:
        before = bool(self._refusing)
        if state in _REFUSING:
            self._refusing.add(index)
        else:
            self._refusing.discard(index)
        if bool(self._refusing) != before:
            self._on_change(bool(self._refusing))
