"""``retry``: subscribe to a cold upstream again after it failed, with the backoff, the
attempt limit and the shared budget of a :class:`~streamguard.retry.Retry`.

Each subscription is one attempt of ``Retry.run``: the upstream is subscribed at most
``config.attempts`` times in all; a non-retryable error (or ``CancelledError``) ends the
stream at once, and giving up ends it with :class:`~streamguard.retry.RetryError` whose
``__cause__`` is the last error. Waits run on the ``Retry``'s clock. The upstream is cold,
so a new subscription starts it from its beginning (items delivered before the failure are
delivered again — use it where that is the intent, e.g. re-reading a file or reconnecting
to a feed). Downstream demand carries over. Memory: nothing held.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

from ..core._protocol import ChunkSubscriber
from ..core._stream import Stream
from ..retry._retry import Retry
from ._switch import SwitchStage

T = TypeVar("T")


class RetryStage(SwitchStage[T]):
    """Runs each subscription of *source* as one attempt of *policy*."""

    kind = "retry"

    def __init__(self, downstream: ChunkSubscriber[T], policy: Retry, name: str | None) -> None:
        super().__init__(downstream, name or policy.name)
        self._policy = policy
        self._ended: asyncio.Future[None] | None = None

    def start(self, source: Stream[T]) -> None:
        self._subscribed_down = True
        self._down.on_subscribe(self)
        if not self._done:
            self._spawn_tracked(self._supervise(source))  # cancelled on every ending

    async def _supervise(self, source: Stream[T]) -> None:
        async def attempt() -> None:
            if self._done:
                return
            self._ended = asyncio.get_running_loop().create_future()
            self._subscribe(source)
            await self._ended

        try:
            await self._policy.run(attempt, f"subscribe({self.name})")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed += 1
            self._publish_failed(exc)
            self._terminate(exc)
            return
        self._terminate(None)

    def _upstream_failed(self, error: BaseException) -> None:
        ended = self._ended
        if ended is None or ended.done():
            return
        if isinstance(error, Exception):
            ended.set_exception(error)
        else:  # not an Exception (e.g. KeyboardInterrupt): never retried
            self._terminate(error)

    def _upstream_completed(self) -> None:
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)
