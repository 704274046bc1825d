"""One supervised run, shared by ``run`` and ``demo``: metrics endpoint, live view, signals,
``--duration``, and the summary at the end.

Ctrl-C (SIGINT) and SIGTERM cancel the pipeline's task: every stage is cancelled, sources run
their cleanup (a Kafka source commits what completed), and the summary is still printed. A
second Ctrl-C does not wait for that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from ..metrics import PrometheusExporter
from ._errors import CliError, ExitCode, print_error
from ._report import Report, Reporter, summary_json, summary_text
from ._view import live_view

Work = Callable[[], Coroutine[Any, Any, Any]]


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
    view: str
    refresh: float
    json: bool
    debug: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace, view: str) -> Options:
        """Take the shared options from parsed arguments."""
        return cls(metrics_port=args.metrics_port, metrics_host=args.metrics_host,
                   duration=getattr(args, "duration", None), view=view,
                   refresh=args.refresh, json=args.json, debug=args.debug)


@dataclass(slots=True)
class Outcome:
    """How the run ended, and what the work returned."""

    label: str = "completed"
    code: ExitCode = ExitCode.OK
    result: Any = None
    error: BaseException | None = None


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
    task = asyncio.ensure_future(work())
    outcome = Outcome()

    def stop(label: str, code: ExitCode, signum: int | None) -> None:
        if not task.done() and outcome.code is ExitCode.OK:
            outcome.label, outcome.code = label, code
            task.cancel()
        if signum is not None:
            # A second signal gets Python's default behaviour: no more waiting.
            loop.remove_signal_handler(signum)

    for signum, label, code in ((signal.SIGINT, "interrupted", ExitCode.INTERRUPTED),
                                (signal.SIGTERM, "terminated", ExitCode.TERMINATED)):
        loop.add_signal_handler(signum, stop, label, code, signum)
    timer = (loop.call_later(options.duration, stop, "stopped by --duration", ExitCode.OK, None)
             if options.duration is not None else None)
    try:
        outcome.result = await task
    except asyncio.CancelledError:
        if outcome.code is ExitCode.OK and outcome.label == "completed":
            raise  # we did not cancel it: our own caller is cancelling us
    except CliError:
        raise
    except Exception as exc:
        outcome.label, outcome.code, outcome.error = "failed", failure_code(exc), exc
    finally:
        if timer is not None:
            timer.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return outcome


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
    if options.json:
        print(json.dumps({**own, **summary_json(report, outcome.label)}), flush=True)
        return
    if summary is not None:
        print(summary.text(own), flush=True)
    print(summary_text(report, outcome.label), flush=True)
