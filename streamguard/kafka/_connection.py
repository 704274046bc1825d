"""Where the brokers are and how to talk to them securely — one description for every client.

Every Kafka client streamguard creates (the source's consumer, the dead-letter producer, the
sink's producer, the lag readers, ``throttle_by_lag``, the ``streamguard lag`` and ``run``
commands) takes its connection from one :class:`KafkaConnection`: bootstrap servers plus
security — ``security_protocol`` (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), the SASL mechanism
(PLAIN, SCRAM-SHA-256/512, OAUTHBEARER with a token provider) and TLS material (a CA file, a
client certificate and key, or an ``ssl.SSLContext``).

It can be built in code, read from a Kafka-style properties file — the keys Kafka's own tools
take with ``--command-config`` — or from ``STREAMGUARD_KAFKA_*`` environment variables.
Passwords are held in a :class:`Secret`, whose ``repr`` and ``str`` never show them, so they do
not reach logs, error messages, reprs, metrics or the command line's output.

    connection = KafkaConnection.from_properties("client.properties")
    connection = KafkaConnection(
        bootstrap_servers="broker:9093", security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512", sasl_username="alice",
        sasl_password=Secret(os.environ["KAFKA_PASSWORD"]), ssl_cafile="ca.pem")
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from ..core._errors import ConfigError, require

# aiokafka's fetcher holds a broker's next fetch back while one of its partitions has fetched,
# untaken records younger than this; streamguard's soft pause leaves such records with a
# paused partition, so its default is a tenth of aiokafka's 0.1 s (see
# KafkaSourceConfig.prefetch_backoff for the figures).
DEFAULT_PREFETCH_BACKOFF = 0.01

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]

ENV_PREFIX = "STREAMGUARD_KAFKA_"

# host:port, host or [IPv6]:port; the port is checked as a number below.
_SERVER = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>[^:]*))?$")


class Secret:
    """A credential that never shows itself: ``repr`` and ``str`` are ``'***'``.

    ``reveal()`` returns the value, for the one place that hands it to the client library.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        require(isinstance(value, str), "a Secret holds a str", type(value).__name__)
        self._value = value

    def reveal(self) -> str:
        """The secret value itself."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled; pass it by environment or file")


def _secret(value: str | Secret | None) -> Secret | None:
    return Secret(value) if isinstance(value, str) else value


def _file(field_name: str, value: str | None) -> None:
    if value is not None:
        require(isinstance(value, str) and value != "", f"{field_name} must be a file path",
                value)
        require(Path(value).is_file(), f"{field_name} must name an existing file", value)


@dataclass(frozen=True, kw_only=True, repr=False)
class KafkaConnection:
    """How to reach the brokers: given once, used by every client streamguard creates.

    Attributes:
        bootstrap_servers: ``"host:port[,host:port…]"``.
        security_protocol: ``PLAINTEXT`` (default), ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``.
        sasl_mechanism: ``PLAIN``, ``SCRAM-SHA-256``, ``SCRAM-SHA-512`` or ``OAUTHBEARER``
            (required with a SASL protocol).
        sasl_username, sasl_password: for PLAIN and SCRAM (the password as a :class:`Secret`
            or a str, which is wrapped).
        oauth_token_provider: for OAUTHBEARER, an ``aiokafka.abc.AbstractTokenProvider``.
        ssl_cafile: PEM file of the CA(s) that signed the brokers' certificates (default: the
            system's trusted CAs).
        ssl_certfile, ssl_keyfile, ssl_key_password: a client certificate (PEM), for brokers
            that require one; the key may be in the certificate file.
        ssl_check_hostname: check the broker's name against its certificate (True).
        ssl_context: a ready ``ssl.SSLContext`` instead of the file options.
    """

    bootstrap_servers: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: Secret | str | None = None
    oauth_token_provider: Any = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_key_password: Secret | str | None = None
    ssl_check_hostname: bool = True
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sasl_password", _secret(self.sasl_password))
        object.__setattr__(self, "ssl_key_password", _secret(self.ssl_key_password))
        check_bootstrap(self.bootstrap_servers)
        require(self.security_protocol in get_args(SecurityProtocol),
                f"security_protocol must be one of {', '.join(get_args(SecurityProtocol))}",
                self.security_protocol)
        self._check_sasl()
        self._check_tls()

    def _check_sasl(self) -> None:
        sasl = self.security_protocol.startswith("SASL_")
        if not sasl:
            require(self.sasl_mechanism is None,
                    f"sasl_mechanism needs security_protocol SASL_SSL or SASL_PLAINTEXT "
                    f"(security_protocol is {self.security_protocol})", self.sasl_mechanism)
            return
        require(self.sasl_mechanism in get_args(SaslMechanism),
                f"sasl_mechanism must be one of {', '.join(get_args(SaslMechanism))} with "
                f"security_protocol {self.security_protocol}", self.sasl_mechanism)
        if self.sasl_mechanism == "OAUTHBEARER":
            require(self.oauth_token_provider is not None and callable(
                getattr(self.oauth_token_provider, "token", None)),
                "oauth_token_provider must have an async token() method for OAUTHBEARER",
                type(self.oauth_token_provider).__name__)
        else:
            require(isinstance(self.sasl_username, str) and self.sasl_username != "",
                    f"sasl_username must be a non-empty str for {self.sasl_mechanism}",
                    self.sasl_username)
            require(isinstance(self.sasl_password, Secret),
                    f"sasl_password must be given for {self.sasl_mechanism}", None)

    def _check_tls(self) -> None:
        tls = self.security_protocol in ("SSL", "SASL_SSL")
        files = {"ssl_cafile": self.ssl_cafile, "ssl_certfile": self.ssl_certfile,
                 "ssl_keyfile": self.ssl_keyfile}
        if not tls:
            given = [k for k, v in files.items() if v is not None]
            require(not given and self.ssl_context is None,
                    f"TLS options need security_protocol SSL or SASL_SSL (security_protocol is "
                    f"{self.security_protocol})", given or "ssl_context")
            return
        for name, value in files.items():
            _file(name, value)
        require(self.ssl_keyfile is None or self.ssl_certfile is not None,
                "ssl_keyfile needs ssl_certfile", self.ssl_keyfile)
        require(self.ssl_context is None or not any(files.values()),
                "give ssl_context or the ssl_* files, not both", "ssl_context")
        require(isinstance(self.ssl_check_hostname, bool), "ssl_check_hostname must be a bool",
                self.ssl_check_hostname)

    # ------------------------------------------------------------------ for the clients
    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context every client uses (``None`` without TLS)."""
        if self.security_protocol not in ("SSL", "SASL_SSL"):
            return None
        if self.ssl_context is not None:
            return self.ssl_context
        context = ssl.create_default_context(cafile=self.ssl_cafile)
        context.check_hostname = self.ssl_check_hostname
        if self.ssl_certfile is not None:
            key = self.ssl_key_password
            password = key.reveal() if isinstance(key, Secret) else None
            try:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile, password)
            except (ssl.SSLError, OSError) as exc:
                raise ConfigError(f"ssl_certfile/ssl_keyfile cannot be loaded "
                                  f"({self.ssl_certfile!r}): {exc.__class__.__name__}") from None
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client (consumer, producer, admin)."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers,
                                   "security_protocol": self.security_protocol}
        context = self.tls_context()
        if context is not None:
            options["ssl_context"] = context
        if self.sasl_mechanism is not None:
            options["sasl_mechanism"] = self.sasl_mechanism
            if self.sasl_mechanism == "OAUTHBEARER":
                options["sasl_oauth_token_provider"] = self.oauth_token_provider
            else:
                assert isinstance(self.sasl_password, Secret)  # wrapped in __post_init__
                options["sasl_plain_username"] = self.sasl_username
                options["sasl_plain_password"] = self.sasl_password.reveal()
        return options

    def __repr__(self) -> str:
        return f"KafkaConnection({self.describe()})"

    def describe(self) -> str:
        """One line for messages: where and how, never the credentials."""
        who = f" as {self.sasl_username!r}" if self.sasl_username else ""
        how = f"{self.security_protocol}" + (f"/{self.sasl_mechanism}" if self.sasl_mechanism
                                             else "")
        return f"{self.bootstrap_servers} ({how}{who})"

    # ------------------------------------------------------------------ from outside
    @classmethod
    def from_properties(cls, path: str | os.PathLike[str], *,
                        bootstrap_servers: str | None = None) -> KafkaConnection:
        """Read a Kafka client properties file (the keys of ``--command-config``).

        Known keys: ``bootstrap.servers``, ``security.protocol``, ``sasl.mechanism``,
        ``sasl.jaas.config`` (``username="…" password="…"`` of the PLAIN or SCRAM login
        module), ``ssl.truststore.location`` (PEM), ``ssl.keystore.location`` (PEM with the
        key and the certificate), ``ssl.key.password``,
        ``ssl.endpoint.identification.algorithm`` (empty: no host-name check). Any other
        key is refused, naming it, so a typo does not silently weaken security.
        """
        props = parse_properties(Path(path).read_text())
        return cls.from_mapping(props, bootstrap_servers=bootstrap_servers,
                                origin=f"properties file {str(path)!r}")

    @classmethod
    def from_mapping(cls, props: Mapping[str, str], *, bootstrap_servers: str | None = None,
                     origin: str = "properties") -> KafkaConnection:
        """Build from Kafka property keys (see :meth:`from_properties`)."""
        unknown = sorted(set(props) - _KNOWN_KEYS)
        if unknown:
            raise ConfigError(f"{origin}: unknown key {unknown[0]!r}; known keys: "
                              f"{', '.join(sorted(_KNOWN_KEYS))}")
        for key in ("ssl.truststore.type", "ssl.keystore.type"):
            require(props.get(key, "PEM").upper() == "PEM",
                    f"{origin}: {key} must be PEM (Python's TLS reads PEM files; convert a JKS "
                    f"or PKCS12 store with keytool/openssl)", props.get(key))
        servers = bootstrap_servers or props.get("bootstrap.servers")
        require(bool(servers), f"{origin}: bootstrap.servers must be given", servers)
        assert servers is not None
        username, password = _jaas_credentials(props.get("sasl.jaas.config"), origin)
        keystore = props.get("ssl.keystore.location")
        return cls(
            bootstrap_servers=servers,
            security_protocol=props.get("security.protocol", "PLAINTEXT").upper(),  # type: ignore[arg-type]
            sasl_mechanism=props.get("sasl.mechanism"),  # type: ignore[arg-type]
            sasl_username=username, sasl_password=password,
            ssl_cafile=props.get("ssl.truststore.location"),
            ssl_certfile=keystore, ssl_keyfile=None,
            ssl_key_password=_secret(props.get("ssl.key.password")),
            ssl_check_hostname=props.get("ssl.endpoint.identification.algorithm",
                                         "https") != "",
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *,
                 bootstrap_servers: str | None = None) -> KafkaConnection | None:
        """Build from ``STREAMGUARD_KAFKA_*`` variables; ``None`` when none is set.

        ``STREAMGUARD_KAFKA_COMMAND_CONFIG`` names a properties file; the other variables
        (``BOOTSTRAP_SERVERS``, ``SECURITY_PROTOCOL``, ``SASL_MECHANISM``, ``SASL_USERNAME``,
        ``SASL_PASSWORD``, ``SSL_CAFILE``, ``SSL_CERTFILE``, ``SSL_KEYFILE``,
        ``SSL_KEY_PASSWORD``) override or replace it.
        """
        env = os.environ if environ is None else environ
        values = {k.removeprefix(ENV_PREFIX).lower(): v for k, v in env.items()
                  if k.startswith(ENV_PREFIX)}
        if not values:
            return None
        unknown = sorted(set(values) - {*_ENV_FIELDS, "command_config"})
        if unknown:
            raise ConfigError(f"unknown environment variable {ENV_PREFIX}{unknown[0].upper()}; "
                              f"known: {', '.join(ENV_PREFIX + k.upper() for k in _ENV_FIELDS)}")
        base: dict[str, Any] = {}
        if "command_config" in values:
            base = vars_of(cls.from_properties(values.pop("command_config"),
                                               bootstrap_servers=bootstrap_servers))
        base.update(values)
        if bootstrap_servers is not None:
            base["bootstrap_servers"] = bootstrap_servers
        require("bootstrap_servers" in base,
                f"{ENV_PREFIX}BOOTSTRAP_SERVERS must be set", None)
        return cls(**base)


Bootstrap = str | KafkaConnection
"""Where the brokers are: ``"host:port[,…]"``, or a :class:`KafkaConnection` that also says
how to reach them securely. Every client streamguard makes accepts either."""


def check_bootstrap(value: object, field_name: str = "bootstrap_servers") -> None:
    """Raise :class:`~streamguard.core.ConfigError` unless *value* is
    ``"host:port[,host:port...]"`` with ports in 1..65535 (aiokafka would accept a bad port
    and fail later with a bare ``ValueError``). A :class:`KafkaConnection` (brokers plus
    security) is accepted wherever a bootstrap string is: it validated itself."""
    if isinstance(value, KafkaConnection):
        return
    rule = f"{field_name} must be a non-empty 'host:port[,host:port...]' string"
    require(isinstance(value, str) and bool(value.strip()), rule, value)
    assert isinstance(value, str)
    for server in value.split(","):
        match = _SERVER.match(server.strip())
        require(match is not None, f"{rule} (bad server {server.strip()!r})", value)
        assert match is not None
        port = match.group("port")
        if port is not None:
            require(port.isdigit() and 1 <= int(port) <= 65535,
                    f"{field_name}: port must be a number in 1..65535 (server "
                    f"{server.strip()!r})", value)


def vars_of(connection: KafkaConnection) -> dict[str, Any]:
    """The fields of *connection* as keyword arguments."""
    return {name: getattr(connection, name) for name in connection.__dataclass_fields__}


_ENV_FIELDS = ("bootstrap_servers", "security_protocol", "sasl_mechanism", "sasl_username",
               "sasl_password", "ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_key_password")

_KNOWN_KEYS = frozenset({
    "bootstrap.servers", "security.protocol", "sasl.mechanism", "sasl.jaas.config",
    "ssl.truststore.location", "ssl.truststore.type", "ssl.keystore.location",
    "ssl.keystore.type", "ssl.key.password", "ssl.endpoint.identification.algorithm",
})

def parse_properties(text: str) -> dict[str, str]:
    """Parse a Java properties file's ``key=value`` / ``key: value`` lines (comments: # or !)."""
    props: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        match = _PROPERTY.match(line)
        assert match is not None  # a non-empty line always has a key
        props[match.group(1)] = match.group(2).strip()
    return props


_PROPERTY = re.compile(r"([^=:\s]+)\s*[=:]?\s*(.*)$")
_JAAS = re.compile(r'(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"')


def _jaas_credentials(jaas: str | None, origin: str) -> tuple[str | None, Secret | None]:
    if jaas is None:
        return None, None
    pairs = dict(_JAAS.findall(jaas))
    require("username" in pairs and "password" in pairs,
            f"{origin}: sasl.jaas.config must carry username=\"…\" and password=\"…\"",
            "<hidden>")
    return pairs["username"], Secret(pairs["password"])
