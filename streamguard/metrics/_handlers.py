"""Which event updates which metric.

Handlers are found per event class on first sight: the class's area (``streamguard.breaker``,
``streamguard.kafka`` …) names a loader that imports that area's event classes. An area is
imported only when one of its events arrives, so the exporter works (and stays cheap to
import) when an optional area or its dependency (aiokafka, redis) is absent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from ..core._stats import StageStatistics
from . import _families as F

_log = logging.getLogger("streamguard.metrics")


class Recorder(Protocol):
    """What a handler may do (implemented by :class:`~streamguard.metrics.Telemetry`)."""

    def inc(self, family: F.Family, labels: tuple[str, ...], by: float = 1.0) -> None: ...

    def set(self, family: F.Family, labels: tuple[str, ...], value: float) -> None: ...

    def retire(self, statistics: StageStatistics) -> None: ...


Handler = Callable[[Recorder, Any], None]
Table = dict[type, Handler]

BREAKER_STATE_VALUES = {
    "closed": 0.0, "open": 1.0, "half_open": 2.0, "disabled": 3.0, "forced_open": 4.0,
}
"""Value of ``streamguard_breaker_state`` per state label."""


def state_label(state: object) -> str:
    """``State.HALF_OPEN`` (or ``"HALF_OPEN"``, ``"half-open"``) → ``"half_open"``."""
    text = str(getattr(state, "value", state))
    return text.strip().lower().replace("-", "_").replace(" ", "_")


# ---------------------------------------------------------------- core
def _core() -> Table:
    from ..core._stage import StageTerminated

    def terminated(rec: Recorder, e: StageTerminated) -> None:
        rec.retire(e.statistics)

    return {StageTerminated: terminated}


# ---------------------------------------------------------------- breaker
def _breaker() -> Table:
    from ..breaker import _events as ev

    def transition(rec: Recorder, e: Any) -> None:
        to_state = state_label(e.to_state)
        rec.inc(F.BREAKER_TRANSITIONS, (e.source, state_label(e.from_state), to_state))
        rec.set(F.BREAKER_STATE, (e.source,), BREAKER_STATE_VALUES.get(to_state, -1.0))

    def call(outcome: str) -> Handler:
        def handler(rec: Recorder, e: Any) -> None:
            rec.inc(F.BREAKER_CALLS, (e.source, outcome))
            if getattr(e, "slow", False):
                rec.inc(F.BREAKER_SLOW_CALLS, (e.source, outcome))
        return handler

    def not_permitted(rec: Recorder, e: Any) -> None:
        rec.inc(F.BREAKER_CALLS, (e.source, "not_permitted"))
        rec.set(F.BREAKER_STATE, (e.source,),
                BREAKER_STATE_VALUES.get(state_label(e.state), -1.0))

    return {
        ev.StateTransition: transition,
        ev.CallSucceeded: call("successful"),
        ev.CallFailed: call("failed"),
        ev.CallIgnored: call("ignored"),
        ev.CallNotPermitted: not_permitted,
        ev.StaleResultIgnored: call("stale"),
        ev.ProbeExpired: call("probe_expired"),
    }


_LOADERS: dict[str, Callable[[], Table]] = {
    "core": _core,
    "breaker": _breaker,
}
_tables: dict[str, Table] = {}


def _table(area: str) -> Table:
    table = _tables.get(area)
    if table is None:
        loader = _LOADERS.get(area)
        try:
            table = loader() if loader is not None else {}
        except (ImportError, AttributeError) as exc:  # optional area or dependency missing
            _log.debug("no metrics for streamguard.%s: %s", area, exc)
            table = {}
        _tables[area] = table
    return table


def _area(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "streamguard" else None


def resolve_handler(cls: type) -> Handler | None:
    """The handler of events of class *cls* (or of its nearest known base), if any."""
    for klass in cls.__mro__:
        area = _area(klass.__module__)
        if area is None:
            continue
        handler = _table(area).get(klass)
        if handler is not None:
            return handler
    return None
