"""``distinct``: drop items whose key was seen recently, in bounded memory.

The stage remembers at most *capacity* keys, least recently seen first out (an LRU set): an
item is a duplicate if its key is among the *capacity* keys seen most recently. Memory: at
most *capacity* keys, never items. A duplicate is dropped on purpose — counted in
``dropped``, published as ``ItemsDropped(reason="duplicate")`` and completed at its source —
and upstream is asked for a replacement, so downstream still gets what it requested.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from ..core._ack import Ack
from ..core._protocol import UNBOUNDED, ChunkSubscriber
from ..core._stage import Stage
from ._errors import item_failed
from ._settle import fail_at

T = TypeVar("T")


class DistinctStage(Stage[T, T]):
    """Passes an item on only if its key is not among the *capacity* most recent keys."""

    kind = "distinct"

    def __init__(
        self, downstream: ChunkSubscriber[T], key: Callable[[T], Hashable] | None,
        capacity: int, name: str | None,
    ) -> None:
        super().__init__(downstream, name)
        self._key = key
        self._cap = capacity
        self._seen: OrderedDict[Hashable, None] = OrderedDict()

    def _buffered(self) -> int:
        return len(self._seen)

    def _capacity(self) -> int:
        return self._cap

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            return
        self._received += len(items)
        seen, key, cap = self._seen, self._key, self._cap
        keep: list[T] = []
        keep_acks: list[Ack] | None = None if acks is None else []
        dropped = 0
        for i, x in enumerate(items):
            try:
                k = x if key is None else key(x)
                duplicate = k in seen
            except Exception as exc:
                self._failed += 1
                failure = item_failed(self.name, x, exc)
                fail_at(acks, i, failure)
                if keep:
                    self._emit(keep, keep_acks)
                self._publish_failed(exc)
                self._fail(failure)
                return
            if duplicate:
                seen.move_to_end(k)
                dropped += 1
                if acks is not None:
                    acks[i].done()
                continue
            seen[k] = None
            if len(seen) > cap:
                seen.popitem(last=False)
            keep.append(x)
            if keep_acks is not None and acks is not None:
                keep_acks.append(acks[i])
        if keep:
            self._emit(keep, keep_acks)
        if dropped:
            self._dropped += dropped
            self._publish_dropped(dropped, "duplicate")
            if not self._done and self._requested < UNBOUNDED:
                self._up.request(dropped)
