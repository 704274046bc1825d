"""The one exception tree of streamguard.

::

    StreamGuardError                      base of everything raised by streamguard
    ├── ConfigError (also ValueError)     a configuration value breaks a rule
    ├── DemandError (also ValueError)     request(n) with n <= 0 (Reactive Streams rule 3.9)
    ├── StreamClosedError                 emit/subscribe on a stream that cannot take it
    ├── BufferOverflowError               a buffer with overflow="error" was full
    │   └── GroupLimitError               (streamguard.operators) group_by met max_groups
    ├── ItemFailedError                   an item failed in a stage; names stage and item
    ├── WouldBlock                        a non-waiting call found no demand or no room
    ├── TooManyRequests                   the downstream asked to slow down (HTTP 429 …)
    ├── StreamTimeoutError (also          (streamguard.operators) no item arrived in time
    │   TimeoutError)
    ├── RateLimitExceeded                 (streamguard.ratelimit) a limiter in "error" mode said no
    ├── CircuitOpenError                  (streamguard.breaker) the breaker refused the call
    ├── RetryError                        (streamguard.retry) attempts or budget exhausted
    ├── DeliveryError                     (streamguard.guard) an item could not be delivered
    ├── KafkaAdapterError                 (streamguard.kafka)
    │   ├── BrokerUnreachableError        no broker answered within connect_timeout
    │   ├── BrokerRefusedError            a broker refused: credentials, TLS, ACLs (named)
    │   ├── UnknownTopicError             a configured topic does not exist
    │   ├── RecordFailedError             a record failed and no dead-letter route took it
    │   ├── DeadLetterError               writing a dead letter failed; not committed
    │   ├── IdempotenceUnsupportedError   the broker refused an idempotent producer
    │   └── TransactionsUnsupportedError  the broker has no transactions (exactly-once)
    ├── ServerStartError                  (streamguard.servers) a local server did not start
    │   ├── BrokerStartError              a test Kafka broker
    │   └── RedisStartError               redis-server
    └── BrokerToolError                   (streamguard.servers) a Kafka command-line tool failed

A test (``tests/test_conventions.py``) keeps every exported error in this tree.

Messages name the object, its state, the rule and the bad value, and say what to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any


class StreamGuardError(Exception):
    """Base class of every error streamguard raises."""


class ConfigError(StreamGuardError, ValueError):
    """A configuration value breaks a documented rule.

    The message names the rule and the value, e.g. ``"rate must be > 0, got -1"``.
    """


def require(condition: bool, rule: str, value: Any) -> None:
    """Raise :class:`ConfigError` stating *rule* and *value* unless *condition* holds."""
    if not condition:
        raise ConfigError(f"{rule}, got {value!r}")


class DemandError(StreamGuardError, ValueError):
    """``request(n)`` was called with ``n <= 0`` (Reactive Streams rule 3.9)."""


class StreamClosedError(StreamGuardError):
    """An operation needed an open stream, but it was completed, failed or cancelled."""


class BufferOverflowError(StreamGuardError):
    """A bounded buffer with ``overflow="error"`` received an item while full."""


class ItemFailedError(StreamGuardError):
    """An item failed inside a stage; the message names the stage and the item."""

    def __init__(self, message: str, *, stage: str, item: Any) -> None:
        super().__init__(message)
        self.stage = stage
        self.item = item


class WouldBlock(StreamGuardError):
    """A ``*_nowait`` call could not proceed without waiting."""


def item_failed(stage: str, item: object, error: BaseException) -> ItemFailedError:
    """Wrap *error* into the stream error that names the stage and the item."""
    shown = repr(item)
    if len(shown) > 200:
        shown = shown[:200] + "…"
    err = ItemFailedError(
        f"stage {stage!r} failed on item {shown}: {type(error).__name__}: {error}",
        stage=stage, item=item,
    )
    err.__cause__ = error
    return err


_FAILING_STAGE: ContextVar[str | None] = ContextVar("streamguard_failing_stage", default=None)


def failing_stage() -> str | None:
    """The name of the stage whose error callback runs now (``on_error``, a guarded sink's
    ``dead_letter`` or ``fallback``), else ``None``. A callback is handed ``(item, error)``,
    the error as the user's function raised it; a dead-letter route that records which stage
    failed the item (the Kafka source's ``streamguard.error.stage`` header) reads it here."""
    return _FAILING_STAGE.get()


@contextmanager
def failure_of(stage: str) -> Iterator[None]:
    """Run an error callback of *stage* (see :func:`failing_stage`); an async callback is
    awaited inside the block, in the same task, so it sees the stage too."""
    token = _FAILING_STAGE.set(stage)
    try:
        yield
    finally:
        _FAILING_STAGE.reset(token)
