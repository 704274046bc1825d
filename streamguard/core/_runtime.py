"""The runtime of one running pipeline: its name, its stages, and the tasks they spawn.

Stages register here while the pipeline is being subscribed, so that their statistics (each a
frozen :class:`StageStatistics`, the record this module defines) can be read per pipeline and
every task a stage started is cancelled and awaited when the pipeline ends:
a finished ``run()`` leaves no pending task behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import weakref
from collections.abc import Callable, Coroutine, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from ._draining import Ended
from ._events import EventBus, default_bus

_log = logging.getLogger("streamguard")
_counter = itertools.count(1)


@dataclass(frozen=True, slots=True)
class StageStatistics:
    """A snapshot of one stage's counters.

    Attributes:
        pipeline: name of the pipeline the stage runs in.
        stage: name of the stage (``"map"``, ``"buffer"`` or the ``name=`` given to it).
        received: items received from upstream.
        emitted: items emitted downstream.
        dropped: items dropped on purpose (filter, overflow strategy, take); each was completed.
        rejected: items rejected by a limiter or routed to a dead-letter sink; each was completed.
        failed: items that failed and were reported failed to their source.
        in_flight: items currently being processed (async calls under way).
        buffered: items held, waiting for downstream demand.
        capacity: the bound on ``buffered + in_flight`` (0 for stages that hold nothing).
        demand: outstanding downstream demand (requested and not yet emitted).
    """

    pipeline: str
    stage: str
    received: int
    emitted: int
    dropped: int
    rejected: int
    failed: int
    in_flight: int
    buffered: int
    capacity: int
    demand: int


class StatisticsSource(Protocol):
    """Anything with a name and a statistics snapshot (every stage)."""

    name: str

    def statistics(self) -> StageStatistics:
        """Return a frozen snapshot of the counters."""
        ...


class Drainable(Protocol):
    """A source that can stop taking new items (every :class:`~streamguard.core.Publisher`).

    What ``drain`` returns is not used by the drainer: the library's sources return a
    :class:`~streamguard.core.Draining`, a source of one's own may return ``None``."""

    def drain(self, timeout: float | None = None) -> object:
        """Stop taking new items; complete once what was handed out is finished.

        *timeout* is the drainer's deadline in seconds (``None``: the source's own default).
        At the deadline the drainer cancels what is left, which abandons its acks; a source
        that waits for what it handed out must not give up before then, or work that finishes
        inside the deadline would finish after the source stopped tracking it."""
        ...


class Runtime:
    """Book-keeping for one pipeline run. Created by :meth:`Stream.run` and friends."""

    __slots__ = ("__weakref__", "bus", "closed", "drained", "ended", "name", "owner", "sources",
                 "stages", "tasks")

    def __init__(self, name: str | None = None, bus: EventBus | None = None) -> None:
        self.name = name or f"pipeline-{next(_counter)}"
        self.bus = bus or default_bus()
        self.stages: list[StatisticsSource] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.sources: list[Drainable] = []
        self.closed = False
        self.owner: object = None
        """The :class:`~streamguard.core.Pipeline` running this runtime (``None`` for
        ``iterate()``): a source's drain handle waits for its end."""
        self.drained = False
        """True once one of its sources was drained (a pipeline that then completes reports
        the outcome ``"drained"``)."""
        self.ended: Ended[None] = Ended()
        """Set once :meth:`aclose` has run (what a runtime no pipeline owns is waited on by)."""
        _live.add(self)
        for watcher in _watchers:
            watcher(self)

    def register(self, stage: StatisticsSource) -> None:
        """Record *stage* as part of this pipeline, renaming it ``name-2``, ``name-3``… if
        another stage already has its name, so that metrics never merge two stages."""
        taken = {s.name for s in self.stages}
        if stage.name in taken:
            base, n = stage.name, 2
            while f"{base}-{n}" in taken:
                n += 1
            stage.name = f"{base}-{n}"
        self.stages.append(stage)

    def add_source(self, source: Drainable) -> None:
        """Record *source* so that :meth:`~streamguard.core.Pipeline.drain` can reach it."""
        self.sources.append(source)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start *coro* as a task owned by this pipeline."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}:{name}")
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Stages route their errors downstream themselves; reaching here is a bug.
            _log.error("task %s of pipeline %r failed", task.get_name(), self.name,
                       exc_info=task.exception())

    def statistics(self) -> list[StageStatistics]:
        """Return one snapshot per stage, from source to sink."""
        return [stage.statistics() for stage in reversed(self.stages)]

    async def aclose(self) -> None:
        """Cancel and await every task still running; idempotent."""
        self.closed = True
        while self.tasks:
            pending = list(self.tasks)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            self.tasks.difference_update(pending)
        self.ended.set(None)


_live: weakref.WeakSet[Runtime] = weakref.WeakSet()
_current: ContextVar[Runtime | None] = ContextVar("streamguard_runtime", default=None)


_watchers: tuple[Callable[[Runtime], None], ...] = ()


def watch_pipelines(watcher: Callable[[Runtime], None]) -> Callable[[], None]:
    """Call *watcher* with the runtime of every pipeline created from now on, before its
    stages subscribe (so before any of them publishes); return a function that stops it.

    For process-wide observers: ``streamguard run`` watches the bus of every pipeline a
    target starts, also one the target built itself, and drains those pipelines on Ctrl-C.
    """
    global _watchers
    _watchers = (*_watchers, watcher)

    def stop() -> None:
        global _watchers
        _watchers = tuple(w for w in _watchers if w is not watcher)

    return stop


def live_pipelines() -> list[Runtime]:
    """Return the runtimes of pipelines that are still referenced (running or just ended)."""
    return [rt for rt in list(_live) if not rt.closed]


def current_runtime() -> Runtime:
    """Return the runtime being subscribed, or a fresh detached one."""
    rt = _current.get()
    return Runtime() if rt is None else rt


@contextlib.contextmanager
def activate(rt: Runtime) -> Iterator[Runtime]:
    """Make *rt* the runtime that stages created in this block register with."""
    token = _current.set(rt)
    try:
        yield rt
    finally:
        _current.reset(token)
