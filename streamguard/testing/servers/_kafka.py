"""Apache Kafka in KRaft mode, started as a plain local process for tests and benchmarks.

The broker's jars come from Maven Central through ``scripts/fetch_kafka.sh``, which puts them
into ``${STREAMGUARD_CACHE:-~/.cache/streamguard}/kafka-<version>/libs``. One JVM acts as broker
and controller; its storage is formatted into a fresh temporary folder, it listens on free
127.0.0.1 ports, and it is stopped by its pid (SIGTERM, then SIGKILL) and its folder removed.

Example::

    with apache_kafka() as bootstrap:
        ...  # AIOKafkaConsumer(bootstrap_servers=bootstrap, ...)
        rows = describe_consumer_group(bootstrap, "my-group")

The module also holds the process helpers that :mod:`._tansu` shares (free ports, the Kafka
protocol readiness probe, stopping by pid).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from streamguard.core._errors import StreamGuardError, require

KAFKA_VERSION = "4.1.1"
"""The Apache Kafka version that ``scripts/fetch_kafka.sh`` fetches by default."""

_STARTED_MARKER = "Kafka Server started"

# Warnings and errors only, except the one line that says the broker has started.
_LOG4J2 = """\
status = error
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


class BrokerStartError(StreamGuardError):
    """A test broker could not be started; the message says why and what to do."""


class BrokerToolError(StreamGuardError):
    """A Kafka command-line tool failed; the message carries its output."""


# ---------------------------------------------------------------------------------------------
# Process helpers shared by the broker modules


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the test process dies hard (kill -9, a
    # timeout), the kernel kills the broker too instead of leaving it running.
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


def kafka_answers(host: str, port: int, *, timeout: float = 1.0) -> bool:
    """True when a Kafka broker at *host*:*port* answers an ApiVersions request without error."""
    client_id = b"streamguard-probe"
    header = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(header)) + header)
            answer = _read_exact(sock, 10)
    except OSError:
        return False
    _size, correlation_id, error_code = struct.unpack(">iih", answer)
    return bool(correlation_id == 1 and error_code == 0)


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        data += chunk
    return data


# ---------------------------------------------------------------------------------------------
# Apache Kafka


def kafka_cache_dir() -> Path:
    """The cache folder of ``scripts/fetch_kafka.sh`` (``$STREAMGUARD_CACHE`` or ~/.cache)."""
    root = os.environ.get("STREAMGUARD_CACHE") or str(Path.home() / ".cache" / "streamguard")
    return Path(root)


def kafka_classpath(version: str = KAFKA_VERSION) -> str:
    """The JVM class path of the cached Kafka *version*; raises with a hint when not fetched."""
    home = kafka_cache_dir() / f"kafka-{version}"
    if not (home / ".complete").is_file():
        raise BrokerStartError(
            f"Apache Kafka {version} jars are not in {home}/libs; "
            f"run `KAFKA_VERSION={version} bash scripts/fetch_kafka.sh` (needs Java 17 and Maven)"
        )
    return str(home / "libs" / "*")


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise BrokerStartError("`java` is not on PATH; install Java 17 (openjdk-17-jre-headless)")
    return java


def _cluster_id() -> str:
    # Like Kafka's own ids, but never starting with "-", which the tool would read as an option.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if cluster_id[0].isalnum():
            return cluster_id


@dataclass(frozen=True, kw_only=True, slots=True)
class ApacheKafkaConfig:
    """How to run the local Apache Kafka broker.

    Attributes:
        version: Kafka version in the jar cache (default :data:`KAFKA_VERSION`).
        heap: JVM maximum heap (``-Xmx``); 512m suits a 2-core test machine.
        start_timeout: seconds to wait for "Kafka Server started" before giving up.
        stop_grace: seconds between SIGTERM and SIGKILL when stopping.
        properties: extra ``server.properties`` entries, overriding the defaults.
    """

    version: str = KAFKA_VERSION
    heap: str = "512m"
    start_timeout: float = 90.0
    stop_grace: float = 15.0
    properties: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        require(self.start_timeout > 0, "start_timeout must be > 0", self.start_timeout)
        require(self.stop_grace >= 0, "stop_grace must be >= 0", self.stop_grace)


class ApacheKafkaServer:
    """One local KRaft broker+controller process; see :func:`apache_kafka`."""

    def __init__(self, config: ApacheKafkaConfig | None = None) -> None:
        self.config = config or ApacheKafkaConfig()
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
        return self._dir / "server.log" if self._dir is not None else None

    def start(self) -> str:
        """Format storage, start the broker and wait until it has started; return bootstrap."""
        classpath = kafka_classpath(self.config.version)
        java = _java()
        began = time.monotonic()
        self._dir = Path(tempfile.mkdtemp(prefix="streamguard-kafka-"))
        self.port, controller_port = free_port(), free_port()
        props = self._dir / "server.properties"
        props.write_text(self._properties(controller_port))
        (self._dir / "log4j2.properties").write_text(_LOG4J2)
        self._format(java, classpath, props)
        argv = [java, *self._jvm_options(), "-cp", classpath, "kafka.Kafka", str(props)]
        self._process = spawn(argv, log_path=self._dir / "server.log", cwd=self._dir)
        try:
            self._wait_started()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self.bootstrap

    def stop(self) -> None:
        """Stop the broker by its pid and remove its data folder."""
        if self._process is not None:
            stop_process(self._process, grace=self.config.stop_grace)
            self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _jvm_options(self) -> list[str]:
        assert self._dir is not None
        # A small heap and the serial collector keep the JVM modest on a shared 2-core machine.
        return [
            f"-Xmx{self.config.heap}",
            "-Xms128m",
            "-XX:+UseSerialGC",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self._dir}",
            f"-Dlog4j2.configurationFile={self._dir / 'log4j2.properties'}",
        ]

    def _properties(self, controller_port: int) -> str:
        assert self._dir is not None
        values = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self._dir / "data"),
            "num.partitions": "1",
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Tests use short session timeouts so that a killed consumer leaves its group fast.
            "group.min.session.timeout.ms": "1000",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "background.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "log.cleaner.threads": "1",
        }
        values.update(self.config.properties or {})
        return "".join(f"{key}={value}\n" for key, value in values.items())

    def _format(self, java: str, classpath: str, props: Path) -> None:
        argv = [java, "-Xmx256m", "-XX:+UseSerialGC", "-cp", classpath,
                "kafka.tools.StorageTool", "format", "--standalone",
                "-t", _cluster_id(), "-c", str(props)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise BrokerStartError(
                f"Kafka storage format failed (exit {done.returncode}): "
                f"{(done.stdout + done.stderr).strip()[-2000:]}"
            )

    def _wait_started(self) -> None:
        assert self._process is not None
        assert self._dir is not None
        log = self._dir / "server.log"
        deadline = time.monotonic() + self.config.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerStartError(
                    f"Apache Kafka exited with code {self._process.returncode} while starting; "
                    f"last log lines:\n{log_tail(log)}"
                )
            if _STARTED_MARKER in log.read_text(errors="replace") and kafka_answers(
                "127.0.0.1", self.port
            ):
                return
            time.sleep(0.1)
        raise BrokerStartError(
            f"Apache Kafka did not start within {self.config.start_timeout} s "
            f"(raise ApacheKafkaConfig.start_timeout on a slow machine); "
            f"last log lines:\n{log_tail(log)}"
        )


@contextlib.contextmanager
def apache_kafka(config: ApacheKafkaConfig | None = None) -> Iterator[str]:
    """Run a local Apache Kafka broker for the duration of the block; yield its bootstrap."""
    server = ApacheKafkaServer(config)
    server.start()
    try:
        yield server.bootstrap
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# The consumer-groups tool: the independent reference for lag


@dataclass(frozen=True, slots=True)
class GroupPartitionOffsets:
    """One row of ``kafka-consumer-groups --describe``; ``None`` where the tool prints ``-``."""

    topic: str
    partition: int
    current_offset: int | None
    log_end_offset: int | None
    lag: int | None


def describe_consumer_group(
    bootstrap: str, group: str, *, version: str = KAFKA_VERSION, timeout: float = 60.0
) -> list[GroupPartitionOffsets]:
    """Run Kafka's consumer-groups tool (``--describe``) and parse its table, row by row."""
    argv = [_java(), "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-cp", kafka_classpath(version),
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            "--bootstrap-server", bootstrap, "--describe", "--group", group]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BrokerToolError(
            f"consumer-groups tool did not answer within {timeout} s for group {group!r} "
            f"at {bootstrap}; is the broker running?"
        ) from exc
    if done.returncode != 0:
        raise BrokerToolError(
            f"consumer-groups tool failed (exit {done.returncode}) for group {group!r}: "
            f"{(done.stdout + done.stderr).strip()[-2000:]}"
        )
    return parse_consumer_group_table(done.stdout)


def parse_consumer_group_table(text: str) -> list[GroupPartitionOffsets]:
    """Parse the table printed by ``kafka-consumer-groups --describe``."""
    rows: list[GroupPartitionOffsets] = []
    columns: list[str] | None = None
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "GROUP" and "LAG" in fields:
            columns = fields
            continue
        if columns is None or len(fields) < len(columns) - 3:
            continue
        row = dict(zip(columns, fields, strict=False))
        rows.append(
            GroupPartitionOffsets(
                topic=row["TOPIC"],
                partition=int(row["PARTITION"]),
                current_offset=_offset(row["CURRENT-OFFSET"]),
                log_end_offset=_offset(row["LOG-END-OFFSET"]),
                lag=_offset(row["LAG"]),
            )
        )
    return rows


def _offset(text: str) -> int | None:
    return None if text == "-" else int(text)
