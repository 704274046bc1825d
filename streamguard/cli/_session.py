"""One supervised run, shared by ``run`` and ``demo``: metrics endpoint, live view, signals,
``--duration``, and the summary at the end.

Ctrl-C (SIGINT), SIGTERM and ``--duration`` drain first (see :mod:`._drain`): sources stop
taking new items, what is in flight finishes within ``--drain-timeout`` seconds (then it is
cancelled and its acks abandoned), a Kafka source commits what completed and leaves its
group, and the summary is printed. A second signal stops at once; a third gets Python's
default behaviour.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from ..metrics import PrometheusExporter
from ._drain import DrainReport, Pipelines
from ._errors import CliError, ExitCode, print_error
from ._options import DEFAULT_DRAIN_TIMEOUT
from ._report import Report, Reporter, summary_json, summary_text
from ._view import live_view

Work = Callable[[Pipelines], Coroutine[Any, Any, Any]]
"""What a command runs: it starts its own pipelines through the :class:`Pipelines` it gets
(or runs a target that starts them), so that a drain reaches all of them."""


@dataclass(frozen=True, slots=True)
class Summary:
    """A command's own summary: *data* builds its JSON fields (first in ``--json``) from the
    report and how the run ended; *text* renders them as sentences above the stage table."""

    data: Callable[[Report, str], dict[str, Any]]
    text: Callable[[dict[str, Any]], str]


@dataclass(frozen=True, kw_only=True, slots=True)
class Options:
    """The options every supervised command shares (see ``_options.py``)."""

    metrics_port: int | None
    metrics_host: str
    duration: float | None
    drain_timeout: float
    view: str
    refresh: float
    json: bool
    debug: bool
    summary_file: str | None = None
    """Under ``--workers``: where this worker writes its summary (as ``--json`` would print it)
    for the supervisor, instead of printing it."""
    supervisor_fd: int | None = None
    """Under ``--workers``: a pipe whose other end only the supervisor holds; at its end of
    file (the supervisor died) the worker drains by itself."""

    @classmethod
    def from_args(cls, args: argparse.Namespace, view: str) -> Options:
        """Take the shared options from parsed arguments."""
        return cls(metrics_port=args.metrics_port, metrics_host=args.metrics_host,
                   duration=getattr(args, "duration", None),
                   drain_timeout=getattr(args, "drain_timeout", DEFAULT_DRAIN_TIMEOUT),
                   view=view,
                   refresh=args.refresh, json=args.json, debug=args.debug,
                   summary_file=getattr(args, "worker_summary", None),
                   supervisor_fd=getattr(args, "supervisor_fd", None))


@dataclass(slots=True)
class Outcome:
    """How the run ended, and what the work returned."""

    label: str = "completed"
    code: ExitCode = ExitCode.OK
    result: Any = None
    error: BaseException | None = None
    drain: DrainReport | None = None


async def supervise(work: Work, options: Options, summary: Summary | None = None) -> int:
    """Run *work* under the shared options; print the summary; return the exit code."""
    with PrometheusExporter(every_bus=True) as exporter:
        reporter = Reporter(exporter.telemetry)
        async with (_metrics_endpoint(exporter, options),
                    live_view(options.view, reporter, options.refresh)):
            outcome = await _run(work, options)
        report = reporter.report()
    if outcome.error is not None:
        _report_failure(outcome.error, options.debug)
    _print_summary(report, outcome, options, summary)
    return outcome.code


@contextlib.asynccontextmanager
async def _metrics_endpoint(
    exporter: PrometheusExporter, options: Options
) -> AsyncIterator[None]:
    if options.metrics_port is None:
        yield
        return
    try:
        server = await exporter.serve(host=options.metrics_host, port=options.metrics_port)
    except OSError as exc:
        raise CliError(f"cannot serve metrics on {options.metrics_host}:{options.metrics_port}: "
                       f"{exc.strerror or exc}", code=ExitCode.USAGE,
                       hint="pick another --metrics-port, or 0 for a free one") from None
    print(f"metrics: {server.url}", file=sys.stderr, flush=True)
    try:
        yield
    finally:
        await server.aclose()


async def _run(work: Work, options: Options) -> Outcome:
    loop = asyncio.get_running_loop()
    outcome = Outcome()
    with Pipelines() as pipelines:
        task = asyncio.ensure_future(work(pipelines))
        stopper = _Stopper(loop, task, pipelines, outcome, options.drain_timeout)
        for signum, label, code in ((signal.SIGINT, "interrupted", ExitCode.INTERRUPTED),
                                    (signal.SIGTERM, "terminated", ExitCode.TERMINATED)):
            loop.add_signal_handler(signum, stopper.stop, label, code, signum)
        timer = (loop.call_later(options.duration, stopper.stop, "stopped by --duration",
                                 ExitCode.OK, None)
                 if options.duration is not None else None)
        if options.supervisor_fd is not None:
            _watch_supervisor(loop, options.supervisor_fd, stopper)
        try:
            outcome.result = await task
        except asyncio.CancelledError:
            if not stopper.stopping:
                raise  # we did not cancel it: our own caller is cancelling us
        except CliError:
            raise
        except Exception as exc:
            outcome.label, outcome.code, outcome.error = "failed", failure_code(exc), exc
        finally:
            if timer is not None:
                timer.cancel()
            if options.supervisor_fd is not None:
                loop.remove_reader(options.supervisor_fd)
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            await stopper.finished()
    return outcome


def _watch_supervisor(loop: asyncio.AbstractEventLoop, fd: int, stopper: _Stopper) -> None:
    # A supervisor starts its workers in sessions of their own, so that a terminal's Ctrl-C
    # reaches only the supervisor, which forwards one drain to each. If the supervisor dies
    # without forwarding anything (kill -9), its workers must not run on unsupervised: the
    # pipe's write end dies with it, and its end of file means "drain now".
    def readable() -> None:
        if not os.read(fd, 512):
            loop.remove_reader(fd)
            # Our stdout and stderr were pipes to the supervisor: writing to them now would
            # raise BrokenPipeError in the middle of the drain.
            devnull = os.open(os.devnull, os.O_WRONLY)
            for stream in (sys.stdout, sys.stderr):
                os.dup2(devnull, stream.fileno())
            os.close(devnull)
            stopper.stop("terminated: the supervisor is gone", ExitCode.TERMINATED, None)

    loop.add_reader(fd, readable)


class _Stopper:
    """The first stop drains, the second cancels at once, the third is Python's default."""

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Future[Any],
                 pipelines: Pipelines, outcome: Outcome, timeout: float) -> None:
        self.loop, self.task, self.pipelines, self.outcome = loop, task, pipelines, outcome
        self.timeout = timeout
        self.stopping = False
        self._started = 0.0
        self._watchdog: asyncio.Task[None] | None = None

    def stop(self, label: str, code: ExitCode, signum: int | None) -> None:
        if self.task.done():
            return
        if not self.stopping:
            self.stopping = True
            self.outcome.label, self.outcome.code = label, code
            self.outcome.drain = DrainReport(self.timeout)
            self._started = self.loop.time()
            print(f"streamguard: {label}: draining (up to {self.timeout:g} s; "
                  f"{'Ctrl-C again' if signum == signal.SIGINT else 'a second signal'} stops "
                  "at once)", file=sys.stderr, flush=True)
            self.pipelines.drain(self.timeout)
            self._watchdog = self.loop.create_task(self._expire())
            return
        if signum is None:
            return
        # A second signal: stop at once. A third gets Python's default behaviour.
        self.loop.remove_signal_handler(signum)
        if self.outcome.code is ExitCode.OK:  # --duration was draining; the user interrupts
            self.outcome.label, self.outcome.code = label, code
        if self.outcome.drain is not None:
            self.outcome.drain.cancelled = True
        self.pipelines.cancel()
        self.task.cancel()

    async def _expire(self) -> None:
        done, _ = await asyncio.wait((self.task,), timeout=self.timeout)
        if not done and self.outcome.drain is not None:
            self.outcome.drain.expired = True
            self.pipelines.cancel()
            self.task.cancel()

    async def finished(self) -> None:
        """Stop the timeout's watchdog and note how long the drain took."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
        if self.outcome.drain is not None:
            self.outcome.drain.seconds = self.loop.time() - self._started
            result = self.outcome.result
            if getattr(result, "outcome", None) == "drain_expired":
                self.outcome.drain.expired = True


def failure_code(error: BaseException) -> ExitCode:
    """The exit code of a pipeline that failed with *error*: 4 when no Kafka broker could be
    reached (the README's table), else 1."""
    return ExitCode.UNREACHABLE if _unreachable(error) is not None else ExitCode.FAILED


def _unreachable(error: BaseException) -> BaseException | None:
    kafka = sys.modules.get("streamguard.kafka")  # not imported: no Kafka error possible
    if kafka is None:
        return None
    # A broker that refused (credentials, TLS) is as final as one that is not there.
    unreachable: tuple[type[BaseException], ...] = (kafka.BrokerUnreachableError,
                                                    kafka.BrokerRefusedError)
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:  # the error, its causes and the members of exception groups
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, unreachable):
            return current
        pending += [current.__cause__, current.__context__,
                    *getattr(current, "exceptions", ())]
    return None


def _report_failure(error: BaseException, debug: bool) -> None:
    if debug:
        traceback.print_exception(error)
    unreachable = _unreachable(error)
    if unreachable is not None:
        print_error(f"{unreachable}".rstrip("."), None)
        return
    print_error(f"pipeline failed: {type(error).__name__}: {error}",
                None if debug else "run with --debug for the traceback")


def _print_summary(
    report: Report, outcome: Outcome, options: Options, summary: Summary | None
) -> None:
    own = summary.data(report, outcome.label) if summary is not None else {}
    drain = outcome.drain
    if options.summary_file is not None:  # a worker: its supervisor prints the summary
        data = {**own, **summary_json(report, outcome.label), "exit_code": int(outcome.code),
                "drain": None if drain is None else drain.json()}
        with open(options.summary_file, "w", encoding="utf-8") as file:
            json.dump(data, file)
        return
    if options.json:
        print(json.dumps({**own, **summary_json(report, outcome.label),
                          "drain": None if drain is None else drain.json()}), flush=True)
        return
    if summary is not None:
        print(summary.text(own), flush=True)
    print(summary_text(report, outcome.label), flush=True)
    if drain is not None:
        print(drain.text(), flush=True)
