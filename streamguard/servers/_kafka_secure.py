"""Apache Kafka with the listeners a production cluster has: SASL_SSL (SCRAM) and mutual TLS.

``SecuredKafkaServer`` is the local KRaft broker of :mod:`._kafka` with four listeners:

* ``PLAINTEXT`` (``bootstrap``) — open, for setting up topics;
* ``SASL_SSL`` (``sasl_ssl_bootstrap``) — TLS with a certificate from a CA made for this run,
  and SCRAM-SHA-512 users created when the storage is formatted (as Kafka's own
  ``kafka-storage format --add-scram`` does);
* ``SSL`` (``ssl_bootstrap``) — TLS that requires a client certificate signed by that CA;
* ``CONTROLLER`` — internal.

The CA, the broker's certificate (for 127.0.0.1 and localhost) and one client certificate are
made with ``openssl`` into the server's private folder; ``ca_file``, ``client_cert_file`` and
``client_key_file`` point at them while the server runs.

    with SecuredKafkaServer(SecuredKafkaConfig(users={"alice": "alice-secret"})) as kafka:
        kafka.sasl_ssl_bootstrap, kafka.ca_file
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..core._errors import require
from ._broker import kafka_answers
from ._kafka import ApacheKafkaConfig, ApacheKafkaServer
from ._process import free_port
from ._tls import make_ca, make_certificate

SCRAM_MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True, kw_only=True, slots=True)
class SecuredKafkaConfig:
    """The secured broker: SCRAM users (name → password) and the plain broker's settings.

    Attributes:
        users: SCRAM-SHA-512 users created at format time (``{"alice": "alice-secret"}``).
        kafka: the settings of the underlying :class:`ApacheKafkaConfig`.
    """

    users: Mapping[str, str] = field(default_factory=lambda: {"alice": "alice-secret"},
                                     repr=False)
    kafka: ApacheKafkaConfig = field(default_factory=ApacheKafkaConfig)

    def __post_init__(self) -> None:
        require(bool(self.users), "users must name at least one SCRAM user", self.users)
        for name, password in self.users.items():
            require(isinstance(name, str) and name.isidentifier(),
                    "users: a user name must be a plain identifier", name)
            require(isinstance(password, str) and password != "" and "," not in password
                    and "]" not in password, "users: a password must be a non-empty str "
                    "without ',' or ']'", "<hidden>")


class SecuredKafkaServer(ApacheKafkaServer):
    """The local broker with SASL_SSL and mutual-TLS listeners (see the module docstring)."""

    what = "Apache Kafka (secured)"
    folder_prefix = "streamguard-kafka-secure-"

    def __init__(self, config: SecuredKafkaConfig | None = None) -> None:
        self.secure = SecuredKafkaConfig() if config is None else config
        super().__init__(self.secure.kafka)
        self.sasl_ssl_port = 0
        self.ssl_port = 0
        self._tls: Path | None = None

    @property
    def sasl_ssl_bootstrap(self) -> str:
        """``127.0.0.1:PORT`` of the SASL_SSL (SCRAM-SHA-512) listener."""
        return f"127.0.0.1:{self.sasl_ssl_port}"

    @property
    def ssl_bootstrap(self) -> str:
        """``127.0.0.1:PORT`` of the SSL listener that requires a client certificate."""
        return f"127.0.0.1:{self.ssl_port}"

    def _file(self, name: str) -> Path:
        require(self._tls is not None, "the secured broker must be started first", None)
        assert self._tls is not None
        return self._tls / name

    @property
    def ca_file(self) -> Path:
        """The CA certificate (PEM) that signed the broker's and the client's certificates."""
        return self._file("ca.pem")

    @property
    def client_cert_file(self) -> Path:
        """A client certificate (PEM) the SSL listener accepts."""
        return self._file("client.pem")

    @property
    def client_key_file(self) -> Path:
        """The client certificate's key (PEM, unencrypted)."""
        return self._file("client.p8")

    def _command(self, folder: Path) -> list[str]:
        self._tls = folder / "tls"
        if not (self._tls / "ca.pem").is_file():
            ca = make_ca(self._tls)
            broker = make_certificate(self._tls, "broker", ca)
            make_certificate(self._tls, "client", ca)
            (self._tls / "broker-store.pem").write_text(broker[1].read_text()
                                                        + broker[0].read_text())
        self.sasl_ssl_port, self.ssl_port = free_port(), free_port()
        return super()._command(folder)

    def _properties(self, folder: Path, controller_port: int) -> str:
        tls = folder / "tls"
        plain = super()._properties(folder, controller_port)
        listeners = (f"PLAINTEXT://127.0.0.1:{self.port},SASL_SSL://127.0.0.1:{self.sasl_ssl_port},"
                     f"SSL://127.0.0.1:{self.ssl_port},CONTROLLER://127.0.0.1:{controller_port}")
        extra = {
            "listeners": listeners,
            "advertised.listeners": listeners.rsplit(",", 1)[0],
            "listener.security.protocol.map":
                "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(tls / "broker-store.pem"),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(tls / "ca.pem"),
            "listener.name.ssl.ssl.client.auth": "required",
        }
        lines = [line for line in plain.splitlines()
                 if line.split("=", 1)[0] not in extra]
        return "".join(f"{line}\n" for line in lines) + "".join(
            f"{key}={value}\n" for key, value in extra.items())

    def _format_options(self) -> list[str]:
        return [option for name, password in self.secure.users.items() for option in (
            "--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]")]

    def _answers(self) -> bool:
        return super()._answers() and kafka_answers("127.0.0.1", self.port)
