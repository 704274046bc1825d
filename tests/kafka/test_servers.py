"""The broker helpers without a broker: table parsing and clear start errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamguard.core._errors import ConfigError, StreamGuardError
from streamguard.servers import (
    ApacheKafkaConfig,
    ApacheKafkaServer,
    BrokerStartError,
    GroupPartitionOffsets,
    TansuConfig,
    parse_consumer_group_table,
)

_TABLE = """
Consumer group 'g1' has no active members.

GROUP  TOPIC  PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID  HOST  CLIENT-ID
g1  t1  0  1000  1003  3  -  -  -
g1  t1  1  -  17  -  -  -  -
"""


def test_consumer_group_table_is_parsed_row_by_row() -> None:
    assert parse_consumer_group_table(_TABLE) == [
        GroupPartitionOffsets("t1", 0, 1000, 1003, 3),
        GroupPartitionOffsets("t1", 1, None, 17, None),
    ]


def test_missing_kafka_jars_name_the_fetch_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMGUARD_CACHE", str(tmp_path))
    with pytest.raises(BrokerStartError, match=r"scripts/fetch_kafka\.sh") as info:
        ApacheKafkaServer(ApacheKafkaConfig(version="9.9.9")).start()
    assert isinstance(info.value, StreamGuardError)


def test_bad_server_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"start_timeout must be > 0, got 0"):
        ApacheKafkaConfig(start_timeout=0)
    with pytest.raises(ConfigError, match=r"port must be in 0\.\.65535, got 70000"):
        TansuConfig(port=70000)


def test_bad_source_options_are_config_errors() -> None:
    from streamguard.kafka import FlowControl, KafkaSourceConfig

    with pytest.raises(ConfigError, match="give exactly one of topics, pattern or partitions"):
        KafkaSourceConfig(bootstrap_servers="b:1", group_id="g")
    with pytest.raises(ConfigError, match=r"max_poll_records must be < flow.high_mark=400"):
        KafkaSourceConfig(bootstrap_servers="b:1", topics=("t",), group_id="g",
                          flow=FlowControl(high_mark=400, low_mark=100))
    with pytest.raises(ConfigError, match="group_id is required"):
        KafkaSourceConfig(bootstrap_servers="b:1", topics=("t",))
    with pytest.raises(ConfigError, match=r"topic must be 1 to 249 characters.*got 'a b'"):
        KafkaSourceConfig(bootstrap_servers="b:1", topics=("a b",), group_id="g")
    with pytest.raises(ConfigError, match="topics must be a tuple of names, not one string"):
        KafkaSourceConfig(bootstrap_servers="b:1", topics="orders", group_id="g")  # type: ignore[arg-type]
