"""``streamguard run TARGET --workers N``: N processes of one pipeline under a supervisor.

Each worker is the single-process command itself, ``python -m streamguard.cli run TARGET``,
started with :mod:`subprocess` rather than :mod:`multiprocessing`: a worker then loads the
target, drains, exits and serves its metrics exactly as ``--workers 1`` does (one code path,
already tested), it starts fresh instead of being forked from a process that may hold an
event loop, threads or broker connections (unsafe to fork), the target is never pickled, and
the supervisor needs nothing from a worker but its output, its exit code and the summary it
writes to a file. Workers of a Kafka target share its consumer group, so the broker splits
the partitions between them.

* Each worker serves its own metrics endpoint: ``--metrics-port P`` gives worker *i* port
  ``P + i``, otherwise (or with ``0``) a free port; the supervisor prints every worker's pid
  and endpoint (again when a worker is restarted). A worker's output lines are prefixed with
  ``[worker i]``; it knows its index from ``STREAMGUARD_WORKER_INDEX`` (and the count from
  ``STREAMGUARD_WORKERS``).
* A worker that dies unexpectedly (killed, or its pipeline failed) is logged and restarted
  after a backoff (:mod:`._restarts`); one that keeps dying ends the run with exit code 1. A
  worker that exits 0 finished its work and is not restarted; one that exits with a usage,
  not-found, unreachable-broker or missing-dependency code (2–5) is not restarted either:
  the others are drained and the supervisor exits with that code.
* Workers run in sessions of their own, so a terminal's Ctrl-C reaches the supervisor only,
  and it forwards exactly one signal per signal it gets: the first SIGINT or SIGTERM drains
  every worker (each within ``--drain-timeout``; one still running a few seconds after that
  is killed, and its uncommitted records are delivered again), a second one stops them at
  once. A worker whose supervisor dies (kill -9) drains by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._drain import DrainReport
from ._errors import CliError, ExitCode
from ._restarts import RestartPolicy, Restarts

KILL_GRACE = 5.0
"""Seconds a worker gets after ``--drain-timeout`` (to commit and leave its group, write its
summary and exit) before the supervisor kills it."""

FINAL_CODES = frozenset({ExitCode.USAGE, ExitCode.NOT_FOUND, ExitCode.UNREACHABLE,
                         ExitCode.MISSING_DEPENDENCY})
"""Exit codes a restart cannot cure: the supervisor stops instead."""

_METRICS_LINE = re.compile(r"^metrics: (\S+)$")


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    """What the supervisor runs: the command line of each worker, and how to supervise."""

    workers: int
    target: str
    worker_args: tuple[str, ...]
    """The ``run`` options every worker gets (bootstrap, drain timeout, view …)."""
    debug: bool
    metrics_port: int | None
    metrics_host: str
    duration: float | None
    drain_timeout: float
    json: bool
    policy: RestartPolicy

    @classmethod
    def from_args(cls, args: argparse.Namespace, view: str) -> Plan:
        """The plan for parsed ``run`` arguments; *view* is the resolved ``--view``."""
        port: int | None = args.metrics_port
        if port and port + args.workers - 1 > 65535:
            raise CliError(f"--metrics-port {port} with --workers {args.workers} needs ports "
                           f"{port}..{port + args.workers - 1}, above 65535",
                           code=ExitCode.USAGE, hint="pick a lower port, or 0 for free ones")
        worker_args = ["--drain-timeout", repr(args.drain_timeout),
                       "--metrics-host", args.metrics_host,
                       # Status lines, one per worker and refresh, prefixed; a terminal view
                       # per process would fight over the screen.
                       "--view", "none" if view == "none" else "plain",
                       "--refresh", repr(args.refresh)]
        if args.bootstrap is not None:
            worker_args += ["--bootstrap", args.bootstrap]
        if args.command_config is not None:
            worker_args += ["--command-config", args.command_config]
        return cls(workers=args.workers, target=args.target, worker_args=tuple(worker_args),
                   debug=args.debug, metrics_port=port, metrics_host=args.metrics_host,
                   duration=args.duration, drain_timeout=args.drain_timeout, json=args.json,
                   policy=RestartPolicy(max_restarts=args.max_restarts))

    def port_of(self, index: int) -> int:
        """The metrics port worker *index* asks for (0: a free one)."""
        return self.metrics_port + index if self.metrics_port else 0


@dataclass(slots=True)
class Worker:
    """One worker slot: the processes it ran, how each ended, what each reported."""

    index: int
    restarts: Restarts
    pids: list[int] = field(default_factory=list)
    exits: list[int] = field(default_factory=list)
    """Each process's return code (negative: killed by that signal)."""
    summaries: list[dict[str, Any]] = field(default_factory=list)
    metrics: str | None = None
    process: asyncio.subprocess.Process | None = None


def describe_exit(code: int) -> str:
    """``killed by SIGKILL``, ``exit code 1 (failed)``, …"""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    with contextlib.suppress(ValueError):
        return f"exit code {code} ({ExitCode(code).name.lower().replace('_', ' ')})"
    return f"exit code {code}"


class Supervisor:
    """Runs a :class:`Plan` until every worker has finished or the run is stopped."""

    def __init__(self, plan: Plan, folder: Path) -> None:
        self.plan = plan
        self.folder = folder
        self.workers = [Worker(i, Restarts(plan.policy)) for i in range(plan.workers)]
        self.label, self.code = "completed", ExitCode.OK
        self.failure: ExitCode | None = None
        self.drain: DrainReport | None = None
        self._stopped = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._began = self._loop.time()
        self._stop_began = 0.0
        self._watchdog: asyncio.Task[None] | None = None
        self.elapsed = 0.0
        """Seconds the run took, once :meth:`run` returned."""

    @property
    def stopping(self) -> bool:
        """True once a signal, ``--duration`` or a worker that cannot be restarted ended
        the run."""
        return self._stopped.is_set()

    async def run(self) -> int:
        """Start the workers, keep them running, drain them; return the exit code (the
        summary is :mod:`._workers_report`'s)."""
        loop = self._loop
        for signum, label, code in ((signal.SIGINT, "interrupted", ExitCode.INTERRUPTED),
                                    (signal.SIGTERM, "terminated", ExitCode.TERMINATED)):
            loop.add_signal_handler(signum, self.stop, label, code, signum)
        timer = (loop.call_later(self.plan.duration, self.stop, "stopped by --duration",
                                 ExitCode.OK, None)
                 if self.plan.duration is not None else None)
        _say(f"{self.plan.workers} workers of {self.plan.target}; Ctrl-C or SIGTERM drains "
             "them all")
        try:
            await asyncio.gather(*(self._keep(worker) for worker in self.workers))
        finally:
            if timer is not None:
                timer.cancel()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            if self._watchdog is not None:
                self._watchdog.cancel()
                await asyncio.gather(self._watchdog, return_exceptions=True)
        if self.drain is not None:
            self.drain.seconds = loop.time() - self._stop_began
            self.drain.expired = self.drain.expired or any(
                (w.summaries[-1].get("drain") or {}).get("expired", False)
                for w in self.workers if w.summaries)
        self.elapsed = loop.time() - self._began
        return self._exit_code()

    def _exit_code(self) -> ExitCode:
        if self.failure is not None:
            return self.failure
        if self.stopping:  # a worker whose drain failed fails the run, as --workers 1 does
            for worker in self.workers:
                last = worker.exits[-1] if worker.exits else 0
                if 0 < last < ExitCode.INTERRUPTED:
                    return ExitCode(last) if last in FINAL_CODES else ExitCode.FAILED
        return self.code

    # ------------------------------------------------------------------ one worker slot
    async def _keep(self, worker: Worker) -> None:
        """Run worker slot *worker*, restarting it as the policy says, until it is done."""
        while not self.stopping:
            began = self._loop.time()
            code = await self._run_once(worker)
            ran_for = self._loop.time() - began
            pid = worker.pids[-1]
            if self.stopping:
                return
            if code == 0:
                _say(f"worker {worker.index} (pid {pid}): finished")
                return
            if code in FINAL_CODES:
                _say(f"worker {worker.index} (pid {pid}): {describe_exit(code)}; a restart "
                     "cannot help: draining the others")
                self.fail(ExitCode(code))
                return
            delay = worker.restarts.died(ran_for)
            if delay is None:
                _say(f"worker {worker.index} (pid {pid}): {describe_exit(code)} after "
                     f"{ran_for:.1f} s; it died {worker.restarts.in_a_row} times in a row "
                     f"(--max-restarts {self.plan.policy.max_restarts}): giving up, draining "
                     "the others")
                self.fail(ExitCode.FAILED)
                return
            _say(f"worker {worker.index} (pid {pid}): {describe_exit(code)} after "
                 f"{ran_for:.1f} s; restarting it in {delay:g} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), delay)

    async def _run_once(self, worker: Worker) -> int:
        """Start one process for *worker*, relay its output, wait for its end; return its
        return code."""
        summary = self.folder / f"worker-{worker.index}-{len(worker.pids)}.json"
        # The worker watches the read end; the write end stays here (not inheritable, so no
        # other worker holds it) and closes when this process ends, however it ends.
        lifeline, held = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                *self._argv(worker, summary, lifeline), env=self._env(worker),
                start_new_session=True, pass_fds=(lifeline,), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=1 << 20)
        except BaseException:
            os.close(held)
            raise
        finally:
            os.close(lifeline)
        try:
            return await self._watch(worker, process, summary)
        finally:
            os.close(held)

    async def _watch(self, worker: Worker, process: asyncio.subprocess.Process,
                     summary: Path) -> int:
        worker.process = process
        worker.pids.append(process.pid)
        worker.metrics = None
        _say(f"worker {worker.index} (pid {process.pid}): started")
        if self.stopping:  # stopped while it was being started: it missed the signal
            self._signal(worker, signal.SIGTERM)
        assert process.stdout is not None
        assert process.stderr is not None
        await asyncio.gather(self._relay(worker, process.stdout, sys.stdout),
                             self._relay(worker, process.stderr, sys.stderr))
        code = await process.wait()
        worker.exits.append(code)
        worker.process = None
        written = _read_summary(summary)  # a small local file: no need for a thread
        if written is not None:
            worker.summaries.append(written)
        return code

    def _argv(self, worker: Worker, summary: Path, lifeline: int) -> list[str]:
        head = [sys.executable, "-m", "streamguard.cli", *(["--debug"] if self.plan.debug
                                                           else []), "run", self.plan.target]
        return [*head, *self.plan.worker_args, "--metrics-port", str(self.plan.port_of(
            worker.index)), "--worker-summary", str(summary), "--supervisor-fd", str(lifeline)]

    def _env(self, worker: Worker) -> dict[str, str]:
        # Unbuffered, so that the target's own prints reach the terminal as they happen.
        return {**os.environ, "STREAMGUARD_WORKER_INDEX": str(worker.index),
                "STREAMGUARD_WORKERS": str(self.plan.workers), "PYTHONUNBUFFERED": "1"}

    async def _relay(self, worker: Worker, reader: asyncio.StreamReader, out: Any) -> None:
        prefix = f"[worker {worker.index}] "
        while line := await reader.readline():
            text = line.decode(errors="replace").rstrip("\n")
            match = _METRICS_LINE.match(text) if out is sys.stderr else None
            if match:
                worker.metrics = match.group(1)
                _say(f"worker {worker.index} (pid {worker.pids[-1]}): metrics {worker.metrics}")
                continue
            print(prefix + text, file=out, flush=True)

    # ------------------------------------------------------------------ stopping
    def stop(self, label: str, code: ExitCode, signum: int | None) -> None:
        """The first call drains every worker (forwarding *signum*, SIGTERM for
        ``--duration``), the second stops them at once, a third is Python's default."""
        if not self.stopping:
            self._stopped.set()
            self.label, self.code = label, code
            self.drain = DrainReport(self.plan.drain_timeout)
            self._stop_began = self._loop.time()
            again = ("Ctrl-C" if signum is None else "Ctrl-C again" if signum == signal.SIGINT
                     else "a second signal")
            running = self._running()
            _say(f"{label}: draining {running} worker{'s' * (running != 1)} (up to "
                 f"{self.plan.drain_timeout:g} s; {again} stops at once)")
            for worker in self.workers:
                self._signal(worker, signum or signal.SIGTERM)
            self._watchdog = self._loop.create_task(self._expire())
            return
        if signum is None:
            return
        self._loop.remove_signal_handler(signum)
        if self.code is ExitCode.OK:  # --duration was draining; the user interrupts
            self.label, self.code = label, code
        if self.drain is not None:
            self.drain.cancelled = True
        for worker in self.workers:
            self._signal(worker, signum)

    def fail(self, code: ExitCode) -> None:
        """A worker cannot go on: drain the others and end with *code*."""
        if self.failure is None and not self.stopping:
            self.failure = code
            self.stop("failed", code, None)

    def _running(self) -> int:
        return sum(1 for w in self.workers if w.process is not None)

    def _signal(self, worker: Worker, signum: int) -> None:
        process = worker.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)

    async def _expire(self) -> None:
        await asyncio.sleep(self.plan.drain_timeout + KILL_GRACE)
        for worker in self.workers:
            if worker.process is not None and worker.process.returncode is None:
                _say(f"worker {worker.index} (pid {worker.process.pid}): still running "
                     f"{KILL_GRACE:g} s after the drain timeout: killed (its uncommitted "
                     "records are delivered again)")
                if self.drain is not None:
                    self.drain.expired = True
                self._signal(worker, signal.SIGKILL)


def _read_summary(path: Path) -> dict[str, Any] | None:
    """The summary a worker wrote at its end; ``None`` if it wrote none (killed outright)."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


def _say(message: str) -> None:
    print(f"streamguard: {message}", file=sys.stderr, flush=True)


def supervise(args: argparse.Namespace, view: str) -> tuple[Supervisor, int]:
    """Supervise ``args.workers`` processes of the target (the target itself was checked by
    the caller) until the run ends; return the supervisor (what the summary reads) and the
    exit code."""
    plan = Plan.from_args(args, view)
    with tempfile.TemporaryDirectory(prefix="streamguard-workers-") as folder:
        return asyncio.run(_supervise(plan, Path(folder)))


async def _supervise(plan: Plan, folder: Path) -> tuple[Supervisor, int]:
    supervisor = Supervisor(plan, folder)
    return supervisor, await supervisor.run()
