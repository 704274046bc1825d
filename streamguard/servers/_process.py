"""The life cycle every server launcher shares, whatever the server.

A launcher is a :class:`ManagedServer` subclass that says how to start its process
(:meth:`~ManagedServer._command`) and how to tell that it answers
(:meth:`~ManagedServer._answers`). The base class does the rest the same way for all: a private
temporary folder, one child process logging to ``<folder>/<log_name>`` that dies with the process
that started it, waiting until it answers (or failing with the tail of its log), stopping it by
its pid (SIGTERM, then SIGKILL) and removing the folder, and ``with`` support.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from ..core._errors import StreamGuardError, require


class ServerStartError(StreamGuardError):
    """A local server could not be started; the message says why and what to do."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the test process dies hard (kill -9, a
    # timeout), the kernel kills the server too instead of leaving it running.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def spawn(argv: Sequence[str], *, log_path: Path, env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start *argv* with stdout and stderr going to *log_path*, killed if this process dies."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            preexec_fn=_die_with_parent if os.name == "posix" else None,
        )


def stop_process(process: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    """Stop *process* by its pid: SIGTERM, wait up to *grace* seconds, then SIGKILL."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10.0)


def log_tail(path: Path, lines: int = 20) -> str:
    """Return the last *lines* lines of the log at *path* (empty if there is none)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def check_lifecycle(*, start_timeout: float, stop_grace: float, port: int = 0) -> None:
    """Validate the options every launcher config has; raise ``ConfigError`` naming the rule."""
    require(0 <= port <= 65535, "port must be in 0..65535", port)
    require(start_timeout > 0, "start_timeout must be > 0", start_timeout)
    require(stop_grace >= 0, "stop_grace must be >= 0", stop_grace)


class ManagedServer:
    """One local server process on 127.0.0.1, started and stopped by this object.

    Subclasses override :meth:`_command` (prepare the folder, pick the port, return the command
    line) and :meth:`_answers` (a cheap readiness probe), and set the class attributes below.
    ``with server:`` starts it and always stops it.
    """

    what: ClassVar[str] = "server"
    """The server's name in error messages."""
    log_name: ClassVar[str] = "server.log"
    """File name, inside the server's folder, of its combined stdout/stderr."""
    folder_prefix: ClassVar[str] = "streamguard-server-"
    """Prefix of the temporary folder the server runs in."""
    poll_interval: ClassVar[float] = 0.05
    """Seconds between two readiness probes while starting."""
    start_error: ClassVar[type[ServerStartError]] = ServerStartError
    """What :meth:`start` raises when the server exits or does not answer in time."""
    slow_hint: ClassVar[str] = ""
    """Added to the timeout message, e.g. which option to raise on a slow machine."""

    def __init__(self, *, start_timeout: float, stop_grace: float, port: int = 0) -> None:
        self.port = port
        self.startup_seconds = 0.0
        self._start_timeout = start_timeout
        self._stop_grace = stop_grace
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """What :meth:`start` returns: ``127.0.0.1:PORT`` unless a subclass says otherwise."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """True while the process started by :meth:`start` is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path | None:
        """The combined stdout/stderr log while the server's folder exists."""
        return self._dir / self.log_name if self._dir is not None else None

    def start(self) -> str:
        """Start the server, wait until it answers and return :attr:`address`.

        On any failure the process is stopped and its folder removed before the error propagates.
        """
        require(not self.running, "start() needs a stopped server", self.pid)
        began = time.monotonic()
        try:
            folder = self._workdir()
            argv = self._command(folder)
            self._process = spawn(argv, log_path=folder / self.log_name,
                                  env=self._environment(), cwd=folder)
            self._wait_answering()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self.address

    def stop(self) -> None:
        """Stop the process by its pid (SIGTERM, then SIGKILL) and remove its folder."""
        if self._process is not None:
            stop_process(self._process, grace=self._stop_grace)
            self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _command(self, folder: Path) -> list[str]:
        """Prepare *folder* (config files, ports) and return the command line to run."""
        raise NotImplementedError

    def _answers(self) -> bool:
        """True once the server serves requests."""
        raise NotImplementedError

    def _environment(self) -> Mapping[str, str] | None:
        """The child's environment (``None``: this process's environment)."""
        return None

    def _workdir(self) -> Path:
        # Kept across a kill() and start() again, so that a restart logs to the same file.
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix=self.folder_prefix))
        return self._dir

    def _wait_answering(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise self.start_error(
                    f"{self.what} exited with code {self._process.returncode} while starting "
                    f"on port {self.port}; last log lines:\n{self._log_tail()}")
            if self._answers():
                return
            time.sleep(self.poll_interval)
        raise self.start_error(
            f"{self.what} did not answer on 127.0.0.1:{self.port} within {self._start_timeout} s"
            f"{self.slow_hint}; last log lines:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        path = self.log_path
        return log_tail(path) if path is not None else ""
