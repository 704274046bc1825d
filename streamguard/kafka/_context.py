"""What the parts of one Kafka source share: its settings, its partitions and its counters.

The parts (pump, completion, commits, dead letters, flow, rebalance) each own one concern and
read or change the state here; none reaches into another part.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from streamguard.core._clock import Clock
from streamguard.core._events import Event, EventBus

from ._codec import Codec
from ._config import KafkaSourceConfig
from ._lifecycle import Lifecycle
from ._partition import PartitionState
from ._pause import PauseController
from ._types import TP


class Counters:
    """The source's running totals (see :class:`~streamguard.kafka.KafkaSourceStatistics`)."""

    __slots__ = ("abandoned", "completed", "dead_lettered", "emitted", "fetched", "pauses",
                 "resumes", "skipped")

    def __init__(self) -> None:
        self.fetched = self.emitted = self.completed = self.dead_lettered = 0
        self.abandoned = self.pauses = self.resumes = self.skipped = 0


class SourceContext:
    """The state one source's parts share."""

    __slots__ = ("bus", "clock", "codec", "config", "consumer", "counts", "drain_timeout",
                 "life", "name", "parts", "pause", "ready")

    def __init__(
        self, config: KafkaSourceConfig, name: str, codec: Codec[Any], bus: EventBus,
        clock: Clock,
    ) -> None:
        self.config = config
        self.name = name
        self.codec = codec
        self.bus = bus
        self.clock = clock
        self.life = Lifecycle()
        self.pause = PauseController(config.flow, clock)
        self.parts: dict[TP, PartitionState] = {}
        self.ready: deque[PartitionState] = deque()  # partitions with buffered records
        self.consumer: Any = None
        self.counts = Counters()
        self.drain_timeout = config.close_timeout  # how long a drain waits for in-flight

    def publish(self, event: Event) -> None:
        """Put *event* on the bus if anyone listens."""
        if self.bus.active:
            self.bus.publish(event)

    @property
    def usable_consumer(self) -> Any:
        """The consumer while it may be used, else ``None``."""
        return self.consumer if self.life.open else None
