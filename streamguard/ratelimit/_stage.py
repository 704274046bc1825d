"""``rate_limit``: a limiter as a stream stage that shapes, polices or fails.

* **shape** (default): an item that may not pass yet waits; while ``max_pending`` items wait
  or sit in the outbox the stage requests nothing from upstream, so a slow limit slows the
  source down instead of filling a queue. Each key waits in its own line and only a line's
  head asks the limiter, so a hot key's backlog never holds up another key's items: they
  pass as soon as their own limit allows, and keys that compete for a shared tier take
  turns (see ``_lines.py``). Order is kept within a key.

The limiter is asked only while downstream has demand, so what it admits leaves at once:
the limit holds where downstream sees the items, not only where the limiter counted them.
(With several keys and a slow downstream, at most one admitted item per key waits for
demand.)
* **police**: an item over the limit goes to ``on_reject(item, decision)`` (a callback or an
  async sink), is counted as rejected, and completes at its source.
* **error**: an item over the limit fails the stream with :class:`RateLimitExceeded`.

Cancelling the pipeline cancels every wait, and a cancelled wait consumes nothing.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, Literal, TypeVar

from streamguard.core._ack import Ack
from streamguard.core._errors import require
from streamguard.core._lift import lift
from streamguard.core._outbox import OutboxStage
from streamguard.core._protocol import ChunkSubscriber
from streamguard.core._stream import Operator

from ._composite import CompositeLimiter
from ._decision import Decision
from ._errors import RateLimitExceeded
from ._events import DecisionResult
from ._limiter import BaseLimiter
from ._lines import Lines
from .algorithms._base import INF, until

T = TypeVar("T")

Mode = Literal["shape", "police", "error"]
OnReject = Callable[[Any, Decision], Awaitable[object] | object]

DEFAULT_MAX_PENDING = 64


class _Pending(Generic[T]):
    __slots__ = ("ack", "context", "cost", "item")

    def __init__(self, item: T, ack: Ack | None, context: Any, cost: float) -> None:
        self.item = item
        self.ack = ack
        self.context = context
        self.cost = cost


class RateLimitStage(OutboxStage[T, T]):
    """The stage behind :func:`rate_limit`.

    Items that cannot be decided at once (no downstream demand yet, refused in shape mode,
    or remote storage) wait in :class:`Lines`; one runner task asks the limiter for the
    heads in turn order and naps until the next head may pass.
    """

    kind = "rate_limit"

    def __init__(self, downstream: ChunkSubscriber[T], limiter: BaseLimiter, *,
                 key: Callable[[T], Any], cost: Callable[[T], float], mode: Mode,
                 on_reject: OnReject | None, max_pending: int, name: str | None) -> None:
        super().__init__(downstream, name or f"rate_limit:{limiter.name}", capacity=max_pending)
        self._limiter = limiter
        self._clock = limiter.clock
        self._key = key
        self._cost = cost
        self._mode = mode
        self._on_reject = on_reject
        self._max_pending = max_pending
        self._lines: Lines[_Pending[T]] = Lines()
        self._rejecting = 0  # refused items whose async on_reject is still running
        self._outstanding = 0
        self._started = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._nap: asyncio.Future[None] | None = None
        self._wanted = asyncio.Event()  # set while downstream has demand

    # ---------------------------------------------------------------- statistics
    def _in_flight(self) -> int:
        return self._lines.count + self._rejecting

    def _busy(self) -> bool:
        return bool(self._lines) or self._rejecting > 0

    # ---------------------------------------------------------------- demand
    def request(self, n: int) -> None:
        """Downstream demand starts the flow and wakes the lines waiting for it."""
        self._started = True
        super().request(n)
        if self._wants_more():
            self._wanted.set()

    def _top_up(self) -> None:
        if not self._started or self._done or self._upstream_done:
            return
        held = len(self._outbox) + self._lines.count + self._rejecting + self._outstanding
        free = self._max_pending - held
        if free > 0:
            self._outstanding += free
            self._up.request(free)

    def _wants_more(self) -> bool:
        # Items already in the outbox will take part of the demand.
        return self._demand > len(self._outbox)

    # ---------------------------------------------------------------- items
    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        """Admit, line up or refuse each item."""
        if self._done:
            return
        self._received += len(items)
        self._outstanding = max(0, self._outstanding - len(items))
        for i, item in enumerate(items):
            try:
                pending = _Pending(item, None if acks is None else acks[i], self._key(item),
                                   float(self._cost(item)))
            except Exception as exc:
                if acks is not None:
                    acks[i].fail(exc)
                self._failed += 1
                self._fail(exc)
                return
            self._offer(pending)
            if self._done:
                return
        self._drain()
        self._top_up()

    def _offer(self, pending: _Pending[T]) -> None:
        line = self._limiter._line_of(pending.context)
        if line in self._lines:
            self._lines.join(line, pending)
            return
        now = self._clock.now()
        if not self._wants_more() or not self._limiter.local:
            self._open(line, pending, now, now)
            return
        decision = self._limiter._attempt_nowait(pending.cost, pending.context)
        if decision.allowed or self._mode != "shape" or decision.retry_after == INF:
            self._settle(pending, decision, 0.0)
        else:
            self._open(line, pending, now, now + decision.retry_after)

    def _open(self, line: Hashable, pending: _Pending[T], since: float, wake: float) -> None:
        self._lines.open(line, pending, since=since, wake=wake)
        if self._runner is None:
            self._runner = self._spawn(self._run())
            self._tasks.add(self._runner)
            self._runner.add_done_callback(self._tasks.discard)
        elif self._nap is not None:
            self._nap.cancel()  # a new head may ask before the runner would wake

    # ---------------------------------------------------------------- the runner
    async def _run(self) -> None:
        lines = self._lines
        try:
            while lines and not self._done:
                if not self._wants_more():
                    self._wanted.clear()
                    await self._wanted.wait()
                    continue
                due = lines.due(self._clock.now())
                if due:
                    await self._ask(due)
                else:
                    await self._nap_until(lines.next_wake())
        finally:
            self._runner = None
        self._drain()

    async def _ask(self, due: list[Hashable]) -> None:
        # One turn: each due head asks once, in turn order, while downstream wants items.
        for line in due:
            if self._done or not self._wants_more():
                return
            pending = self._lines.head(line)
            decision = await self._limiter._attempt(pending.cost, pending.context)
            if self._done:
                return
            now = self._clock.now()
            if decision.allowed or self._mode != "shape" or decision.retry_after == INF:
                waited = now - self._lines.since(line)
                self._lines.pop(line, now)
                self._settle(pending, decision, waited)
                self._drain()
                self._top_up()
            else:
                self._lines.refused(line, now + decision.retry_after)

    async def _nap_until(self, when: float) -> None:
        self._nap = asyncio.ensure_future(self._clock.sleep(until(self._clock.now(), when)))
        try:
            await asyncio.wait((self._nap,))  # returns early when _open cancels the nap
        finally:
            self._nap.cancel()
            self._nap = None

    # ---------------------------------------------------------------- outcomes
    def _settle(self, pending: _Pending[T], decision: Decision, waited: float) -> None:
        limiter = self._limiter
        if decision.allowed:
            result: DecisionResult = "delayed" if waited > 0.0 else "allowed"
            limiter._record(result, decision, pending.context, pending.cost, waited)
            self._put(pending.item, pending.ack)
            return
        limiter._record("rejected", decision, pending.context, pending.cost, waited)
        if self._mode == "error" or self._on_reject is None:
            error = RateLimitExceeded(
                f"stage {self.name!r}: rate limiter {decision.limiter!r} refused item "
                f"{_shown(pending.item)} (cost {pending.cost:g}, retry after "
                f"{decision.retry_after:.3f} s)", decision=decision)
            if pending.ack is not None:
                pending.ack.fail(error)
            self._failed += 1
            self._fail(error)
        else:
            self._reject(pending, decision)

    def _reject(self, pending: _Pending[T], decision: Decision) -> None:
        self._rejected += 1
        assert self._on_reject is not None
        try:
            result = self._on_reject(pending.item, decision)
        except Exception as exc:
            self._reject_failed(pending, exc)
            return
        if inspect.isawaitable(result):
            self._rejecting += 1
            task = self._spawn(self._finish_reject(pending, result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif pending.ack is not None:
            pending.ack.done()

    async def _finish_reject(self, pending: _Pending[T], result: Awaitable[object]) -> None:
        try:
            await result
        except Exception as exc:
            self._rejecting -= 1
            self._reject_failed(pending, exc)
            return
        self._rejecting -= 1
        if pending.ack is not None:
            pending.ack.done()
        self._drain()
        self._top_up()

    def _reject_failed(self, pending: _Pending[T], exc: Exception) -> None:
        if pending.ack is not None:
            pending.ack.fail(exc)
        self._failed += 1
        self._fail(exc)

    # ---------------------------------------------------------------- ending
    def _on_cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _on_terminate(self) -> None:
        super()._on_terminate()
        self._on_cancel()
        self._lines.clear()
        self._rejecting = 0


def _shown(item: object) -> str:
    shown = repr(item)
    return shown if len(shown) <= 200 else shown[:200] + "…"


def _constant(value: float) -> Callable[[Any], float]:
    return lambda _: value


def rate_limit(
    limiter: BaseLimiter, *, key: Callable[[T], Any] | None = None,
    cost: float | Callable[[T], float] = 1.0, mode: Mode = "shape",
    on_reject: OnReject | None = None, max_pending: int = DEFAULT_MAX_PENDING,
    name: str | None = None,
) -> Operator[T, T]:
    """Limit the rate of items with *limiter*.

    Args:
        limiter: a :class:`RateLimiter` or :class:`CompositeLimiter` (local or Redis).
        key: the item's key (user id, endpoint ...). Default: none for a ``RateLimiter``
            (one limit for all items); the item itself for a ``CompositeLimiter`` (its
            tiers take their keys from it).
        cost: each item's cost, a number or a function of the item (default 1).
        mode: ``"shape"`` (default): delay items, never drop; ``"police"``: refuse items
            over the limit to *on_reject*; ``"error"``: fail the stream on the first one.
        on_reject: ``(item, decision)``, sync or async, receives refused items in police
            mode; the item completes at its source once it returns. In shape mode it also
            takes items whose cost can never pass (more than the limit); without it such
            an item fails the stream.
        max_pending: the most items held at once (waiting or admitted and not yet taken
            downstream); at that point the stage stops requesting upstream.
        name: the stage's name in statistics and metrics (default ``rate_limit:<limiter>``).

    Example::

        limiter = RateLimiter(TokenBucket(rate=100, burst=10), name="per-user")
        stream.pipe(rate_limit(limiter, key=lambda event: event.user))
    """
    require(isinstance(limiter, BaseLimiter),
            "limiter must be a RateLimiter or a CompositeLimiter", limiter)
    require(mode in ("shape", "police", "error"), "mode must be 'shape', 'police' or 'error'",
            mode)
    require(mode != "police" or on_reject is not None,
            "mode='police' needs on_reject, a callback (item, decision)", on_reject)
    require(on_reject is None or callable(on_reject),
            "on_reject must be a callable (item, decision)", on_reject)
    require(key is None or callable(key), "key must be a callable (item) -> key", key)
    require(isinstance(max_pending, int) and max_pending >= 1,
            "max_pending must be an int >= 1", max_pending)
    if callable(cost):
        cost_of: Callable[[T], float] = cost
    else:
        require(isinstance(cost, int | float) and cost > 0, "cost must be > 0", cost)
        cost_of = _constant(float(cost))
    if key is not None:
        key_of: Callable[[T], Any] = key
    elif isinstance(limiter, CompositeLimiter):
        key_of = _identity
    else:
        key_of = _nothing

    def stage(down: ChunkSubscriber[T]) -> RateLimitStage[T]:
        return RateLimitStage(down, limiter, key=key_of, cost=cost_of, mode=mode,
                              on_reject=on_reject, max_pending=max_pending, name=name)

    return lift(stage)


def _identity(item: Any) -> Any:
    return item


def _nothing(item: Any) -> None:
    return None
