"""Who hears a breaker: the process-wide bus and the breaker's own subscribers.

Events are queued while the state changes and published once it is consistent again
(:meth:`Listeners._flush`), so listeners run outside every critical section and may call back
into the breaker. Call events are built only when someone listens (:meth:`Listeners._watched`):
a healthy call with nobody listening builds no object.
"""

from __future__ import annotations

from collections.abc import Callable

from ..core._events import Event, EventBus, default_bus
from ._state import BreakerEvent, StateTransition


class Listeners:
    """The base of :class:`~streamguard.breaker.CircuitBreaker` that publishes its events.

    Protected API for the breaker: append events to ``_pending`` while changing state, call
    :meth:`_flush` once the state is consistent; ask :meth:`_watched` before building a call
    event. ``_bus`` and ``_observers`` are read on the hot path (``bus.active``).
    """

    __slots__ = ("_bus", "_observers", "_pending", "_publishing", "_state_observers")

    def __init__(self, bus: EventBus | None) -> None:
        self._bus = bus if bus is not None else default_bus()
        # Per-instance subscribers (on_event, on_state_change): plain EventBus objects, so
        # that a failing listener is logged the same way and unsubscribing is the same.
        self._observers = EventBus()
        self._state_observers = EventBus()
        self._pending: list[Event] = []
        self._publishing = False

    def on_state_change(self, fn: Callable[[StateTransition], None]) -> Callable[[], None]:
        """Call *fn* with every :class:`StateTransition` of this breaker; return a function
        that unsubscribes.

        *fn* runs once the breaker's state is consistent, so it may call back in (read
        :attr:`state`, acquire a permit). An exception from *fn* is logged, not raised.

        Example::

            unsubscribe = breaker.on_state_change(lambda e: print(e.from_state, e.to_state))
        """
        return self._state_observers.subscribe(fn)

    def on_event(self, fn: Callable[[BreakerEvent], None]) -> Callable[[], None]:
        """Call *fn* with every event of this breaker (transitions and call outcomes); return
        a function that unsubscribes. The process-wide bus carries the same events."""
        return self._observers.subscribe(fn)

    def _watched(self) -> bool:
        """Whether anyone listens to call events (then they are built and published)."""
        return self._bus.active or self._observers.active

    def _flush(self) -> None:
        if self._publishing or not self._pending:
            return
        self._publishing = True
        try:
            pending = self._pending
            while pending:
                event = pending.pop(0)
                if self._bus.active:
                    self._bus.publish(event)
                if self._observers.active:
                    self._observers.publish(event)
                if self._state_observers.active and isinstance(event, StateTransition):
                    self._state_observers.publish(event)
        finally:
            self._publishing = False
