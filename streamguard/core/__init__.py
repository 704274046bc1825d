"""The stream core: demand (``request(n)``) flowing from sink to source, completion of
every item at its source (``Ack``: done, failed or abandoned), statistics and events, and
the running pipeline (``Stream.start()`` → ``Pipeline`` with ``wait``, ``drain``, ``cancel``).
Everything else builds on this package; it imports nothing from the rest of streamguard.

For those who build sources and stages: ``Publisher`` is the one base of every source,
``Stage`` / ``OutboxStage`` / ``ConcurrentStage`` the bases of stages (``lift`` turns a stage
factory into an operator), ``DrainLoop`` the re-entrancy-safe emit loop. Each documents its
protected API; ``tests/contracts`` checks every source and stage against the same rules."""

from ._ack import Ack, BatchAck, abandon_all, done_all, fail_all
from ._clock import SYSTEM_CLOCK, Clock, MonotonicClock
from ._concurrent import ConcurrencyLimit, ConcurrentStage
from ._draining import Draining
from ._errors import (
    BufferOverflowError,
    ConfigError,
    DemandError,
    ItemFailedError,
    StreamClosedError,
    StreamGuardError,
    WouldBlock,
)
from ._events import Event, EventBus, default_bus
from ._outbox import DrainLoop, OutboxStage
from ._overflow import OverflowPolicy
from ._pipeline import DEFAULT_DRAIN_TIMEOUT, DEFAULT_PREFETCH, Pipeline, PipelineResult
from ._protocol import UNBOUNDED, ChunkSubscriber, Subscriber, Subscription
from ._publisher import Publisher
from ._runtime import Runtime, StageStatistics, live_pipelines
from ._signals import Throttled, TooManyRequests, is_throttled, retry_after_of, retryable_of
from ._stage import ItemFailed, ItemsDropped, Stage, StageEvent, StageTerminated
from ._stream import Operator, Stream, lift

__all__ = [
    "DEFAULT_DRAIN_TIMEOUT",
    "DEFAULT_PREFETCH",
    "SYSTEM_CLOCK",
    "UNBOUNDED",
    "Ack",
    "BatchAck",
    "BufferOverflowError",
    "ChunkSubscriber",
    "Clock",
    "ConcurrencyLimit",
    "ConcurrentStage",
    "ConfigError",
    "DemandError",
    "DrainLoop",
    "Draining",
    "Event",
    "EventBus",
    "ItemFailed",
    "ItemFailedError",
    "ItemsDropped",
    "MonotonicClock",
    "Operator",
    "OutboxStage",
    "OverflowPolicy",
    "Pipeline",
    "PipelineResult",
    "Publisher",
    "Runtime",
    "Stage",
    "StageEvent",
    "StageStatistics",
    "StageTerminated",
    "Stream",
    "StreamClosedError",
    "StreamGuardError",
    "Subscriber",
    "Subscription",
    "Throttled",
    "TooManyRequests",
    "WouldBlock",
    "abandon_all",
    "default_bus",
    "done_all",
    "fail_all",
    "is_throttled",
    "lift",
    "live_pipelines",
    "retry_after_of",
    "retryable_of",
]

from ._public import publish as _publish

_publish(__name__, globals(), __all__)
