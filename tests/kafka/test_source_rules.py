"""The Kafka source under the Reactive Streams rules and the ack properties, on real brokers.

The shared contract registry drives in-memory publishers; a broker-backed source needs topics
and a running consumer, so it has its own module with the same rules: 1.1 (never more than
requested), 1.7 (one terminal signal), 3.6 (request after the end is a no-op), 3.9 (request
of n <= 0 fails the stream naming the source), 3.13 (cancel forgets the subscriber), one
subscriber per source, and every ack handed out settles exactly once whatever the ending.
"""

from __future__ import annotations

from typing import Any

import pytest

from streamguard.core import DemandError, StreamClosedError
from streamguard.core._runtime import Runtime, activate
from streamguard.kafka import KafkaSource, TopicPartition

from ._brokers import Broker, committed_offsets, create_topic, produce
from ._pipelines import source_config, wait_for

pytestmark = pytest.mark.integration


class Probe:
    """A subscriber that records every signal and counts each ack's settlements."""

    def __init__(self) -> None:
        self.subscription: Any = None
        self.items: list[Any] = []
        self.acks: list[Any] = []
        self.terminal: list[object] = []

    def on_subscribe(self, subscription: Any) -> None:
        self.subscription = subscription

    def on_next(self, item: Any) -> None:
        self.items.append(item)

    def on_chunk(self, items: list[Any], acks: list[Any] | None) -> None:
        assert acks is not None
        assert len(acks) == len(items)
        self.items.extend(items)
        self.acks.extend(acks)

    def on_error(self, error: BaseException) -> None:
        self.terminal.append(error)

    def on_complete(self) -> None:
        self.terminal.append("complete")


async def _source(broker: Broker, topic: str, group: str, n: int = 300) -> KafkaSource[bytes]:
    await create_topic(broker.bootstrap, topic, partitions=2)
    await produce(broker, topic, (b"%d" % i for i in range(n)), partition_of=lambda i: i % 2)
    return KafkaSource(source_config(broker, topic, group))


async def test_rules_1_1_3_13_and_one_subscriber(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    source = await _source(kafka_broker, topic, group)
    rt = Runtime("rules")
    probe = Probe()
    with activate(rt):
        source.stream()._subscribe_chunked(probe)
        with pytest.raises(StreamClosedError, match="already has a subscriber"):
            source.stream()._subscribe_chunked(Probe())
    try:
        probe.subscription.request(7)
        await wait_for(lambda: len(probe.items) == 7, within=60, what="7 records")
        # Rule 1.1, never more than requested: shown with more records at hand than asked
        # for (the pump fetches ahead of demand), not after a wait a slow fetch can outlast.
        await wait_for(lambda: source.statistics().fetched >= 10, within=30, what="10 fetched")
        assert len(probe.items) == 7
        assert source.statistics().emitted == 7
        probe.subscription.request(3)
        await wait_for(lambda: len(probe.items) == 10, within=30, what="3 more")
        for ack in probe.acks[:4]:
            ack.done()
        probe.subscription.cancel()  # rule 3.13: nothing reaches the probe any more
        probe.subscription.request(50)  # rule 3.6: a no-op after cancel
        await wait_for(lambda: source.phase == "closed", within=20, what="the close")
        assert len(probe.items) == 10
        assert probe.terminal == []  # a cancelled subscriber gets no terminal signal
    finally:
        await rt.aclose()


async def test_rule_3_9_request_zero_fails_once_naming_the_source(
    kafka_broker: Broker, topic: str, group: str
) -> None:
    source = await _source(kafka_broker, topic, group)
    rt = Runtime("rules")
    probe = Probe()
    with activate(rt):
        source.stream()._subscribe_chunked(probe)
    try:
        probe.subscription.request(0)
        probe.subscription.request(-1)
        assert len(probe.terminal) == 1  # rule 1.7
        error = probe.terminal[0]
        assert isinstance(error, DemandError)
        assert source.name in str(error)
        assert "3.9" in str(error)
    finally:
        await rt.aclose()


@pytest.mark.parametrize("ending", ["drain", "cancel"])
async def test_every_ack_settles_once_and_drain_completes_once(
    kafka_broker: Broker, topic: str, group: str, ending: str
) -> None:
    source = await _source(kafka_broker, topic, group)
    rt = Runtime("acks")
    probe = Probe()
    with activate(rt):
        source.stream()._subscribe_chunked(probe)
    try:
        probe.subscription.request(40)
        await wait_for(lambda: len(probe.items) == 40, within=60, what="40 records")
        for ack in probe.acks[::3]:
            ack.done()
        for ack in probe.acks[1::3]:
            ack.abandon()
        if ending == "drain":
            source.drain(timeout=0.2)
        else:
            probe.subscription.cancel()
        await wait_for(lambda: source.phase == "closed", within=20, what="the close")
        # Settling after the end is ignored: the records are not this consumer's any more.
        for ack in probe.acks:
            ack.done()
        assert probe.terminal == (["complete"] if ending == "drain" else [])
        # Committed: per partition, the records done before the first one not done.
        expected: dict[TopicPartition, int] = {}
        stopped: set[int] = set()
        for index, record in enumerate(probe.items):
            if record.partition in stopped:
                continue
            if index % 3 == 0:
                expected[TopicPartition(topic, record.partition)] = record.offset + 1
            else:
                stopped.add(record.partition)
        committed = await committed_offsets(kafka_broker.bootstrap, group, topics=[topic])
        assert {tp: o for tp, o in committed.items() if o >= 0} == expected
    finally:
        await rt.aclose()
