"""Completion ("acks"): how a source learns that each of its items is finished.

A source that must know when an item is done (the Kafka source commits offsets only for
finished records) attaches an :class:`Ack` to each item. Items travel between stages in
chunks: a list of items and either ``None`` (the source does not care — nothing is paid) or a
list of acks of the same length. Every operator passes acks along or completes them:

* a sink completes an item when it has finished with it;
* a filter, ``take`` or a lossy overflow strategy completes the items it drops;
* a batch completes its items when the batch completes;
* an item that fails is reported with :meth:`Ack.fail`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class Ack(Protocol):
    """The completion handle of one item, given by its source."""

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


class BatchAck:
    """The ack of a batch: completing it completes each member exactly once."""

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


def done_all(acks: Sequence[Ack] | None) -> None:
    """Complete every ack in *acks* (``None``: nothing to do)."""
    if acks is not None:
        for ack in acks:
            ack.done()


def fail_all(acks: Sequence[Ack] | None, error: BaseException) -> None:
    """Fail every ack in *acks* with *error* (``None``: nothing to do)."""
    if acks is not None:
        for ack in acks:
            ack.fail(error)
