"""Helpers for running Kafka source pipelines in the integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from streamguard.core import Event, EventBus
from streamguard.kafka import KafkaSourceConfig

from ._brokers import Broker


def source_config(broker: Broker, topic: str, group: str, **overrides: Any) -> KafkaSourceConfig:
    """A source config for *broker*, with the broker's test timings (short sessions)."""
    options = dict(broker.consumer_options)
    settings: dict[str, Any] = {
        "bootstrap_servers": broker.bootstrap, "topics": (topic,), "group_id": group,
        "session_timeout": options.get("session_timeout_ms", 6000) / 1000,
        "heartbeat_interval": options.get("heartbeat_interval_ms", 1000) / 1000,
        "dead_letter_idempotence": broker.idempotence,
        "connect_timeout": 20.0,
    }
    settings.update(overrides)
    return KafkaSourceConfig(**settings)


class Recorder:
    """Collects the events of one bus, in order."""

    def __init__(self, bus: EventBus) -> None:
        self.events: list[Event] = []
        self.unsubscribe = bus.subscribe(self.events.append)

    def of(self, kind: type[Any]) -> list[Any]:
        """The recorded events of type *kind*."""
        return [e for e in self.events if isinstance(e, kind)]


async def wait_for(predicate: Callable[[], bool], *, within: float, what: str,
                   task: asyncio.Task[Any] | None = None) -> None:
    """Poll *predicate* until true; fail after *within* seconds (or if *task* ended early)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if task is not None and task.done():
            task.result()  # raises the pipeline's error, if any
            raise AssertionError(f"pipeline ended before {what}")
        assert loop.time() < deadline, f"timed out after {within} s waiting for {what}"
        await asyncio.sleep(0.02)
