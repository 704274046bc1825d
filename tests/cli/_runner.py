"""Run the command line as a subprocess, as a user would."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
TARGETS = "tests/cli/targets.py"


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


def env() -> dict[str, str]:
    """The environment of the subprocess: the repo importable, no colour."""
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), out.get("PYTHONPATH")]))
    out.pop("STREAMGUARD_DEBUG", None)
    out.pop("PYTHONASYNCIODEBUG", None)
    return out


def argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "streamguard.cli", *args]


def cli(*args: str, timeout: float = 60.0) -> Result:
    """Run ``streamguard ARGS`` to its end."""
    proc = subprocess.run(argv(*args), cwd=ROOT, env=env(), capture_output=True, text=True,
                          timeout=timeout, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr)


@contextlib.contextmanager
def spawn(*args: str, environment: Mapping[str, str] | None = None,
          new_session: bool = False) -> Iterator[subprocess.Popen[str]]:
    """``streamguard ARGS`` in the background for the block (with *environment* added to
    :func:`env`; with *new_session*, as the leader of a process group of its own, as a shell
    starts a foreground job); killed (by its pid) if the block leaves it running."""
    with subprocess.Popen(argv(*args), cwd=ROOT, env={**env(), **(environment or {})},
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=new_session) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()  # Popen's exit then waits for it and closes the pipes


# ------------------------------------------------------------------ --workers
class Lines:
    """The lines of a pipe, read by a thread, waited for with a deadline."""

    def __init__(self, pipe: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: IO[str]) -> None:
        for line in pipe:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str, *, within: float = 30.0,
                 seen: bool = False) -> re.Match[str]:
        """The first line from now on (with *seen*: also among those already read) that
        matches *pattern*."""
        for old in self.seen if seen else ():
            if match := re.search(pattern, old):
                return match
        deadline = time.monotonic() + within
        while True:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matched {pattern!r} within {within} s:\n"
                                     + "".join(self.seen)) from None
            if line is None:
                raise AssertionError(f"the pipe closed before {pattern!r}:\n"
                                     + "".join(self.seen))
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def rest(self) -> str:
        """Everything, once the process has exited."""
        self._thread.join(timeout=30)
        while (line := self._queue.get_nowait() if not self._queue.empty() else None):
            self.seen.append(line)
        return "".join(self.seen)


@dataclass
class Supervisor:
    proc: subprocess.Popen[str]
    out: Lines
    err: Lines

    def ready(self, pid: int) -> None:
        """Wait until the target of worker process *pid* runs (its signal handlers are set)."""
        self.out.wait_for(rf"^\[worker \d+\] ready: .*pid {pid}$", seen=True)

    def finish(self) -> tuple[str, str]:
        """Wait for the supervisor's exit; its stdout and stderr."""
        self.proc.wait(timeout=60)
        return self.out.rest(), self.err.rest()


@contextlib.contextmanager
def supervisor(*args: str, environment: Mapping[str, str] | None = None,
               new_session: bool = False) -> Iterator[Supervisor]:
    """``streamguard run ARGS`` in the background, its output read line by line."""
    with spawn("run", *args, environment=environment, new_session=new_session) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        yield Supervisor(proc, Lines(proc.stdout), Lines(proc.stderr))


_ENDPOINT = r"streamguard: worker (\d+) \(pid (\d+)\): metrics (http://\S+)$"


def endpoints(lines: Lines, count: int) -> dict[int, tuple[int, str]]:
    """Worker index -> (pid, metrics URL), once *count* workers have said where they serve."""
    found: dict[int, tuple[int, str]] = {}
    while len(found) < count:
        match = lines.wait_for(_ENDPOINT)
        found[int(match.group(1))] = (int(match.group(2)), match.group(3))
    return found


def gone(pid: int) -> bool:
    """True once *pid* has exited (a zombie waiting to be reaped counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as file:
            return file.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
