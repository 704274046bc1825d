"""KafkaConnection: one validated description of where the brokers are and how to reach them,
from code, a Kafka properties file or the environment — never showing its secrets."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from streamguard.core import ConfigError
from streamguard.kafka._connection import KafkaConnection, Secret, parse_properties

SECRET = "pa55-w0rd-XYZ"


def scram(**overrides: object) -> KafkaConnection:
    values: dict[str, object] = {
        "bootstrap_servers": "127.0.0.1:9093", "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "alice", "sasl_password": SECRET}
    values.update(overrides)
    return KafkaConnection(**values)  # type: ignore[arg-type]


def test_the_password_never_shows() -> None:
    connection = scram()
    assert isinstance(connection.sasl_password, Secret)
    for text in (repr(connection), str(connection), connection.describe(),
                 repr(connection.sasl_password), str(connection.sasl_password)):
        assert SECRET not in text
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(connection.sasl_password)


def test_client_options_hand_the_credentials_to_aiokafka() -> None:
    options = scram().client_options()
    assert options["sasl_plain_password"] == SECRET
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["security_protocol"] == "SASL_SSL"
    assert options["ssl_context"].check_hostname is True
    assert KafkaConnection(bootstrap_servers="h:1").client_options() == {
        "bootstrap_servers": "h:1", "security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize(("overrides", "message"), [
    ({"bootstrap_servers": "127.0.0.1:notaport"},
     "bootstrap_servers: port must be a number in 1..65535 (server '127.0.0.1:notaport')"),
    ({"bootstrap_servers": ""}, "bootstrap_servers must be a non-empty"),
    ({"security_protocol": "TLS"}, "security_protocol must be one of PLAINTEXT, SSL, "
                                   "SASL_PLAINTEXT, SASL_SSL, got 'TLS'"),
    ({"sasl_mechanism": "GSSAPI"}, "sasl_mechanism must be one of PLAIN, SCRAM-SHA-256, "
                                   "SCRAM-SHA-512, OAUTHBEARER with security_protocol SASL_SSL"),
    ({"sasl_username": ""}, "sasl_username must be a non-empty str for SCRAM-SHA-512"),
    ({"sasl_password": None}, "sasl_password must be given for SCRAM-SHA-512"),
    ({"sasl_mechanism": "OAUTHBEARER"}, "oauth_token_provider must have an async token()"),
    ({"security_protocol": "PLAINTEXT"}, "sasl_mechanism needs security_protocol SASL_SSL"),
    ({"ssl_cafile": "/nonexistent/ca.pem"}, "ssl_cafile must name an existing file"),
    ({"ssl_check_hostname": 1}, "ssl_check_hostname must be a bool, got 1"),
])
def test_bad_settings_name_the_field(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        scram(**overrides)
    assert message in str(info.value)
    assert SECRET not in str(info.value)


def test_tls_files_need_a_tls_protocol(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    with pytest.raises(ConfigError, match="TLS options need security_protocol SSL or SASL_SSL"):
        KafkaConnection(bootstrap_servers="h:1", ssl_cafile=str(ca))


def test_a_properties_file_as_kafka_tools_take_it(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not used before a client is made")
    path = tmp_path / "client.properties"
    path.write_text(
        "# as for kafka-consumer-groups.sh --command-config\n"
        "bootstrap.servers=broker-1:9093,broker-2:9093\n"
        "security.protocol=SASL_SSL\n"
        "sasl.mechanism=SCRAM-SHA-512\n"
        'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required '
        f'username="alice" password="{SECRET}";\n'
        f"ssl.truststore.location={ca}\n"
        "ssl.truststore.type=PEM\n"
        "ssl.endpoint.identification.algorithm=\n")
    connection = KafkaConnection.from_properties(path)
    assert connection.bootstrap_servers == "broker-1:9093,broker-2:9093"
    assert connection.sasl_username == "alice"
    assert connection.sasl_password == Secret(SECRET)
    assert connection.ssl_cafile == str(ca)
    assert connection.ssl_check_hostname is False
    assert SECRET not in repr(connection)


@pytest.mark.parametrize(("text", "message"), [
    ("bootstrap.servers=h:1\nsecurity.protocoll=SSL\n", "unknown key 'security.protocoll'"),
    ("bootstrap.servers=h:1\nssl.truststore.type=JKS\n", "ssl.truststore.type must be PEM"),
    ("security.protocol=SSL\n", "bootstrap.servers must be given"),
    ("bootstrap.servers=h:1\nsecurity.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"
     "sasl.jaas.config=x required user=\"a\";\n", "must carry username"),
])
def test_a_bad_properties_file_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.properties"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        KafkaConnection.from_properties(path)


def test_environment_variables(tmp_path: Path) -> None:
    assert KafkaConnection.from_env({}) is None
    env = {"STREAMGUARD_KAFKA_BOOTSTRAP_SERVERS": "h:9093",
           "STREAMGUARD_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
           "STREAMGUARD_KAFKA_SASL_MECHANISM": "PLAIN",
           "STREAMGUARD_KAFKA_SASL_USERNAME": "bob",
           "STREAMGUARD_KAFKA_SASL_PASSWORD": SECRET}
    connection = KafkaConnection.from_env(env)
    assert connection is not None
    assert connection.sasl_password == Secret(SECRET)
    with pytest.raises(ConfigError, match="unknown environment variable "
                                          "STREAMGUARD_KAFKA_SASL_PASSWORT"):
        KafkaConnection.from_env({**env, "STREAMGUARD_KAFKA_SASL_PASSWORT": "x"})
    props = tmp_path / "c.properties"
    props.write_text("bootstrap.servers=h:1\n")
    from_file = KafkaConnection.from_env({"STREAMGUARD_KAFKA_COMMAND_CONFIG": str(props)})
    assert from_file is not None
    assert from_file.bootstrap_servers == "h:1"


def test_properties_parser_keeps_equals_signs_in_values() -> None:
    assert parse_properties("a = b=c\n! comment\nk: v\n\nflag\n") == {
        "a": "b=c", "k": "v", "flag": ""}
