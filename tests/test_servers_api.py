"""The server launchers: a curated, documented API, launcher modules that do not lean on each
other, and the shared life cycle of :class:`ManagedServer` on a stand-in server (Python's own
``http.server``), so that it is checked without Kafka, Tansu or Redis."""

from __future__ import annotations

import ast
import inspect
import socket
import sys
from pathlib import Path

import pytest

from streamguard import servers
from streamguard.core._errors import ConfigError, StreamGuardError
from streamguard.servers import ManagedServer, ServerStartError, free_port

_PACKAGE = Path(servers.__file__).parent


def _imported_modules(name: str) -> set[str]:
    tree = ast.parse((_PACKAGE / f"{name}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_every_public_name_is_exported_and_every_export_exists() -> None:
    public = {n for n, v in vars(servers).items()
              if not n.startswith("_") and not inspect.ismodule(v) and n != "annotations"}
    assert public == set(servers.__all__)


def test_exports_carry_the_public_path() -> None:
    wrong = {n: getattr(servers, n).__module__ for n in servers.__all__
             if callable(getattr(servers, n))
             and getattr(servers, n).__module__ != "streamguard.servers"}
    assert wrong == {}


def test_no_production_module_imports_the_testing_package() -> None:
    """The demo and the CLI start servers too, so the launchers are public (#10); production
    code never reaches into ``streamguard.testing``."""
    root = _PACKAGE.parent
    offenders: list[str] = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if relative.parts[0] == "testing":
            continue
        package = ["streamguard", *relative.parent.parts]
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                names = [".".join([*base, node.module or ""]).strip(".")]
                names += [f"{names[0]}.{alias.name}" for alias in node.names]
            else:
                names = [alias.name for alias in node.names]
            if any(n == "streamguard.testing" or n.startswith("streamguard.testing.")
                   for n in names):
                offenders.append(f"{relative}:{node.lineno}")
    assert offenders == []


def test_the_launchers_and_their_configs_are_exported() -> None:
    expected = {"ApacheKafkaServer", "ApacheKafkaConfig", "apache_kafka", "TansuServer",
                "TansuConfig", "tansu", "RedisServer", "RedisConfig", "redis_server",
                "describe_consumer_group", "free_port", "ServerStartError", "BrokerStartError",
                "RedisStartError", "ManagedServer"}
    assert expected <= set(servers.__all__)


def test_every_exported_class_and_function_is_documented() -> None:
    undocumented = [n for n in servers.__all__
                    if callable(getattr(servers, n)) and not inspect.getdoc(getattr(servers, n))]
    assert undocumented == []
    assert inspect.getdoc(servers)


@pytest.mark.parametrize("name", ["_redis", "_tansu", "_process", "_broker"])
def test_launchers_do_not_import_the_kafka_launcher(name: str) -> None:
    assert not {m for m in _imported_modules(name) if m.endswith("_kafka")}


def test_the_process_helpers_import_no_launcher() -> None:
    launchers = {"._kafka", "._redis", "._tansu", "._broker"}
    assert not _imported_modules("_process") & launchers


def test_start_errors_share_one_base() -> None:
    assert issubclass(servers.BrokerStartError, ServerStartError)
    assert issubclass(servers.RedisStartError, ServerStartError)
    assert issubclass(ServerStartError, StreamGuardError)


def test_bad_redis_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"stop_grace must be >= 0, got -1"):
        servers.RedisConfig(stop_grace=-1)
    with pytest.raises(ConfigError, match=r"port must be in 0\.\.65535, got -1"):
        servers.RedisConfig(port=-1)


# ---------------------------------------------------------------------------------------------
# The shared life cycle, on a stand-in server


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class _HttpServer(ManagedServer):
    what = "http.server"
    log_name = "http.log"
    folder_prefix = "streamguard-test-http-"
    poll_interval = 0.02

    def __init__(self, *, script: str | None = None, start_timeout: float = 20.0) -> None:
        super().__init__(start_timeout=start_timeout, stop_grace=5.0)
        self.script = script

    def _command(self, folder: Path) -> list[str]:
        self.port = free_port()
        if self.script is not None:
            return [sys.executable, "-c", self.script]
        return [sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1"]

    def _answers(self) -> bool:
        return _connects(self.port)


def test_with_starts_a_server_that_answers_and_stops_it_with_its_folder() -> None:
    server = _HttpServer()
    with server as same:
        assert same is server
        assert server.running
        assert server.pid is not None
        assert _connects(server.port)
        log = server.log_path
        assert log is not None
        assert log.is_file()
        assert server.startup_seconds > 0
    assert not server.running
    assert server.pid is None
    assert server.log_path is None
    assert not log.parent.exists()
    assert not _connects(server.port)


def test_start_returns_the_address_and_refuses_a_second_start() -> None:
    with _HttpServer() as server:
        assert server.address == f"127.0.0.1:{server.port}"
        with pytest.raises(ConfigError, match="start\\(\\) needs a stopped server"):
            server.start()
        assert server.running


def test_a_server_that_exits_while_starting_names_its_code_and_log() -> None:
    server = _HttpServer(script="import sys; print('no such option'); sys.exit(3)")
    with pytest.raises(ServerStartError, match=r"(?s)http\.server exited with code 3 while "
                                               r"starting on port \d+;.*no such option"):
        server.start()
    assert server.pid is None
    assert server.log_path is None


def test_a_server_that_never_answers_times_out_and_is_stopped() -> None:
    server = _HttpServer(script="import time; time.sleep(60)", start_timeout=0.3)
    with pytest.raises(ServerStartError, match=r"did not answer on 127\.0\.0\.1:\d+ within 0\.3 s"):
        server.start()
    assert not server.running
    assert server.log_path is None
