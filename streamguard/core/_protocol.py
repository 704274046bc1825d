"""The Reactive Streams interfaces, for a single-threaded asyncio implementation.

A :class:`Subscriber` receives ``on_subscribe`` once, then ``on_next`` at most as often as it
requested through its :class:`Subscription`, then at most one terminal signal.

Inside streamguard, items travel in chunks: a :class:`ChunkSubscriber` also has ``on_chunk``,
which receives a list of items (never longer than the outstanding demand) and their acks (or
``None``). Moving many items per demand grant with plain calls is what lets a backpressured
pipeline run as fast as Rx's synchronous push. A plain :class:`Subscriber` handed to
:meth:`Stream.subscribe` is adapted and sees one ``on_next`` per item.
"""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

from ._ack import Ack
from ._errors import DemandError

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


@runtime_checkable
class Subscription(Protocol):
    """The link between one publisher and one subscriber."""

    def request(self, n: int) -> None:
        """Add *n* (> 0) to the demand; ``2**63 - 1`` or more means unbounded."""
        ...

    def cancel(self) -> None:
        """Stop emissions and release resources; idempotent."""
        ...


@runtime_checkable
class Subscriber(Protocol[T_contra]):
    """A Reactive Streams subscriber."""

    def on_subscribe(self, subscription: Subscription) -> None:
        """Receive the subscription; called once, before anything else."""
        ...

    def on_next(self, item: T_contra) -> None:
        """Receive one item (only ever as many as requested)."""
        ...

    def on_error(self, error: BaseException) -> None:
        """The stream failed; no signal follows."""
        ...

    def on_complete(self) -> None:
        """The stream ended; no signal follows."""
        ...


@runtime_checkable
class ChunkSubscriber(Protocol[T]):
    """A subscriber that also takes items in chunks, with their acks."""

    def on_subscribe(self, subscription: Subscription) -> None:
        """Receive the subscription; called once, before anything else."""
        ...

    def on_next(self, item: T) -> None:
        """Receive one item."""
        ...

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        """Receive ``len(items)`` items at once; *acks* is ``None`` or as long as *items*."""
        ...

    def on_error(self, error: BaseException) -> None:
        """The stream failed; no signal follows."""
        ...

    def on_complete(self) -> None:
        """The stream ended; no signal follows."""
        ...


# ---------------------------------------------------------------- demand arithmetic
# Shared by every stage and source (Reactive Streams rules 3.9 and 3.17).

UNBOUNDED = 2**63 - 1
"""Demand of ``2**63 - 1`` or more means "send everything" (rule 3.17)."""


def add_demand(current: int, n: int) -> int:
    """Return *current* + *n*, saturating at :data:`UNBOUNDED`."""
    total = current + n
    return UNBOUNDED if total >= UNBOUNDED else total


def demand_error(owner: str, n: object) -> DemandError:
    """Build the error for a non-positive ``request(n)`` (rule 3.9)."""
    return DemandError(
        f"{owner}: request(n) requires n > 0 (Reactive Streams rule 3.9), got {n!r}"
    )
