"""`AckRecorder`: a source-side ledger proving every item settles exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable


class RecordedAck:
    """The ack of one item, reporting to its :class:`AckRecorder`."""

    __slots__ = ("_key", "_recorder")

    def __init__(self, recorder: AckRecorder, key: Hashable) -> None:
        self._recorder = recorder
        self._key = key

    def done(self) -> None:
        """Record a completion."""
        self._recorder.done[self._key] += 1

    def fail(self, error: BaseException) -> None:
        """Record a failure."""
        self._recorder.failed[self._key] += 1
        self._recorder.errors.append(error)

    def abandon(self) -> None:
        """Record that the item was not processed (cancel, ``take``, expired drain)."""
        self._recorder.abandoned[self._key] += 1


class AckRecorder:
    """Hands out acks and counts, per item key, how each one settled.

    Example::

        rec = AckRecorder()
        await from_iterable(range(5), ack=rec.ack).pipe(op.sink(print)).run()
        assert rec.completed_exactly_once(range(5))
    """

    def __init__(self) -> None:
        self.done: Counter[Hashable] = Counter()
        self.failed: Counter[Hashable] = Counter()
        self.abandoned: Counter[Hashable] = Counter()
        self.errors: list[BaseException] = []
        self.keys: Counter[Hashable] = Counter()
        self.issued = 0

    def ack(self, key: Hashable) -> RecordedAck:
        """Make the ack of the item with *key* (use it as an ``ack=`` factory)."""
        self.issued += 1
        self.keys[key] += 1
        return RecordedAck(self, key)

    def settled(self) -> Counter[Hashable]:
        """How many times each key settled, whichever way (done, failed or abandoned)."""
        return self.done + self.failed + self.abandoned

    def completed_exactly_once(self, keys: Iterable[Hashable]) -> bool:
        """True if every key in *keys* was completed (done or failed) exactly once, none was
        abandoned, and no other key settled."""
        wanted = Counter(keys)
        completed = self.done + self.failed
        return (not self.abandoned and all(v == 1 for v in completed.values())
                and set(completed) == set(wanted))

    def settled_exactly_once(self, keys: Iterable[Hashable] | None = None) -> bool:
        """True if every ack handed out (or every key in *keys*, and no other) settled
        exactly once, whichever way: done, failed or abandoned."""
        settled = self.settled()
        if keys is None:
            return settled == self.keys
        return set(settled) == set(keys) and all(v == 1 for v in settled.values())

    def unsettled(self) -> list[Hashable]:
        """Keys whose ack has not settled yet."""
        return sorted((self.keys - self.settled()).elements(), key=repr)

    def describe(self) -> str:
        """A one-line summary for assertion messages."""
        twice = sorted((k for k, v in self.settled().items() if v > 1), key=repr)
        return (f"issued {self.issued}, done {sum(self.done.values())}, failed "
                f"{sum(self.failed.values())}, abandoned {sum(self.abandoned.values())}, "
                f"unsettled {self.unsettled()[:10]}, settled twice {twice[:10]}")
