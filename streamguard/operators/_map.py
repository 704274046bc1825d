"""``map``: apply a function to every item, a chunk at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..core._ack import Ack, abandon_all
from ..core._errors import failure_of
from ..core._protocol import UNBOUNDED, ChunkSubscriber
from ..core._stage import Stage
from ._errors import OnError, item_failed

A = TypeVar("A")
B = TypeVar("B")


class MapStage(Stage[A, B]):
    """Applies *fn* with one list comprehension per chunk; errors take the slow path."""

    kind = "map"

    def __init__(
        self, downstream: ChunkSubscriber[B], fn: Callable[[A], B], on_error: OnError,
        name: str | None,
    ) -> None:
        super().__init__(downstream, name)
        self._fn = fn
        self._on_error = on_error

    def on_chunk(self, items: list[A], acks: list[Ack] | None) -> None:
        if self._done:
            abandon_all(acks)  # after the end: not processed
            return
        self._received += len(items)
        fn = self._fn
        try:
            out = [fn(x) for x in items]
        except Exception:
            self._slow_path(items, acks)
            return
        self._emitted += len(out)
        self._down.on_chunk(out, acks)

    def _slow_path(self, items: list[A], acks: list[Ack] | None) -> None:
        out: list[B] = []
        out_acks: list[Ack] | None = None if acks is None else []
        skipped = 0
        for i, x in enumerate(items):
            try:
                y = self._fn(x)
            except Exception as exc:
                self._failed += 1
                self._publish_failed(exc)
                policy: Any = self._on_error
                if policy == "skip":
                    if acks is not None:
                        acks[i].fail(item_failed(self.name, x, exc))
                    skipped += 1
                    continue
                if policy == "fail":
                    failure = item_failed(self.name, x, exc)
                    self._fail_at(i, failure, acks, out, out_acks)
                    return
                try:
                    with failure_of(self.name):
                        y = policy(x, exc)
                except Exception as exc2:
                    failure = item_failed(self.name, x, exc2)
                    self._fail_at(i, failure, acks, out, out_acks)
                    return
            out.append(y)
            if out_acks is not None and acks is not None:
                out_acks.append(acks[i])
        if out:
            self._emit(out, out_acks)
        if skipped and not self._done and self._requested < UNBOUNDED:
            self._up.request(skipped)  # downstream still wants as many as it asked for

    def _fail_at(self, i: int, failure: BaseException, acks: list[Ack] | None, out: list[B],
                 out_acks: list[Ack] | None) -> None:
        # Items before the culprit go on, the culprit fails, the rest were never processed.
        if acks is not None:
            acks[i].fail(failure)
        if out:
            self._emit(out, out_acks)
        if acks is not None:
            abandon_all(acks[i + 1:])
        self._fail(failure)
