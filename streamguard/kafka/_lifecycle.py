"""The Kafka source's life: one explicit state machine, and the clients it opens and closes.

::

    NEW ──request──▶ OPENING ──opened──▶ RUNNING ──drain──▶ DRAINING ──▶ CLOSING ──▶ CLOSED
     │                  │                   │                              ▲          ▲
     │                  └───cancel/error────┴──────────────────────────────┘          │
     └──drain/cancel (nothing opened yet)─────────────────────────────────────────────┘

* ``RUNNING`` — the pump fetches and hands records downstream against demand.
* ``DRAINING`` — nothing more is fetched or handed out; what is in flight may finish (up to
  ``close_timeout``); the stream then completes.
* ``CLOSING`` — the last commit (what completed, never past an unfinished record), then the
  consumer leaves the group and every client is closed, exactly once, even if cancelled.

How the source ended (:class:`Ending`) is set once, by whoever moved it towards ``CLOSING``
first: downstream's cancel, an error, or a drain.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from ._client import (
    check_partitions,
    check_topics,
    make_consumer,
    set_prefetch_backoff,
    start_client,
)
from ._config import KafkaSourceConfig
from ._types import TP


class Phase(Enum):
    """Where a source is in its life (see the module's diagram)."""

    NEW = "new"
    OPENING = "opening"
    RUNNING = "running"
    DRAINING = "draining"
    CLOSING = "closing"
    CLOSED = "closed"


class Ending(Enum):
    """How a source ended."""

    COMPLETED = "completed"  # drained: downstream gets on_complete
    FAILED = "failed"  # downstream gets on_error
    CANCELLED = "cancelled"  # downstream cancelled: no signal


_NEXT: dict[Phase, frozenset[Phase]] = {
    Phase.NEW: frozenset({Phase.OPENING, Phase.CLOSED}),
    Phase.OPENING: frozenset({Phase.RUNNING, Phase.DRAINING, Phase.CLOSING}),
    Phase.RUNNING: frozenset({Phase.DRAINING, Phase.CLOSING}),
    Phase.DRAINING: frozenset({Phase.CLOSING}),
    Phase.CLOSING: frozenset({Phase.CLOSED}),
    Phase.CLOSED: frozenset(),
}


class Lifecycle:
    """The phase and the ending of one source; every change goes through :meth:`move`."""

    __slots__ = ("ending", "error", "phase")

    def __init__(self) -> None:
        self.phase = Phase.NEW
        self.ending: Ending | None = None
        self.error: BaseException | None = None

    def move(self, to: Phase) -> bool:
        """Go to *to* if the diagram allows it from here; False (and no change) otherwise."""
        if to not in _NEXT[self.phase]:
            return False
        self.phase = to
        return True

    def end(self, ending: Ending, error: BaseException | None = None) -> bool:
        """Record how the source ends (the first call wins) and leave ``NEW``, ``OPENING``,
        ``RUNNING`` or ``DRAINING``; False if it was already ending."""
        if self.ending is not None:
            return False
        self.ending, self.error = ending, error
        if self.phase is Phase.NEW:  # nothing was opened: nothing to drain or close
            return self.move(Phase.CLOSED)
        self.move(Phase.DRAINING if ending is Ending.COMPLETED else Phase.CLOSING)
        return True

    @property
    def fetching(self) -> bool:
        """True while records may be fetched and handed out."""
        return self.phase is Phase.RUNNING

    @property
    def open(self) -> bool:
        """True while the consumer may be used (not closing or closed)."""
        return self.phase in (Phase.OPENING, Phase.RUNNING, Phase.DRAINING)

    def __repr__(self) -> str:
        ending = "" if self.ending is None else f", {self.ending.value}"
        return f"Lifecycle({self.phase.value}{ending})"


def consumer_options(config: KafkaSourceConfig) -> dict[str, Any]:
    """aiokafka consumer settings for *config*. Values stay bytes: the source decodes them
    itself, so that a dead letter can carry the original bytes whatever the codec."""
    return {
        "bootstrap_servers": config.bootstrap_servers, "group_id": config.group_id,
        "client_id": config.client_id, "enable_auto_commit": False,
        "auto_offset_reset": config.auto_offset_reset,
        "session_timeout_ms": int(config.session_timeout * 1000),
        "heartbeat_interval_ms": int(config.heartbeat_interval * 1000),
        "max_poll_interval_ms": int(config.max_poll_interval * 1000),
        "fetch_max_bytes": config.fetch_max_bytes,
        **dict(config.consumer_options or {}),
    }


async def open_consumer(config: KafkaSourceConfig, what: str) -> Any:
    """Start a consumer for *config* and check that its topics and partitions exist."""
    consumer = make_consumer(**consumer_options(config))
    await start_client(consumer, bootstrap=config.bootstrap_servers,
                       within=config.connect_timeout, what=what)
    # Before subscribe/assign: no fetch result exists yet that carries aiokafka's 0.1 s.
    set_prefetch_backoff(consumer, config.prefetch_backoff)
    return consumer


async def check_subscription(consumer: Any, config: KafkaSourceConfig, what: str) -> None:
    """Fail with a clear error unless every topic and partition of *config* exists."""
    known = await check_topics(
        consumer, [*config.topics, *(t for t, _ in config.partitions)],
        bootstrap=config.bootstrap_servers, within=config.connect_timeout, what=what)
    check_partitions(known, config.partitions, bootstrap=config.bootstrap_servers, what=what)


def subscribe(consumer: Any, config: KafkaSourceConfig, listener: Any) -> frozenset[TP] | None:
    """Subscribe (topics, pattern) with *listener*, or assign the configured partitions and
    return them (no listener is called then)."""
    if config.partitions:
        tps = frozenset(TP(t, p) for t, p in config.partitions)
        consumer.assign(list(tps))
        return tps
    if config.pattern is not None:
        consumer.subscribe(pattern=config.pattern, listener=listener)
    else:
        consumer.subscribe(topics=list(config.topics), listener=listener)
    return None
