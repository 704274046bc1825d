"""`AckRecorder`: a source-side ledger proving every item completes exactly once."""

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


class AckRecorder:
    """Hands out acks and counts completions per item key.

    Example::

        rec = AckRecorder()
        await from_iterable(range(5), ack=rec.ack).pipe(op.sink(print)).run()
        assert rec.completed_exactly_once(range(5))
    """

    def __init__(self) -> None:
        self.done: Counter[Hashable] = Counter()
        self.failed: Counter[Hashable] = Counter()
        self.errors: list[BaseException] = []
        self.issued = 0

    def ack(self, key: Hashable) -> RecordedAck:
        """Make the ack of the item with *key* (use it as an ``ack=`` factory)."""
        self.issued += 1
        return RecordedAck(self, key)

    def completed_exactly_once(self, keys: Iterable[Hashable]) -> bool:
        """True if every key in *keys* was completed (done or failed) exactly once, and no
        other key was."""
        wanted = Counter(keys)
        settled = self.done + self.failed
        return all(v == 1 for v in settled.values()) and set(settled) == set(wanted)
