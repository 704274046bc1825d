"""``on_error_resume``: when the upstream fails, continue with a fallback stream.

Reactor's ``onErrorResume``: ``fn(error)`` returns the stream to switch to; downstream
demand carries over, and the fallback's own errors end the stream. Errors not of the given
types pass through. Memory: nothing held.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..core._protocol import ChunkSubscriber
from ..core._stream import Stream
from ._switch import SwitchStage

T = TypeVar("T")


class ResumeStage(SwitchStage[T]):
    """Switches to ``fn(error)`` once, on the first matching upstream error."""

    kind = "on_error_resume"

    def __init__(self, downstream: ChunkSubscriber[T], fn: Callable[[Exception], Stream[T]],
                 errors: tuple[type[Exception], ...], name: str | None) -> None:
        super().__init__(downstream, name)
        self._fn = fn
        self._errors = errors
        self._switched = False

    def _upstream_failed(self, error: BaseException) -> None:
        if self._done:
            return
        if self._switched or not isinstance(error, self._errors):
            self._terminate(error)
            return
        self._switched = True
        self._failed += 1
        self._publish_failed(error)
        try:
            fallback = self._fn(error)
            if not isinstance(fallback, Stream):
                raise TypeError(f"on_error_resume() needs a function error -> Stream, got "
                                f"{type(fallback).__name__} {fallback!r}")
        except Exception as exc:
            exc.__context__ = error
            self._terminate(exc)
            return
        self._subscribe(fallback)
