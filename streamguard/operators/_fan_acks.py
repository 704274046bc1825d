"""Acks across fan-in, fan-out and nesting: one source record, many derived items.

* :class:`SharedAck` settles its source ack once every holder has settled its share —
  a broadcast item handed to *n* branches, or an outer record of ``flat_map`` whose inner
  stream and every item derived from it must finish first. The outcome is the worst of
  the shares: a failure wins over an abandon, an abandon over done. A holder that leaves
  without having received its item (a broadcast branch that left) *withdraws* its
  share: it has no say, and the record settles from the other shares alone (abandoned if
  every share withdrew: nobody processed it).
* :class:`ChildAck` is the ack of a derived item that has an ack of its own (an inner
  stream's record) and is one share of its outer record.

(A ``zip`` tuple carries the core's :class:`~streamguard.core.BatchAck` of its members.)
"""

from __future__ import annotations

from ..core._ack import Ack


class SharedAck:
    """An ack split into shares: the source ack settles when the last share settles.

    Start with *shares* holders; :meth:`add` hands out more while the first share is held.
    """

    __slots__ = ("_abandoned", "_ack", "_error", "_heard", "_left")

    def __init__(self, ack: Ack, shares: int) -> None:
        self._ack = ack
        self._left = shares
        self._error: BaseException | None = None
        self._abandoned = False
        self._heard = False  # a share settled with an outcome (not only withdrawals)

    def add(self, shares: int) -> None:
        """Hand out *shares* more (items derived from the source record)."""
        self._left += shares

    def done(self) -> None:
        """One share is processed."""
        self._heard = True
        self._release()

    def fail(self, error: BaseException) -> None:
        """One share failed; the source ack fails with the first error once all settled."""
        if self._error is None:
            self._error = error
        self.done()

    def abandon(self) -> None:
        """One share was not processed."""
        self._abandoned = True
        self.done()

    def withdraw(self) -> None:
        """One holder leaves before it received the item: its share has no say."""
        self._release()

    def _release(self) -> None:
        self._left -= 1
        if self._left == 0:
            self._settle()

    def _settle(self) -> None:
        if self._error is not None:
            self._ack.fail(self._error)
        elif self._abandoned or not self._heard:  # every holder withdrew: nobody processed it
            self._ack.abandon()
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
        self._own.abandon()
        self._parent.abandon()
