"""What every local Kafka-compatible broker shares: its start error, the readiness probe that
speaks the Kafka protocol (an ApiVersions request) and the ``bootstrap`` address."""

from __future__ import annotations

import socket
import struct

from ._process import ManagedServer, ServerStartError


class BrokerStartError(ServerStartError):
    """A test broker could not be started; the message says why and what to do."""


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


class KafkaBroker(ManagedServer):
    """A :class:`ManagedServer` that speaks Kafka: ready once it answers ApiVersions."""

    start_error = BrokerStartError

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` clients connect to."""
        return f"127.0.0.1:{self.port}"

    def _answers(self) -> bool:
        return kafka_answers("127.0.0.1", self.port)
