"""`Telemetry`: one subscriber to an event bus that keeps what the events say, plus the live
statistics of the pipelines on that bus, read only when someone asks (a scrape, a refresh of
the CLI's view). The hot path pays for nothing but the events it already publishes.

It imports no metrics library: the Prometheus collector and the command line's live view are
two readers of the same record.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core._errors import require
from ..core._events import EventBus, default_bus
from ..core._protocol import add_demand
from ..core._runtime import Runtime, StageStatistics, live_pipelines, watch_pipelines
from ._families import STAGE_OUTCOMES, Family
from ._handlers import Handler, resolve_handler

_log = logging.getLogger("streamguard.metrics")

_GAUGES = ("in_flight", "buffered", "capacity", "demand")
_FIELDS = STAGE_OUTCOMES + _GAUGES
_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class StageSample:
    """One stage as the exporter sees it: counters summed over every run of the pipeline
    name (finished runs plus the running one), gauges of the running one.

    Attributes:
        statistics: the merged counters; gauges are 0 when nothing runs.
        running: a pipeline of this name is running now and this stage is still active.
    """

    statistics: StageStatistics
    running: bool


class Telemetry:
    """Collects events of one :class:`~streamguard.core.EventBus` into counters and gauges.

    Stage counters of finished pipelines are kept (from their ``StageTerminated`` events), so
    a counter never goes backwards when a pipeline ends or runs again under the same name;
    the last *max_finished_pipelines* pipeline names are kept, the oldest forgotten first.

    With ``every_bus=True`` it listens to the process-wide bus and, from the moment a
    pipeline starts, to that pipeline's bus: a program that runs its pipelines with an
    :class:`~streamguard.core.EventBus` of its own is watched too (that is what
    ``streamguard run`` does). Events published on such a bus before its first pipeline
    started are not seen. It keeps those buses alive until :meth:`close`.

    Example::

        with Telemetry() as telemetry:
            await stream.run(name="orders")
            [sample] = [s for s in telemetry.stages() if s.statistics.stage == "store"]
    """

    def __init__(
        self, bus: EventBus | None = None, *, every_bus: bool = False,
        max_finished_pipelines: int = 1000,
    ) -> None:
        require(isinstance(max_finished_pipelines, int) and max_finished_pipelines >= 1
                and not isinstance(max_finished_pipelines, bool),
                "max_finished_pipelines must be an int >= 1", max_finished_pipelines)
        require(not (every_bus and bus is not None),
                "every_bus=True watches every bus: pass no bus", bus)
        self.bus = bus or default_bus()
        self._max_finished = max_finished_pipelines
        self._values: dict[Family, dict[tuple[str, ...], float]] = {}
        # pipeline -> stage -> summed final counters of the stage runs that ended
        self._retired: OrderedDict[str, dict[str, list[int]]] = OrderedDict()
        self._dispatch: dict[type, Handler | None] = {}
        self._buses: dict[EventBus, Callable[[], None]] = {}
        self._listen(self.bus)
        self._stop_watching = watch_pipelines(self._on_pipeline) if every_bus else None

    # ---------------------------------------------------------------- lifecycle
    def _listen(self, bus: EventBus) -> None:
        if bus not in self._buses:
            self._buses[bus] = bus.subscribe(self._on_event)

    def _on_pipeline(self, runtime: Runtime) -> None:
        self._listen(runtime.bus)

    def close(self) -> None:
        """Stop listening to the buses (idempotent); what was collected stays readable."""
        if self._stop_watching is not None:
            self._stop_watching()
            self._stop_watching = None
        buses, self._buses = self._buses, {}
        for unsubscribe in buses.values():
            unsubscribe()

    def __enter__(self) -> Telemetry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------- event side
    def _on_event(self, event: object) -> None:
        cls = type(event)
        handler = self._dispatch.get(cls, _MISSING)
        if handler is _MISSING:
            handler = self._dispatch[cls] = resolve_handler(cls)
        if handler is not None:
            handler(self, event)

    def inc(self, family: Family, labels: tuple[str, ...], by: float = 1.0) -> None:
        """Add *by* to a counter (used by the event handlers)."""
        series = self._values.setdefault(family, {})
        series[labels] = series.get(labels, 0.0) + by

    def set(self, family: Family, labels: tuple[str, ...], value: float) -> None:
        """Set a gauge (used by the event handlers)."""
        self._values.setdefault(family, {})[labels] = value

    def get(self, family: Family, labels: tuple[str, ...]) -> float | None:
        """The value of one series, or ``None`` if it does not exist."""
        return self._values.get(family, {}).get(labels)

    def discard(self, family: Family, labels: tuple[str, ...]) -> None:
        """Forget one series (a gauge that no longer describes anything)."""
        self._values.get(family, {}).pop(labels, None)

    def retire(self, statistics: StageStatistics) -> None:
        """Keep the final counters of a stage that ended."""
        stages = self._retired.get(statistics.pipeline)
        if stages is None:
            stages = self._retired[statistics.pipeline] = {}
            while len(self._retired) > self._max_finished:
                self._retired.popitem(last=False)
        else:
            self._retired.move_to_end(statistics.pipeline)
        totals = stages.setdefault(statistics.stage, [0] * len(STAGE_OUTCOMES))
        for i, name in enumerate(STAGE_OUTCOMES):
            totals[i] += getattr(statistics, name)

    # ---------------------------------------------------------------- reading side
    def values(self, family: Family) -> dict[tuple[str, ...], float]:
        """A copy of one event-fed family's series: label values -> value."""
        return dict(self._values.get(family, {}))

    def running_pipelines(self) -> list[str]:
        """Names of the pipelines on the watched buses that run now."""
        return [rt.name for rt in live_pipelines() if rt.bus in self._buses]

    def stages(self) -> list[StageSample]:
        """Every known stage, running pipelines first (source to sink), then finished ones."""
        merged: dict[tuple[str, str], list[int]] = {}
        running: set[tuple[str, str]] = set()
        for rt in live_pipelines():
            if rt.bus not in self._buses:
                continue
            for stage in reversed(rt.stages):
                # A stage that ended published its final counters already (see retire()).
                if getattr(stage, "finished", False):
                    merged.setdefault((rt.name, stage.name), [0] * len(_FIELDS))
                    continue
                _add_live(merged, running, stage.statistics())
        for pipeline, finished in list(self._retired.items()):
            for name, totals in finished.items():
                row = merged.setdefault((pipeline, name), [0] * len(_FIELDS))
                for i, value in enumerate(totals):
                    row[i] += value
        return [_sample(key, row, key in running) for key, row in merged.items()]


def _add_live(
    merged: dict[tuple[str, str], list[int]], running: set[tuple[str, str]],
    stats: StageStatistics,
) -> None:
    key = (stats.pipeline, stats.stage)
    row = merged.setdefault(key, [0] * len(_FIELDS))
    running.add(key)
    for i, name in enumerate(_FIELDS):
        # Two stages of one name in one pipeline are summed; demand saturates like the core's.
        row[i] = add_demand(row[i], getattr(stats, name))


def _sample(key: tuple[str, str], row: list[int], running: bool) -> StageSample:
    values = dict(zip(_FIELDS, row, strict=True))
    return StageSample(StageStatistics(pipeline=key[0], stage=key[1], **values), running)
