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


async def test_a_transactional_pipeline_drained_before_run_has_ended_at_once() -> None:
    pipeline = _transactional()
    handle = pipeline.drain(timeout=1)
    assert isinstance(handle, Draining)
    assert handle.done
    result = await handle
    assert result == PipelineResult(pipeline.name, 0, (), "drained")
    assert await handle == result == await pipeline.drain(timeout=1)
    assert (await pipeline.run()).consumed == 0  # returns at once: nothing to connect to
    with pytest.raises(ConfigError, match="runs once"):
        await pipeline.run()


async def test_a_transactional_pipeline_cancelled_before_run_does_not_run() -> None:
    pipeline = _transactional()
    pipeline.cancel()
    assert (await pipeline.run()).consumed == 0
    assert (await pipeline.drain()).outcome == "cancelled"


@pytest.mark.parametrize("make", [_source, _transactional])
@pytest.mark.parametrize("bad", [-1, "1", True, float("nan")])
def test_a_bad_drain_timeout_is_refused_at_the_call(make: Any, bad: Any) -> None:
    with pytest.raises(ConfigError, match=r"drain\(timeout\) must be a number of seconds >= 0"):
        make().drain(bad)
