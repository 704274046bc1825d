"""Completion ("acks"): how a source learns that each of its items is finished.

A source that must know when an item is done (the Kafka source commits offsets only for
finished records) attaches an :class:`Ack` to each item. Items travel between stages in
chunks: a list of items and either ``None`` (the source does not care — nothing is paid) or a
list of acks of the same length. Every stage settles every ack it received exactly once, on
every ending of the pipeline:

* ``done()`` — processed: a sink finished with it, a filter or ``take_while`` dropped it, a
  lossy overflow strategy dropped it (counted), the batch it joined completed;
* ``fail(error)`` — the item failed;
* ``abandon()`` — not processed: the pipeline was cancelled, ``take`` ended it, or a drain
  timed out while the item was held or in flight. A Kafka source does not commit past an
  abandoned record, so it is delivered again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class Ack(Protocol):
    """The completion handle of one item, given by its source. Exactly one of its three
    methods is called, once."""

    def done(self) -> None:
        """The item was processed (delivered, filtered out, dropped on request, dead-lettered)."""
        ...

    def fail(self, error: BaseException) -> None:
        """The item failed; *error* says why.

        Operators pass an :class:`~streamguard.core.ItemFailedError` whose ``item`` is the
        failing item and whose ``__cause__`` is the original exception, so a source that
        shares one ack between several items (the Kafka source, per fetched chunk) can still
        tell which one failed — and, say, dead-letter it.
        """
        ...

    def abandon(self) -> None:
        """The item was not processed: the pipeline was cancelled, ``take`` ended it, or a
        drain timed out. A source that can redeliver (Kafka) delivers it again."""
        ...


class BatchAck:
    """The ack of a batch: settling it settles each member exactly once, the same way."""

    __slots__ = ("_acks", "_settled")

    def __init__(self, acks: Sequence[Ack]) -> None:
        self._acks = tuple(acks)
        self._settled = False

    def done(self) -> None:
        """Complete every member."""
        if not self._settled:
            self._settled = True
            for ack in self._acks:
                ack.done()

    def fail(self, error: BaseException) -> None:
        """Fail every member with *error*."""
        if not self._settled:
            self._settled = True
            for ack in self._acks:
                ack.fail(error)

    def abandon(self) -> None:
        """Abandon every member."""
        if not self._settled:
            self._settled = True
            for ack in self._acks:
                ack.abandon()


def done_all(acks: Sequence[Ack | None] | None) -> None:
    """Complete every ack in *acks* (``None`` entries, or ``None``: nothing to do)."""
    if acks is not None:
        for ack in acks:
            if ack is not None:
                ack.done()


def fail_all(acks: Sequence[Ack | None] | None, error: BaseException) -> None:
    """Fail every ack in *acks* with *error* (``None``: nothing to do)."""
    if acks is not None:
        for ack in acks:
            if ack is not None:
                ack.fail(error)


def abandon_all(acks: Sequence[Ack | None] | None) -> None:
    """Abandon every ack in *acks* (``None``: nothing to do)."""
    if acks is not None:
        for ack in acks:
            if ack is not None:
                ack.abandon()
