"""Apache Kafka in KRaft mode, started as a plain local process for tests and benchmarks.

The broker's jars come from Maven Central through ``scripts/fetch_kafka.sh``, which puts them
into ``${STREAMGUARD_CACHE:-~/.cache/streamguard}/kafka-<version>/libs``. One JVM acts as broker
and controller; its storage is formatted into a fresh temporary folder, it listens on free
127.0.0.1 ports, and it is stopped by its pid (SIGTERM, then SIGKILL) and its folder removed.

Example::

    with apache_kafka() as bootstrap:
        ...  # AIOKafkaConsumer(bootstrap_servers=bootstrap, ...)
        rows = describe_consumer_group(bootstrap, "my-group")
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core._errors import StreamGuardError
from ._broker import BrokerStartError, KafkaBroker
from ._process import check_lifecycle, free_port

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


class BrokerToolError(StreamGuardError):
    """A Kafka command-line tool failed; the message carries its output."""


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
        check_lifecycle(start_timeout=self.start_timeout, stop_grace=self.stop_grace)


class ApacheKafkaServer(KafkaBroker):
    """One local KRaft broker+controller process; see :func:`apache_kafka`."""

    what = "Apache Kafka"
    log_name = "server.log"
    folder_prefix = "streamguard-kafka-"
    poll_interval = 0.1
    slow_hint = " (raise ApacheKafkaConfig.start_timeout on a slow machine)"

    def __init__(self, config: ApacheKafkaConfig | None = None) -> None:
        self.config = config or ApacheKafkaConfig()
        super().__init__(start_timeout=self.config.start_timeout,
                         stop_grace=self.config.stop_grace)

    def _command(self, folder: Path) -> list[str]:
        classpath = kafka_classpath(self.config.version)
        java = _java()
        # Every start is an empty cluster, also a restart in the folder of a crashed broker.
        shutil.rmtree(folder / "data", ignore_errors=True)
        self.port, controller_port = free_port(), free_port()
        props = folder / "server.properties"
        props.write_text(self._properties(folder, controller_port))
        (folder / "log4j2.properties").write_text(_LOG4J2)
        self._format(java, classpath, props)
        return [java, *self._jvm_options(folder), "-cp", classpath, "kafka.Kafka", str(props)]

    def _answers(self) -> bool:
        # Started means both: the broker logged it, and it answers the Kafka protocol.
        log = self.log_path
        return (log is not None and _STARTED_MARKER in log.read_text(errors="replace")
                and super()._answers())

    def _jvm_options(self, folder: Path) -> list[str]:
        # A small heap and the serial collector keep the JVM modest on a shared 2-core machine.
        return [
            f"-Xmx{self.config.heap}",
            "-Xms128m",
            "-XX:+UseSerialGC",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={folder}",
            f"-Dlog4j2.configurationFile={folder / 'log4j2.properties'}",
        ]

    def _properties(self, folder: Path, controller_port: int) -> str:
        values = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(folder / "data"),
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

    def _format_options(self) -> list[str]:
        """Extra options of the storage tool's ``format`` (e.g. SCRAM users to create)."""
        return []

    def _format(self, java: str, classpath: str, props: Path) -> None:
        argv = [java, "-Xmx256m", "-XX:+UseSerialGC", "-cp", classpath,
                "kafka.tools.StorageTool", "format", "--standalone",
                "-t", _cluster_id(), "-c", str(props), *self._format_options()]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise BrokerStartError(
                f"Kafka storage format failed (exit {done.returncode}): "
                f"{(done.stdout + done.stderr).strip()[-2000:]}"
            )


@contextlib.contextmanager
def apache_kafka(config: ApacheKafkaConfig | None = None) -> Iterator[str]:
    """Run a local Apache Kafka broker for the duration of the block; yield its bootstrap."""
    with ApacheKafkaServer(config) as server:
        yield server.bootstrap


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
