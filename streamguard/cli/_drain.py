"""Drain first, stop second: what ``streamguard run`` (and ``demo``) do on Ctrl-C, SIGTERM
and ``--duration``.

The first stop drains every pipeline the run started, whoever started it: the command's own
(a ``Stream`` target, through :meth:`Pipeline.drain <streamguard.core.Pipeline.drain>`) and
those an async target runs itself (their sources' drain hook, the same one ``drain`` uses).
Sources stop taking new items — a Kafka source stops fetching, finishes what is in flight,
commits what completed and leaves its group — and what is in flight finishes. When the
drain timeout expires, what is left is cancelled and its acks abandoned (a Kafka source
delivers those records again). A second stop cancels at once.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core import Pipeline, Runtime, Stream
from ..core._runtime import watch_pipelines


@dataclass(slots=True)
class DrainReport:
    """How a drain went: its timeout, how long it took, and whether the timeout cut it short
    (then what was still in flight was cancelled and its acks abandoned)."""

    timeout: float
    seconds: float = 0.0
    expired: bool = False
    cancelled: bool = False

    def text(self) -> str:
        """One line for the summary."""
        if self.cancelled:
            return (f"drain: stopped at once by a second signal after {self.seconds:.1f} s; "
                    "what was in flight was abandoned (a Kafka source delivers it again)")
        if self.expired:
            return (f"drain: the {self.timeout:g} s timeout expired; what was still in flight "
                    "was abandoned (a Kafka source delivers it again)")
        return f"drain: finished in {self.seconds:.1f} s (timeout {self.timeout:g} s)"

    def json(self) -> dict[str, Any]:
        """The ``drain`` field of ``--json``."""
        return {"timeout_seconds": self.timeout, "seconds": round(self.seconds, 3),
                "finished": not (self.expired or self.cancelled),
                "expired": self.expired, "cancelled": self.cancelled}


class Pipelines:
    """Every pipeline started while the block runs, by the command or by its target.

    Use as a context manager around the run; :meth:`start` starts a ``Stream`` target;
    :meth:`drain` and :meth:`cancel` reach every pipeline started, also those started while
    a drain is under way (they are drained as soon as they start).
    """

    def __init__(self) -> None:
        self._runtimes: weakref.WeakSet[Runtime] = weakref.WeakSet()
        self._owned: list[Pipeline] = []
        self._owned_runtimes: weakref.WeakSet[Runtime] = weakref.WeakSet()
        self._owning = False
        self._timeout: float | None = None  # set once draining
        self._stop: Callable[[], None] | None = None

    def __enter__(self) -> Pipelines:
        self._stop = watch_pipelines(self._started)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None

    @property
    def draining(self) -> bool:
        """True once :meth:`drain` was called."""
        return self._timeout is not None

    def start(self, stream: Stream[Any], name: str) -> Pipeline:
        """Start *stream* as the command's own pipeline."""
        self._owning = True
        try:
            pipeline = stream.start(name=name)
        finally:
            self._owning = False
        self._owned.append(pipeline)
        if self._timeout is not None:
            self._drain_owned(pipeline, self._timeout)
        return pipeline

    def _started(self, runtime: Runtime) -> None:
        self._runtimes.add(runtime)
        if self._owning:
            self._owned_runtimes.add(runtime)
        elif self._timeout is not None:
            # Its sources register while it subscribes, just after this call.
            asyncio.get_running_loop().call_soon(_drain_sources, runtime, self._timeout)

    def drain(self, timeout: float) -> None:
        """Stop every source taking new items; the command's own pipelines cancel what is
        left after *timeout* seconds themselves (the caller cancels the target's)."""
        self._timeout = timeout
        for pipeline in self._owned:
            self._drain_owned(pipeline, timeout)
        for runtime in list(self._runtimes):
            if runtime not in self._owned_runtimes:
                _drain_sources(runtime, timeout)

    def _drain_owned(self, pipeline: Pipeline, timeout: float) -> None:
        # drain() starts at once and cancels what is left at its deadline; nobody awaits its
        # handle here: the pipeline's result or error reaches the command through wait().
        pipeline.drain(timeout)

    def cancel(self) -> None:
        """Stop the command's own pipelines at once (the caller cancels the target)."""
        for pipeline in self._owned:
            pipeline.cancel()


def _drain_sources(runtime: Runtime, timeout: float) -> None:
    # The sources wait for their in-flight work as long as the command's drain does (its
    # --drain-timeout), not their own shorter defaults: see Drainable.drain.
    if not runtime.closed:
        for source in list(runtime.sources):
            source.drain(timeout)
