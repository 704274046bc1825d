"""TransactionalConfig and TransactionalPipeline refuse bad input when they are built, naming
the rule, the field and the value; the batch clock is pure arithmetic over given times."""

from __future__ import annotations

from typing import Any

import pytest

from streamguard.core import ConfigError
from streamguard.kafka import TransactionalConfig, TransactionalPipeline
from streamguard.kafka._transactional_config import batch_due
from streamguard.testing import VirtualClock

BASE: dict[str, Any] = {"bootstrap_servers": "127.0.0.1:9092", "topics": ("a",),
                        "group_id": "g", "output_topic": "b"}


def make(**overrides: Any) -> TransactionalConfig:
    return TransactionalConfig(**{**BASE, **overrides})


@pytest.mark.parametrize(("field", "value", "message"), [
    ("guarantee", "exactly-once", "guarantee must be 'exactly_once' or 'at_least_once'"),
    ("topics", "a", "topics must be a non-empty tuple of names"),
    ("topics", (), "topics must be a non-empty tuple of names"),
    ("output_topic", "a", "output_topic must not be one of the input topics"),
    ("output_topic", "b c", "output_topic must be 1 to 249 characters"),
    ("group_id", "", "group_id must be a non-empty string"),
    ("batch_records", 0, "batch_records must be >= 1"),
    ("batch_records", True, "batch_records must be an int"),
    ("batch_interval", 0, "batch_interval must be > 0 seconds"),
    ("batch_interval", 61.0, "batch_interval must be < transaction_timeout=60.0"),
    ("max_buffered", 10, "max_buffered must be >= batch_records=1000"),
    ("concurrency", 0, "concurrency must be >= 1"),
    ("dead_letter_topic", "", "dead_letter_topic must be 1 to 249 characters"),
    ("dead_letter_topic", "a", r"dead_letter_topic must not be one of the input topics \('a',\)"),
    ("transactional_id_prefix", " ", "transactional_id_prefix must be a non-empty string"),
    ("idempotence", 1, "idempotence must be True or False"),
    ("heartbeat_interval", 20.0, "heartbeat_interval must be > 0 and < session_timeout=10.0"),
    ("bootstrap_servers", "host:99999", "port must be a number in 1..65535"),
])
def test_a_bad_field_is_refused_naming_rule_field_and_value(
        field: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        make(**{field: value})
    assert repr(value) in str(caught.value)


def test_defaults_and_transactional_ids() -> None:
    cfg = make()
    assert (cfg.guarantee, cfg.batch_records, cfg.batch_interval) == ("exactly_once", 1000, 0.1)
    assert cfg.transactional
    assert not make(guarantee="at_least_once").transactional
    assert cfg.transactional_id("a", 3) == "g-a-3"
    assert make(transactional_id_prefix="app").transactional_id("a", 0) == "app-a-0"
    assert make(topics=["a", "c"]).topics == ("a", "c")  # a list is kept as a tuple


async def test_a_pipeline_runs_once() -> None:
    from streamguard.kafka import BrokerUnreachableError

    pipeline: TransactionalPipeline[bytes] = TransactionalPipeline(
        make(bootstrap_servers="127.0.0.1:1", connect_timeout=0.5), lambda r: r.value)
    with pytest.raises(BrokerUnreachableError, match=r"127\.0\.0\.1:1"):
        await pipeline.run()
    with pytest.raises(ConfigError, match="a TransactionalPipeline runs once"):
        await pipeline.run()


def test_the_pipeline_refuses_a_transform_that_is_not_callable() -> None:
    with pytest.raises(ConfigError, match="transform must be a function record -> result"):
        TransactionalPipeline(make(), transform="upper")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="config must be a TransactionalConfig"):
        TransactionalPipeline(BASE, transform=str)  # type: ignore[arg-type]


async def test_a_batch_is_due_by_count_or_by_the_age_of_its_first_record() -> None:
    cfg = make(batch_records=100, batch_interval=0.5)
    clock = VirtualClock()
    first = clock.now()
    assert not batch_due(0, None, clock.now(), cfg)
    assert not batch_due(99, first, clock.now(), cfg)
    assert batch_due(100, first, clock.now(), cfg)
    await clock.advance(0.4)
    assert not batch_due(1, first, clock.now(), cfg)
    await clock.advance(0.1)
    assert batch_due(1, first, clock.now(), cfg)
    assert not batch_due(0, first, clock.now(), cfg)


def test_the_modules_stay_small() -> None:
    import pathlib

    import streamguard.kafka as kafka

    sizes = {p.name: len(p.read_text().splitlines())
             for p in pathlib.Path(kafka.__file__).parent.glob("_transactional*.py")}
    assert len(sizes) == 3
    assert max(sizes.values()) <= 350, sizes
