"""Acks across fan-in, fan-out and nesting: one source record, many derived items.

* :class:`SharedAck` settles its source ack once every holder has settled its share —
  a broadcast item handed to *n* branches, or an outer record of ``flat_map`` whose inner
  stream and every item derived from it must finish first. The outcome is the worst of
  the shares: a failure wins over an abandon, an abandon over done.
* :class:`JointAck` is the ack of one item made of several (a ``zip`` tuple): settling it
  settles each member the same way.
* :func:`abandon` settles an ack as "not processed" (cancel, an ended pipeline).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..core._ack import Ack


def abandon(ack: Ack) -> None:
    """Settle *ack* as not processed (``Ack.abandon()``; see the README's ack outcomes)."""
    # An ack written before the protocol had ``abandon`` is left unsettled, which is how
    # such sources already read "not processed" (a Kafka source does not commit past it).
    fn = getattr(ack, "abandon", None)
    if fn is not None:
        fn()


def abandon_all(acks: Iterable[Ack] | None) -> None:
    """:func:`abandon` every ack in *acks* (``None``: nothing to do)."""
    if acks is not None:
        for ack in acks:
            abandon(ack)


class SharedAck:
    """An ack split into shares: the source ack settles when the last share settles.

    Start with *shares* holders; :meth:`add` hands out more while the first share is held.
    """

    __slots__ = ("_abandoned", "_ack", "_error", "_left")

    def __init__(self, ack: Ack, shares: int) -> None:
        self._ack = ack
        self._left = shares
        self._error: BaseException | None = None
        self._abandoned = False

    def add(self, shares: int) -> None:
        """Hand out *shares* more (items derived from the source record)."""
        self._left += shares

    def done(self) -> None:
        """One share is processed."""
        self._left -= 1
        if self._left == 0:
            self._settle()

    def fail(self, error: BaseException) -> None:
        """One share failed; the source ack fails with the first error once all settled."""
        if self._error is None:
            self._error = error
        self.done()

    def abandon(self) -> None:
        """One share was not processed."""
        self._abandoned = True
        self.done()

    def _settle(self) -> None:
        if self._error is not None:
            self._ack.fail(self._error)
        elif self._abandoned:
            abandon(self._ack)
        else:
            self._ack.done()


class ChildAck:
    """The ack of an item that has its own ack and is one share of a :class:`SharedAck`."""

    __slots__ = ("_own", "_parent")

    def __init__(self, own: Ack, parent: SharedAck) -> None:
        self._own = own
        self._parent = parent

    def done(self) -> None:
        """Complete the item and its share."""
        self._own.done()
        self._parent.done()

    def fail(self, error: BaseException) -> None:
        """Fail the item and its share."""
        self._own.fail(error)
        self._parent.fail(error)

    def abandon(self) -> None:
        """Abandon the item and its share."""
        abandon(self._own)
        self._parent.abandon()


class JointAck:
    """The ack of an item built from several items: settles every member the same way."""

    __slots__ = ("_members", "_settled")

    def __init__(self, members: Sequence[Ack]) -> None:
        self._members = tuple(members)
        self._settled = False

    def done(self) -> None:
        """Complete every member (once)."""
        if not self._settled:
            self._settled = True
            for ack in self._members:
                ack.done()

    def fail(self, error: BaseException) -> None:
        """Fail every member (once)."""
        if not self._settled:
            self._settled = True
            for ack in self._members:
                ack.fail(error)

    def abandon(self) -> None:
        """Abandon every member (once)."""
        if not self._settled:
            self._settled = True
            abandon_all(self._members)
