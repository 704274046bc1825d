"""A real ``redis-server`` on a free loopback port, for the Redis rate-limit tests.

The server keeps nothing on disk (``--save '' --appendonly no``), runs from a private temporary
folder and is stopped by its pid, never by name. :meth:`RedisServer.kill` sends SIGKILL, which is
how the outage tests take Redis away in the middle of a run; :meth:`RedisServer.start` may then be
called again and brings a fresh, empty server back on the same port.

Example::

    with redis_server() as server:
        url = server.url          # "redis://127.0.0.1:PORT/0"
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from streamguard.core._errors import StreamGuardError, require

from ._kafka import free_port, log_tail, spawn, stop_process


class RedisStartError(StreamGuardError):
    """``redis-server`` is missing, exited while starting, or did not answer in time."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RedisConfig:
    """How to run the local Redis server.

    Attributes:
        port: TCP port on 127.0.0.1 (0, the default, picks a free one).
        binary: the ``redis-server`` executable (found on ``PATH`` by default).
        start_timeout: seconds to wait until it answers ``PING``.
        stop_grace: seconds between SIGTERM and SIGKILL when stopping.
    """

    port: int = 0
    binary: str = "redis-server"
    start_timeout: float = 10.0
    stop_grace: float = 5.0

    def __post_init__(self) -> None:
        require(0 <= self.port <= 65535, "port must be in 0..65535", self.port)
        require(self.start_timeout > 0, "start_timeout must be > 0", self.start_timeout)
        require(self.stop_grace >= 0, "stop_grace must be >= 0", self.stop_grace)


def redis_answers(port: int, *, timeout: float = 0.5) -> bool:
    """True when a Redis server on 127.0.0.1:*port* answers ``PING`` with ``+PONG``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One local ``redis-server`` process; a context manager that starts and stops it."""

    def __init__(self, config: RedisConfig | None = None) -> None:
        self.config = config or RedisConfig()
        self.port = self.config.port
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The storage URI of database 0: ``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """True while the process started by :meth:`start` is alive."""
        return self._process is not None and self._process.poll() is None

    def argv(self) -> list[str]:
        """The command line: loopback only, no persistence, no protected-mode surprises."""
        return [self.config.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--protected-mode", "yes",
                "--daemonize", "no", "--loglevel", "warning"]

    def start(self) -> str:
        """Start the server (again, on the same port after :meth:`kill`); return its URL."""
        require(self._process is None or self._process.poll() is not None,
                "start() needs a stopped server", self.pid)
        binary = shutil.which(self.config.binary)
        if binary is None:
            raise RedisStartError(
                f"{self.config.binary!r} not found on PATH; install it with "
                "'apt-get install -y redis-server' (scripts/test.sh does this)"
            )
        self.port = self.port or free_port()
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="streamguard-redis-"))
        self._process = spawn(self.argv(), log_path=self._dir / "redis.log", cwd=self._dir)
        try:
            self._wait_answering()
        except BaseException:
            self.stop()
            raise
        return self.url

    def kill(self) -> None:
        """SIGKILL the server by its pid (an outage, not a shutdown) and reap it."""
        if self._process is None or self._process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=10.0)

    def stop(self) -> None:
        """Stop the server by its pid and remove its folder."""
        if self._process is not None:
            stop_process(self._process, grace=self.config.stop_grace)
            self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _wait_answering(self) -> None:
        assert self._process is not None
        assert self._dir is not None
        deadline = time.monotonic() + self.config.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RedisStartError(
                    f"redis-server exited with code {self._process.returncode} while starting "
                    f"on port {self.port}; last log lines:\n{log_tail(self._dir / 'redis.log')}"
                )
            if redis_answers(self.port):
                return
            time.sleep(0.01)
        raise RedisStartError(
            f"redis-server did not answer on 127.0.0.1:{self.port} within "
            f"{self.config.start_timeout} s; last log lines:\n{log_tail(self._dir / 'redis.log')}"
        )


@contextlib.contextmanager
def redis_server(config: RedisConfig | None = None) -> Iterator[RedisServer]:
    """Run a local ``redis-server`` for the duration of the block; yield the running server."""
    with RedisServer(config) as server:
        yield server
