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
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from ..core._errors import require
from ._process import ManagedServer, ServerStartError, check_lifecycle, free_port
from ._tls import make_ca, make_certificate


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
        tls: serve TLS only (``rediss://``), with a CA and a certificate made for the run
            (:attr:`RedisServer.ca_file`).
        users: ACL users (name → password) with every right; the ``default`` user is then
            disabled, so every client must authenticate.
    """

    port: int = 0
    binary: str = "redis-server"
    start_timeout: float = 10.0
    stop_grace: float = 5.0
    tls: bool = False
    users: Mapping[str, str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_lifecycle(port=self.port, start_timeout=self.start_timeout,
                        stop_grace=self.stop_grace)
        require(isinstance(self.tls, bool), "tls must be a bool", self.tls)
        for name, password in (self.users or {}).items():
            require(isinstance(name, str) and name.isidentifier(),
                    "users: a user name must be a plain identifier", name)
            require(isinstance(password, str) and password != "" and not any(
                c.isspace() for c in password), "users: a password must be a non-empty str "
                "without spaces", "<hidden>")


def redis_answers(port: int, *, timeout: float = 0.5,
                  tls: ssl.SSLContext | None = None) -> bool:
    """True when a Redis server on 127.0.0.1:*port* answers ``PING`` (``+PONG``, or a
    ``-NOAUTH`` refusal when it requires authentication)."""
    try:
        with contextlib.ExitStack() as stack:
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port),
                                                                timeout=timeout))
            if tls is not None:
                sock = stack.enter_context(tls.wrap_socket(sock, server_hostname="127.0.0.1"))
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
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
        """The storage URI of database 0: ``redis://127.0.0.1:PORT/0`` (``rediss://`` with
        TLS, then also naming the CA file); no credentials (see :meth:`url_for`)."""
        if not self.config.tls:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.ca_file}"

    def url_for(self, user: str, password: str) -> str:
        """:attr:`url` with ``user:password@`` (percent-encoded)."""
        auth = f"{quote(user, safe='')}:{quote(password, safe='')}@"
        return self.url.replace("://", f"://{auth}", 1)

    @property
    def ca_file(self) -> Path:
        """The CA that signed the server's certificate (TLS only, while it runs)."""
        require(self.config.tls and self._dir is not None,
                "ca_file needs a running server with tls=True", self.config.tls)
        assert self._dir is not None
        return self._dir / "tls" / "ca.pem"

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
        argv = self.argv()
        if self.config.users:
            acl = folder / "users.acl"
            acl.write_text("user default off\n" + "".join(
                f"user {name} on >{password} ~* &* +@all\n"
                for name, password in self.config.users.items()))
            argv += ["--aclfile", str(acl)]
        if self.config.tls:
            tls = folder / "tls"
            if not (tls / "ca.pem").is_file():
                make_certificate(tls, "redis", make_ca(tls))
            port_at = argv.index("--port") + 1
            argv[port_at] = "0"  # TLS only: no plaintext port at all
            argv += ["--tls-port", str(self.port), "--tls-cert-file", str(tls / "redis.pem"),
                     "--tls-key-file", str(tls / "redis.p8"),
                     "--tls-ca-cert-file", str(tls / "ca.pem"), "--tls-auth-clients", "no"]
        return argv

    def _answers(self) -> bool:
        context = None
        if self.config.tls:
            context = ssl.create_default_context(cafile=str(self.ca_file))
        return redis_answers(self.port, tls=context)


@contextlib.contextmanager
def redis_server(config: RedisConfig | None = None) -> Iterator[RedisServer]:
    """Run a local ``redis-server`` for the duration of the block; yield the running server."""
    with RedisServer(config) as server:
        yield server
