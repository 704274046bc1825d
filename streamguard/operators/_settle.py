"""Settling the acks a stage holds when it ends without delivering them.

Items held by a stage that is cancelled (or fails) were not processed: their acks are
abandoned, so that a Kafka source does not commit past them and they are delivered again.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..core._ack import Ack, abandon_all

__all__ = ["GroupAck", "abandon_all", "fail_at"]


def fail_at(acks: list[Ack] | None, i: int, error: BaseException) -> list[Ack] | None:
    """An item failed at position *i* of a chunk: fail its ack, abandon the acks of the
    items after it (never processed) and return the acks of the items before it."""
    if acks is None:
        return None
    acks[i].fail(error)
    abandon_all(acks[i + 1:])
    return acks[:i]


class GroupAck:
    """The ack of a window: settling it settles each member exactly once.

    Unlike :class:`~streamguard.core.BatchAck` it can still take members after it was
    emitted (:meth:`add`): an item whose last window was already delivered when the stage
    learns it was the last (overlapping windows, end of stream) joins that window's ack, and
    is settled at once if the window already was.
    """

    __slots__ = ("_acks", "_outcome")

    def __init__(self, acks: Iterable[Ack | None] = ()) -> None:
        self._acks: list[Ack] = [a for a in acks if a is not None]
        self._outcome: tuple[str, BaseException | None] | None = None

    def add(self, acks: Iterable[Ack | None]) -> None:
        """Make *acks* members too."""
        more = [a for a in acks if a is not None]
        if self._outcome is None:
            self._acks.extend(more)
        else:
            _apply(more, *self._outcome)

    def done(self) -> None:
        """Complete every member."""
        self._settle("done", None)

    def fail(self, error: BaseException) -> None:
        """Fail every member with *error*."""
        self._settle("fail", error)

    def abandon(self) -> None:
        """Abandon every member (the window was not processed)."""
        self._settle("abandon", None)

    def _settle(self, how: str, error: BaseException | None) -> None:
        if self._outcome is None:
            self._outcome = (how, error)
            acks, self._acks = self._acks, []
            _apply(acks, how, error)


def _apply(acks: list[Ack], how: str, error: BaseException | None) -> None:
    if how == "done":
        for ack in acks:
            ack.done()
    elif how == "fail":
        assert error is not None
        for ack in acks:
            ack.fail(error)
    else:
        abandon_all(acks)  # the window was not processed
