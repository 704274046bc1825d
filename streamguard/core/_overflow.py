"""Overflow strategies and the bounded queue that applies them.

Shared by the ``buffer`` operator and the reactivex bridge (Rx cannot be slowed down, so the
bridge must say what happens when its buffer is full).
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum
from typing import Generic, Literal, TypeAlias, TypeVar

from ._ack import Ack
from ._errors import BufferOverflowError, ConfigError

T = TypeVar("T")


OverflowPolicy: TypeAlias = Literal[
    "backpressure", "drop_oldest", "drop_newest", "keep_latest", "error"]
"""What a full buffer does with the next item, as a plain string (the public spelling)."""


class Overflow(StrEnum):
    """What a full buffer does with the next item.

    * ``BACKPRESSURE`` — lossless (the default): never full, because upstream is only asked
      for what fits.
    * ``DROP_OLDEST`` — drop the oldest buffered item to make room.
    * ``DROP_NEWEST`` — drop the incoming item.
    * ``KEEP_LATEST`` — replace the newest buffered item with the incoming one (with
      capacity 1: only the latest value is kept, like Rx's ``onBackpressureLatest``).
    * ``ERROR`` — fail the stream with :class:`BufferOverflowError`.

    Every dropped item is counted and completed at its source.
    """

    BACKPRESSURE = "backpressure"
    DROP_OLDEST = "drop_oldest"
    DROP_NEWEST = "drop_newest"
    KEEP_LATEST = "keep_latest"
    ERROR = "error"


def parse_overflow(value: object, owner: str) -> Overflow:
    """Return the policy *value* (a plain string) as an :class:`Overflow`, or raise naming
    *owner* (the public name of the operator or source that takes it) and the allowed
    values."""
    if isinstance(value, str):
        try:
            return Overflow(value)
        except ValueError:
            pass
    allowed = ", ".join(repr(o.value) for o in Overflow)
    raise ConfigError(f"{owner}: overflow must be one of {allowed}, got {value!r}")


class BoundedQueue(Generic[T]):
    """A FIFO of items and their acks, bounded by *capacity*, applying an overflow strategy."""

    __slots__ = ("acks", "capacity", "items", "owner", "strategy")

    def __init__(self, capacity: int, strategy: Overflow, owner: str) -> None:
        self.items: deque[T] = deque()
        self.acks: deque[Ack | None] = deque()
        self.capacity = capacity
        self.strategy = strategy
        self.owner = owner

    def __len__(self) -> int:
        return len(self.items)

    def offer(self, item: T, ack: Ack | None) -> tuple[bool, Ack | None]:
        """Add one item; return ``(dropped, ack of the dropped item)``.

        Raises :class:`BufferOverflowError` under ``Overflow.ERROR`` when full.
        """
        if len(self.items) < self.capacity or self.strategy is Overflow.BACKPRESSURE:
            self.items.append(item)
            self.acks.append(ack)
            return False, None
        if self.strategy is Overflow.DROP_NEWEST:
            return True, ack
        if self.strategy is Overflow.DROP_OLDEST:
            self.items.popleft()
            dropped = self.acks.popleft()
            self.items.append(item)
            self.acks.append(ack)
            return True, dropped
        if self.strategy is Overflow.KEEP_LATEST:
            self.items[-1] = item
            dropped = self.acks[-1]
            self.acks[-1] = ack
            return True, dropped
        raise BufferOverflowError(
            f"{self.owner} is full (capacity={self.capacity}) and overflow='error'; "
            "use a lossy overflow strategy or a larger capacity"
        )

    def clear(self) -> list[Ack]:
        """Remove everything; return the acks of the removed items (to settle them)."""
        acks = [a for a in self.acks if a is not None]
        self.items.clear()
        self.acks.clear()
        return acks

    def take(self, n: int) -> tuple[list[T], list[Ack] | None]:
        """Remove and return up to *n* items with their acks (``None`` if none carry one)."""
        if n >= len(self.items):  # everything: copy at C speed
            items = list(self.items)
            raw = list(self.acks)
            self.items.clear()
            self.acks.clear()
        else:
            items = [self.items.popleft() for _ in range(n)]
            raw = [self.acks.popleft() for _ in range(n)]
        if raw and (raw[0] is not None or raw[-1] is not None or any(raw)):
            return items, [a if a is not None else NOOP_ACK for a in raw]
        return items, None


class _NoopAck:
    """Stands in for a missing ack when a chunk mixes acked and plain items."""

    __slots__ = ()

    def done(self) -> None:
        pass

    def fail(self, error: BaseException) -> None:
        pass

    def abandon(self) -> None:
        pass


NOOP_ACK: Ack = _NoopAck()
