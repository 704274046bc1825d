"""Typed events and the bus that carries them.

Stages, limiters, breakers, retries and the Kafka adapter publish frozen event records on
an :class:`EventBus`. Metrics exporters, loggers and tests subscribe; the publishers never
import a metrics library. Listeners are called synchronously, outside any lock, and a
listener that raises is logged and does not disturb the publisher.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_log = logging.getLogger("streamguard.events")


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every event: *source* names the publishing object (stage, breaker, limiter)."""

    source: str


Listener = Callable[[Any], None]


class EventBus:
    """A synchronous publish/subscribe hub for :class:`Event` records.

    Example::

        bus = EventBus()
        seen = []
        unsubscribe = bus.subscribe(seen.append)
        bus.publish(Event(source="demo"))
        unsubscribe()
    """

    __slots__ = ("_listeners", "active")

    def __init__(self) -> None:
        self._listeners: tuple[Listener, ...] = ()
        # A plain attribute, not a property: publishers on hot paths (a breaker's healthy
        # call) read it on every call, and a property costs as much as the call itself.
        self.active = False
        """True when at least one listener is subscribed (publishers may skip building events)."""

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add *listener*; return a function that removes it again."""
        self._listeners = (*self._listeners, listener)
        self.active = True

        def unsubscribe() -> None:
            self._listeners = tuple(x for x in self._listeners if x is not listener)
            self.active = bool(self._listeners)

        return unsubscribe

    def publish(self, event: Event) -> None:
        """Deliver *event* to every listener; a failing listener is logged, not raised."""
        # The tuple is replaced, never mutated, so a listener may (un)subscribe while we loop.
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                _log.exception("event listener %r failed on %r", listener, event)


_default_bus = EventBus()


def default_bus() -> EventBus:
    """Return the process-wide bus used when a component is given no bus of its own."""
    return _default_bus
