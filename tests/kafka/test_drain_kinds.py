"""``drain(timeout)`` of the Kafka kinds without a broker: the call itself drains, the
handle is awaitable any number of times, a bad timeout is refused at the call (the broker
tests are in ``test_source.py`` and ``test_exactly_once.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from streamguard.core import ConfigError, Draining, PipelineResult
from streamguard.kafka import (
    KafkaSource,
    KafkaSourceConfig,
    TransactionalConfig,
    TransactionalPipeline,
)

NOWHERE = "127.0.0.1:9"  # never contacted: nothing here opens a connection


def _source() -> KafkaSource[bytes]:
    return KafkaSource(KafkaSourceConfig(bootstrap_servers=NOWHERE, topics=("t",),
                                         group_id="g"))


def _transactional() -> TransactionalPipeline[bytes]:
    return TransactionalPipeline(TransactionalConfig(
        bootstrap_servers=NOWHERE, topics=("t",), group_id="g", output_topic="o"),
        transform=lambda record: record)


async def test_a_source_never_subscribed_is_drained_by_the_call_and_its_handle_returns() -> None:
    source = _source()
    handle = source.drain(timeout=1)
    assert isinstance(handle, Draining)
    assert handle.done
    assert source.phase == "closed"
    result = await handle
    assert result == PipelineResult(source.name, 0, (), "drained")
    assert await handle == result == await source.drain(timeout=1)


async def test_a_transactional_pipelines_drain_is_a_handle_too() -> None:
    pipeline = _transactional()
    handle = pipeline.drain(timeout=1)  # before run(): run() will stop as soon as it opened
    assert isinstance(handle, Draining)
    assert not handle.done


@pytest.mark.parametrize("make", [_source, _transactional])
@pytest.mark.parametrize("bad", [-1, "1", True, float("nan")])
def test_a_bad_drain_timeout_is_refused_at_the_call(make: Any, bad: Any) -> None:
    with pytest.raises(ConfigError, match=r"drain\(timeout\) must be a number of seconds >= 0"):
        make().drain(bad)
