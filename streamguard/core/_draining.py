"""`Draining`: what every ``drain(timeout)`` returns — the drain is under way; await it for the end.

``drain`` is one verb on everything that runs (a :class:`~streamguard.core.Pipeline`, a
source, a ``KafkaSource``, a ``TransactionalPipeline``): the call itself starts the drain,
so it works from a signal handler or any synchronous code, and the handle it returns may be
awaited — any number of times, also after the end — for the :class:`PipelineResult`.

It is a plain awaitable, not a coroutine or a future: a handle nobody awaits costs nothing
and warns about nothing (a coroutine never awaited would warn, a future holding an error
nobody read would log it), like trio's and anyio's handles that exist to be waited on only
when one wants to. The one thing it cannot be is ``asyncio.create_task``'s argument (that
takes coroutines only); ``asyncio.ensure_future`` and ``asyncio.gather`` take it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar, cast

from ._errors import require

R = TypeVar("R")


class Draining(Generic[R]):
    """A drain under way, returned by every ``drain(timeout)``.

    Example::

        pipeline.drain(30)                       # from a signal handler: starts the drain
        result = await pipeline.drain(30)        # from a coroutine: ... and waits for the end

    Awaiting it waits for the end of what is being drained and returns its result (or
    raises the error it failed with); it may be awaited again, also after the end.
    Cancelling the task that awaits it stops only the waiting: the drain goes on and its
    timeout still cancels what is left.
    """

    __slots__ = ("_done", "_wait")

    def __init__(self, wait: Callable[[], Awaitable[R]], done: Callable[[], bool]) -> None:
        self._wait = wait  # called per await, so that an unawaited handle holds no coroutine
        self._done = done

    @property
    def done(self) -> bool:
        """True once what is being drained has ended (awaiting then returns at once)."""
        return self._done()

    def __await__(self) -> Generator[Any, None, R]:
        return self._wait().__await__()

    def __repr__(self) -> str:
        return f"<Draining {'done' if self._done() else 'under way'}>"


class Ended(Generic[R]):
    """The end of something that runs, set once with its result or error; :meth:`handle`
    gives the :class:`Draining` that waits for it (for runners that are not a pipeline)."""

    __slots__ = ("_error", "_event", "_result", "done")

    def __init__(self) -> None:
        self.done = False
        self._result: R | None = None
        self._error: BaseException | None = None
        self._event: asyncio.Event | None = None  # made by the first waiter, on its loop

    def set(self, result: R, error: BaseException | None = None) -> None:
        """Record the end (the first call counts) and wake every waiter."""
        if not self.done:
            self.done, self._result, self._error = True, result, error
            if self._event is not None:
                self._event.set()

    async def wait(self) -> R:
        """Wait for the end; return the result or raise the error."""
        if not self.done:
            if self._event is None:
                self._event = asyncio.Event()
            await self._event.wait()
        if self._error is not None:
            raise self._error
        return cast(R, self._result)

    def handle(self) -> Draining[R]:
        """A :class:`Draining` that waits for this end."""
        return Draining(self.wait, lambda: self.done)


def check_drain_timeout(timeout: object) -> None:
    """Raise ``ConfigError`` unless *timeout* is ``None`` or a number of seconds >= 0."""
    require(timeout is None or (isinstance(timeout, int | float) and not isinstance(timeout, bool)
                                and timeout >= 0),
            "drain(timeout) must be a number of seconds >= 0 (or None)", timeout)
