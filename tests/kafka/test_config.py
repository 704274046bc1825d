"""Kafka configs refuse bad values and bad types when they are built, naming field and value
(#9 item 8: a bad port or an empty group id used to fail later, inside aiokafka)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from streamguard.core._errors import ConfigError
from streamguard.kafka import KafkaSinkConfig, KafkaSourceConfig, LagThrottleConfig


def source(**overrides: Any) -> KafkaSourceConfig:
    settings: dict[str, Any] = {"bootstrap_servers": "127.0.0.1:9092", "topics": ("t",),
                                "group_id": "g"}
    settings.update(overrides)
    return KafkaSourceConfig(**settings)


@pytest.mark.parametrize("servers", [
    "127.0.0.1:notaport", "127.0.0.1:0", "127.0.0.1:65536", "a:1,b:x", "a:1,,b:2", "a b:1",
    "host:", " ",
])
def test_a_bad_bootstrap_address_is_refused_naming_the_value(servers: str) -> None:
    with pytest.raises(ConfigError, match=r"bootstrap_servers.*got " + re.escape(repr(servers))):
        source(bootstrap_servers=servers)
    with pytest.raises(ConfigError, match="bootstrap_servers"):
        KafkaSinkConfig(bootstrap_servers=servers)


def test_the_port_rule_names_the_bad_server() -> None:
    bad = "127.0.0.1:notaport"
    with pytest.raises(ConfigError, match=r"port must be a number in 1\.\.65535 \(server "
                       + re.escape(f"{bad!r}), got {bad!r}")):
        source(bootstrap_servers="127.0.0.1:notaport")


@pytest.mark.parametrize("servers", ["127.0.0.1:9092", "a:1,b:2", "kafka", "[::1]:9092",
                                     "broker-1.example.com:9093, broker-2.example.com:9093"])
def test_good_bootstrap_addresses_pass(servers: str) -> None:
    assert source(bootstrap_servers=servers).bootstrap_servers == servers


@pytest.mark.parametrize("group", ["", "   "])
def test_an_empty_group_id_is_refused(group: str) -> None:
    with pytest.raises(ConfigError, match=r"group_id must be a non-empty string or None, got "
                                          + repr(group)):
        source(group_id=group)


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("commit_every", True, "commit_every must be an int"),
    ("commit_every", 10.5, "commit_every must be an int"),
    ("max_poll_records", "500", "max_poll_records must be an int"),
    ("fetch_max_bytes", None, "fetch_max_bytes must be an int"),
    ("poll_timeout", "0.1", r"poll_timeout must be a number \(int or float\)"),
    ("prefetch_backoff", True, r"prefetch_backoff must be a number \(int or float\)"),
    ("commit_interval", None, r"commit_interval must be a number"),
    ("close_timeout", False, r"close_timeout must be a number"),
    ("session_timeout", float("nan"), r"session_timeout must be a number"),
    ("dead_letter_idempotence", 0, "dead_letter_idempotence must be True or False"),
    ("dead_letter_idempotence", "false", "dead_letter_idempotence must be True or False"),
    ("client_id", "", "client_id must be a non-empty string"),
    ("client_id", 7, "client_id must be a non-empty string"),
    ("group_id", 7, "group_id must be a non-empty string or None"),
    ("flow", {"high_mark": 10}, "flow must be a FlowControl"),
    ("consumer_options", [("a", 1)], "consumer_options must be a mapping"),
    ("pattern", 5, "pattern must be a regular expression string"),
])
def test_every_field_checks_its_type(field: str, value: object, rule: str) -> None:
    overrides: dict[str, Any] = {field: value}
    if field == "pattern":
        overrides["topics"] = ()
    with pytest.raises(ConfigError, match=rf"{rule}.*, got {re.escape(repr(value))}$"):
        source(**overrides)


@pytest.mark.parametrize("pair", [("t", True), ("t", "0"), ("t", -1), ("t",), "t0"])
def test_assigned_partitions_are_topic_number_pairs(pair: object) -> None:
    with pytest.raises(ConfigError, match="partitions must be"):
        KafkaSourceConfig(bootstrap_servers="a:1", partitions=(pair,))  # type: ignore[arg-type]


def test_lists_are_kept_as_tuples() -> None:
    config = source(topics=["a", "b"])
    assert config.topics == ("a", "b")
    assigned = KafkaSourceConfig(bootstrap_servers="a:1", partitions=[["t", 0]])  # type: ignore[arg-type]
    assert assigned.partitions == (("t", 0),)
    hash(config)


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("idempotence", 1, "idempotence must be True or False"),
    ("acks", True, "acks must be 'all', 0 or 1"),
    ("linger", "0", "linger must be a number"),
    ("max_batch_bytes", 1024.0, "max_batch_bytes must be an int"),
    ("delivery_timeout", None, "delivery_timeout must be a number"),
    ("client_id", "", "client_id must be a non-empty string"),
    ("producer_options", "x", "producer_options must be a mapping"),
])
def test_sink_config_checks_types(field: str, value: object, rule: str) -> None:
    overrides: dict[str, Any] = {field: value}
    if field == "acks":
        overrides["idempotence"] = False
    with pytest.raises(ConfigError, match=rule):
        KafkaSinkConfig(bootstrap_servers="a:1", **overrides)


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("max_rate", "5", "max_rate must be a number"),
    ("threshold", True, "threshold must be an int"),
    ("threshold", 10.5, "threshold must be an int"),
    ("min_rate", "1", "min_rate must be a number"),
    ("interval", None, "interval must be a number"),
])
def test_throttle_config_checks_types(field: str, value: object, rule: str) -> None:
    overrides: dict[str, Any] = {"max_rate": 100.0, "threshold": 10}
    overrides[field] = value
    with pytest.raises(ConfigError, match=rule):
        LagThrottleConfig(**overrides)


def test_prefetch_backoff_defaults_to_ten_ms_and_refuses_a_negative_value() -> None:
    assert source().prefetch_backoff == 0.01
    assert source(prefetch_backoff=0).prefetch_backoff == 0
    with pytest.raises(ConfigError, match=r"prefetch_backoff must be >= 0 seconds, got -0\.1$"):
        source(prefetch_backoff=-0.1)


def test_consumer_options_cannot_set_prefetch_backoff_and_the_error_names_the_field() -> None:
    # AIOKafkaConsumer does not take it; the source sets it on the consumer's fetcher.
    with pytest.raises(ConfigError, match=r"consumer_options cannot set prefetch_backoff .*"
                                          r"use KafkaSourceConfig\.prefetch_backoff"):
        source(consumer_options={"prefetch_backoff": 0.0})


@pytest.mark.parametrize(("overrides", "rule"), [
    ({"topics": ("tb",)}, r"dead_letter_topic must not be one of the input topics \('tb',\)"),
    ({"topics": ("a", "tb")}, "dead_letter_topic must not be one of the input topics"),
    ({"topics": (), "partitions": (("tb", 0),), "group_id": None},
     "dead_letter_topic must not be one of the input topics"),
    ({"topics": (), "pattern": "t.*"},
     "dead_letter_topic must not match the subscription pattern 't.*'"),
    ({"topics": (), "pattern": "tb"},
     "dead_letter_topic must not match the subscription pattern 'tb'"),
])
def test_a_dead_letter_topic_that_is_an_input_is_refused(
        overrides: dict[str, Any], rule: str) -> None:
    # A dead letter written to an input is consumed again, fails again: an endless loop.
    with pytest.raises(ConfigError, match=rf"{rule}.*loop.*, got 'tb'$"):
        source(dead_letter_topic="tb", **overrides)


@pytest.mark.parametrize("overrides", [
    {"topics": ("orders",)}, {"topics": (), "pattern": "x.*"},
    {"topics": (), "pattern": "orders"},  # a pattern matches from the start of a name
])
def test_a_dead_letter_topic_beside_the_inputs_passes(overrides: dict[str, Any]) -> None:
    config = source(dead_letter_topic="dlq.orders", **overrides)
    assert config.dead_letter_topic == "dlq.orders"


def test_a_pattern_matches_the_dead_letter_topic_from_its_start_as_the_consumer_does() -> None:
    with pytest.raises(ConfigError, match="must not match the subscription pattern 'orders'"):
        source(topics=(), pattern="orders", dead_letter_topic="orders.dlq")
