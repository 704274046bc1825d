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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ._process import ManagedServer, ServerStartError, check_lifecycle, free_port


class RedisStartError(ServerStartError):
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
        check_lifecycle(port=self.port, start_timeout=self.start_timeout,
                        stop_grace=self.stop_grace)


def redis_answers(port: int, *, timeout: float = 0.5) -> bool:
    """True when a Redis server on 127.0.0.1:*port* answers ``PING`` with ``+PONG``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(ManagedServer):
    """One local ``redis-server`` process; a context manager that starts and stops it.

    :meth:`start` may be called again after :meth:`kill`: the server comes back, empty, on the
    same port.
    """

    what = "redis-server"
    log_name = "redis.log"
    folder_prefix = "streamguard-redis-"
    poll_interval = 0.01
    start_error = RedisStartError

    def __init__(self, config: RedisConfig | None = None) -> None:
        self.config = config or RedisConfig()
        super().__init__(start_timeout=self.config.start_timeout,
                         stop_grace=self.config.stop_grace, port=self.config.port)

    @property
    def url(self) -> str:
        """The storage URI of database 0: ``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def address(self) -> str:
        """What :meth:`start` returns: :attr:`url`."""
        return self.url

    def argv(self) -> list[str]:
        """The command line: loopback only, no persistence, no protected-mode surprises."""
        return [self.config.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--protected-mode", "yes",
                "--daemonize", "no", "--loglevel", "warning"]

    def kill(self) -> None:
        """SIGKILL the server by its pid (an outage, not a shutdown) and reap it."""
        if self._process is None or self._process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=10.0)

    def _command(self, folder: Path) -> list[str]:
        if shutil.which(self.config.binary) is None:
            raise RedisStartError(
                f"{self.config.binary!r} not found on PATH; install it with "
                "'apt-get install -y redis-server' (scripts/test.sh does this)"
            )
        # A restart after kill() keeps the port, so clients configured with the URL reconnect.
        self.port = self.port or free_port()
        return self.argv()

    def _answers(self) -> bool:
        return redis_answers(self.port)


@contextlib.contextmanager
def redis_server(config: RedisConfig | None = None) -> Iterator[RedisServer]:
    """Run a local ``redis-server`` for the duration of the block; yield the running server."""
    with RedisServer(config) as server:
        yield server
