"""``rate_limit``: a limiter as a stream stage that waits (backpressure), polices or fails.

* **backpressure** (default): an item that may not pass yet waits; while ``max_pending`` items
  wait or sit in the outbox the stage requests nothing from upstream, so a slow limit slows the
  source down instead of filling a queue. Each key waits in its own line and only a line's head
  asks the limiter; heads take turns (round robin, see ``_lines.py``), so keys that compete for
  a shared tier share it evenly and a key's backlog never holds up another key's items. Order
  is kept within a key.

  **Fairness needs a per-key bound.** Upstream is one FIFO: an item the stage has not taken
  cannot pass, however idle its key. If a hot key's items keep coming faster than its own
  limit lets them out, every lossless stage with bounded memory ends up holding only the hot
  key's items, and then takes new items no faster than the hot key drains (a hot key at a
  fraction ``h`` of the traffic, limited to ``r``/s, lets in ``r / h`` items/s in all). So
  ``max_pending_per_key=k`` caps what one key may hold waiting; its items beyond ``k`` go to
  ``on_reject`` at once, and the shared ``max_pending`` stays free for the other keys. That is
  the configuration for fairness (``benchmarks/suite_ratelimit.py`` measures it).

The limiter is asked only while downstream has demand, so what it admits leaves at once: the
limit holds where downstream sees the items, not only where the limiter counted them. With a
local limiter every decision is synchronous: items that fit pass in the ``on_chunk`` or
``request`` call that brought them (one decision per key group of a chunk), and one runner task
only sleeps until the earliest line may ask again, waking per line, not per item. Remote
storage (Redis) needs a round trip, which the runner awaits.
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

from streamguard.core._ack import Ack, abandon_all
from streamguard.core._checks import awaitable_result_error
from streamguard.core._errors import require
from streamguard.core._outbox import OutboxStage
from streamguard.core._protocol import UNBOUNDED, ChunkSubscriber
from streamguard.core._stream import Operator, lift

from ._composite import CompositeLimiter
from ._limiter import BaseLimiter, RateLimitExceeded, never_passes
from ._lines import Lines
from .algorithms._base import EPSILON, INF, Decision, until

T = TypeVar("T")

Mode = Literal["backpressure", "police", "error"]
OnReject = Callable[[Any, Decision], Awaitable[object] | object]

DEFAULT_MAX_PENDING = 64
_MODES = ("backpressure", "police", "error")


class _Pending(Generic[T]):
    __slots__ = ("ack", "context", "cost", "item", "line", "refused")

    def __init__(self, item: T, ack: Ack | None, context: Any, cost: float,
                 line: Hashable) -> None:
        self.item = item
        self.ack = ack
        self.context = context
        self.cost = cost
        self.line = line
        # The limiter refused it at least once, so it passes "delayed": the time it spends
        # waiting for demand, for its turn or for a round trip to Redis is not the limit's.
        self.refused = False


class RateLimitStage(OutboxStage[T, T]):
    """The stage behind :func:`rate_limit`.

    Items that cannot be decided at once (no downstream demand yet, refused while waiting is
    allowed, or remote storage) wait in :class:`Lines`. Local decisions are taken in the call
    that makes them possible (new items, new demand); one runner task sleeps until the next
    head may ask, and does the asking itself for remote storage.
    """

    kind = "rate_limit"

    def __init__(self, downstream: ChunkSubscriber[T], limiter: BaseLimiter, *,
                 key: Callable[[T], Any], cost: Callable[[T], float], mode: Mode,
                 on_reject: OnReject | None, max_pending: int,
                 max_pending_per_key: int | None, name: str | None,
                 unkeyed: float | None = None) -> None:
        super().__init__(downstream, name or f"rate_limit:{limiter.name}", capacity=max_pending)
        self._unkeyed = unkeyed  # the cost of every item when there is no key
        self._limiter = limiter
        self._local = limiter.local
        self._clock = limiter.clock
        self._key = key
        self._cost = cost
        self._waits = mode == "backpressure"
        self._mode = mode
        self._on_reject = on_reject
        self._max_pending = max_pending
        self._per_key = max_pending_per_key
        self._lines: Lines[_Pending[T]] = Lines()
        self._rejecting = 0  # refused items whose async on_reject is still running
        self._started = False
        self._runner: asyncio.Task[None] | None = None
        self._nap_end: float | None = None  # while the runner naps: when it will wake
        self._woken = False  # _open cancelled the runner to end its nap early
        self._wanted = asyncio.Event()  # set while downstream has demand

    # ---------------------------------------------------------------- statistics
    def _in_flight(self) -> int:
        return self._lines.count + self._rejecting

    def _busy(self) -> bool:
        return bool(self._lines) or self._rejecting > 0

    # ---------------------------------------------------------------- demand
    def request(self, n: int) -> None:
        """Downstream demand: emit what is held, let due heads ask, wake the runner."""
        self._started = True
        super().request(n)
        if self._lines and self._wants_more() and not self._done:
            if self._local:
                self._turns()
            self._wanted.set()

    def _top_up(self) -> None:
        if not self._started or self._done or self._upstream_done:
            return
        held = len(self._outbox) + self._lines.count + self._rejecting + self._outstanding
        free = self._max_pending - held
        if free > 0:
            self._ask(free)

    def _wants_more(self) -> bool:
        # Items already in the outbox will take part of the demand.
        return self._demand > len(self._outbox)

    # ---------------------------------------------------------------- items
    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        """Admit, line up or refuse each item (one decision per key group while it fits)."""
        if self._done:
            return
        n = len(items)
        self._received += n
        self._arrived(n)
        fits = self._local and not self._lines and self._demand - len(self._outbox) >= n
        if fits and self._unkeyed is not None:
            # No key and one cost for every item: the whole chunk is one decision.
            decision = self._limiter._attempt_nowait(self._unkeyed * n, None)
            if decision.allowed:
                self._limiter._admitted(n, decision, None, self._unkeyed)
                self._pass(items, acks)
                return
        pendings: list[_Pending[T]] = []
        line_of = self._limiter._line_of
        for i, item in enumerate(items):
            try:
                context = self._key(item)
                pendings.append(_Pending(item, None if acks is None else acks[i], context,
                                         float(self._cost(item)), line_of(context)))
            except Exception as exc:
                self._abort(items, acks, i, exc)
                return
        if fits and n > 1:
            if self._admit_groups(pendings):
                self._pass(items, acks)
                return
        else:
            for pending in pendings:
                self._offer(pending)
                if self._done:
                    return
        self._drain()
        self._top_up()

    def _abort(self, items: list[T], acks: list[Ack] | None, i: int, exc: Exception) -> None:
        # The key or cost function raised: the item fails, and with it the stream.
        if acks is not None:
            acks[i].fail(exc)
        self._failed += 1
        self._fail(exc)

    def _pass(self, items: list[T], acks: list[Ack] | None) -> None:
        # The whole chunk passed and downstream wants all of it: hand it on as it came,
        # unless an emission is under way up the stack (then the outbox keeps the order and
        # request -> on_chunk -> request cannot recurse, rule 3.3).
        if self._loop.running or self._outbox.items:
            for i, item in enumerate(items):
                self._put(item, None if acks is None else acks[i])
        else:
            chunk = [(items, acks)]

            def emit_once() -> None:
                # Re-entrant requests make the loop call this again: emit only once.
                if chunk:
                    held, held_acks = chunk.pop()
                    if self._demand < UNBOUNDED:
                        self._demand -= len(held)
                    self._emit(held, held_acks)

            self._loop.run(emit_once)
        self._drain()
        self._top_up()

    def _admit_groups(self, pendings: list[_Pending[T]]) -> bool:
        """Downstream wants the whole chunk and nothing waits: one decision for each key's
        total cost. A group that does not fit whole is offered item by item, in order.
        True if every group passed whole (the caller hands the chunk on as it came)."""
        groups: dict[Hashable, list[_Pending[T]]] = {}
        for pending in pendings:
            group = groups.get(pending.line)
            if group is None:
                groups[pending.line] = [pending]
            else:
                group.append(pending)
        limiter = self._limiter
        passed: set[int] = set()
        whole = True
        for group in groups.values():
            first = group[0]
            total = first.cost if len(group) == 1 else sum(p.cost for p in group)
            decision = limiter._attempt_nowait(total, first.context)
            if decision.allowed:
                for pending in group:
                    limiter._record("allowed", decision, pending.context, pending.cost, 0.0)
                    passed.add(id(pending))
                continue
            whole = False
            for pending in group:
                if pending.line in self._lines:
                    self._join(pending)
                    continue
                one = decision if len(group) == 1 else limiter._attempt_nowait(
                    pending.cost, pending.context)
                if one.allowed:
                    limiter._record("allowed", one, pending.context, pending.cost, 0.0)
                    passed.add(id(pending))
                else:
                    self._refused_now(pending, one)
                if self._done:
                    return False
        if whole:
            return True
        for pending in pendings:
            if id(pending) in passed:
                self._put(pending.item, pending.ack)
        return False

    def _offer(self, pending: _Pending[T]) -> None:
        if pending.line in self._lines:
            self._join(pending)
            return
        if not self._wants_more() or not self._local:
            now = self._clock.now()
            self._open(pending, now, now)
            return
        decision = self._limiter._attempt_nowait(pending.cost, pending.context)
        if decision.allowed:
            self._settle(pending, decision, 0.0)
        else:
            self._refused_now(pending, decision)

    def _refused_now(self, pending: _Pending[T], decision: Decision) -> None:
        if self._waits and decision.retry_after != INF:
            now = self._clock.now()
            pending.refused = True
            self._open(pending, now, now + decision.retry_after)
        else:
            self._settle(pending, decision, 0.0)

    def _join(self, pending: _Pending[T]) -> None:
        if self._per_key is not None and self._lines.length(pending.line) >= self._per_key:
            # The key holds its share of the pending budget: the rest of its items go to
            # on_reject, so they cannot crowd the other keys out (see the module docstring).
            decision = self._limiter._refusal(pending.cost, pending.context)
            self._settle(pending, decision, 0.0)
            return
        self._lines.join(pending.line, pending)

    def _open(self, pending: _Pending[T], since: float, wake: float) -> None:
        self._lines.open(pending.line, pending, since=since, wake=wake)
        if self._runner is None:
            self._runner = self._spawn_tracked(self._run())
        elif self._nap_end is not None and wake < self._nap_end:
            # The new head may ask before the runner would wake: end the nap now.
            self._nap_end = None
            self._woken = True
            self._runner.cancel()

    # ---------------------------------------------------------------- turns
    def _turns(self) -> None:
        """Local limiter: let every due head ask, in turn order, one item per line per turn,
        until no head is due or downstream wants nothing more."""
        lines = self._lines
        limiter = self._limiter
        while lines and not self._done and self._wants_more():
            now = self._clock.now()
            due = lines.due(now)
            if not due:
                break
            for line in due:
                if self._done or not self._wants_more():
                    break
                pending = lines.head(line)
                self._decided(line, pending, limiter._attempt_nowait(pending.cost,
                                                                     pending.context), now)
        self._drain()
        self._top_up()

    def _decided(self, line: Hashable, pending: _Pending[T], decision: Decision,
                 now: float) -> None:
        if decision.allowed or not self._waits or decision.retry_after == INF:
            waited = now - self._lines.since(line)
            self._lines.pop(line, now)
            self._settle(pending, decision, waited)
        else:
            pending.refused = True
            self._lines.refused(line, now + decision.retry_after)

    async def _run(self) -> None:
        lines = self._lines
        try:
            while lines and not self._done:
                if not self._wants_more():
                    self._wanted.clear()
                    await self._wanted.wait()
                    continue
                if self._local:
                    self._turns()
                else:
                    await self._ask_remote()
                if not lines or self._done:
                    break
                when = lines.next_wake()
                if when > self._clock.now():
                    await self._nap_until(when)
                else:
                    await asyncio.sleep(0)  # due but no demand left, or a remote round
        finally:
            self._runner = None
        self._drain()

    async def _ask_remote(self) -> None:
        # One turn with a round trip per due head.
        for line in self._lines.due(self._clock.now()):
            if self._done or not self._wants_more():
                return
            pending = self._lines.head(line)
            decision = await self._limiter._attempt(pending.cost, pending.context)
            if self._done:
                return
            self._decided(line, pending, decision, self._clock.now())
            self._drain()
            self._top_up()

    async def _nap_until(self, when: float) -> None:
        # The runner sleeps on the clock itself: a task and a wait per nap cost more event
        # loop rounds than the decisions of the nap's wake. _open wakes it early by cancelling
        # it; that cancellation is taken back here, any other one goes on.
        self._nap_end = when
        try:
            await self._clock.sleep(until(self._clock.now(), when))
        except asyncio.CancelledError:
            runner = asyncio.current_task()
            if not self._woken or runner is None or runner.uncancel() > 0:
                raise
        finally:
            self._nap_end = None
            self._woken = False

    # ---------------------------------------------------------------- outcomes
    def _settle(self, pending: _Pending[T], decision: Decision, waited: float) -> None:
        limiter = self._limiter
        if decision.allowed:
            if pending.refused:
                limiter._record("delayed", decision, pending.context, pending.cost, waited)
            else:
                limiter._record("allowed", decision, pending.context, pending.cost, 0.0)
            self._put(pending.item, pending.ack)
            return
        limiter._record("rejected", decision, pending.context, pending.cost, waited)
        if self._mode == "error" or self._on_reject is None:
            if decision.retry_after == INF:  # the words acquire() uses for it
                why = f": {never_passes(pending.cost, decision.limit, decision.limiter)}"
            else:
                why = f" (cost {pending.cost:g}, retry after {decision.retry_after:.3f} s)"
            error = RateLimitExceeded(
                f"stage {self.name!r}: rate limiter {decision.limiter!r} refused item "
                f"{_shown(pending.item)}{why}", decision=decision)
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
            # The on_reject coroutine runs as a task of this stage (cancelled with it); its
            # outcome settles the item's ack.
            self._rejecting += 1
            work = result if inspect.iscoroutine(result) else _awaited(result)
            task = self._spawn_tracked(work)
            task.add_done_callback(lambda done: self._rejection_settled(pending, done))
        elif pending.ack is not None:
            pending.ack.done()

    def _rejection_settled(self, pending: _Pending[T], task: asyncio.Task[Any]) -> None:
        if self._done and task.cancelled():
            if pending.ack is not None:
                pending.ack.abandon()  # the stage ended before on_reject finished
            return
        self._rejecting -= 1
        error = None if task.cancelled() else task.exception()
        if task.cancelled() or error is not None:
            exc = error if isinstance(error, Exception) else RuntimeError(
                f"stage {self.name!r}: on_reject did not finish ({error or 'cancelled'!r})")
            self._reject_failed(pending, exc)
            return
        result = task.result()
        if result is not None and inspect.isawaitable(result):
            # Thrown away, so it must not be work still to do (`return store(x)` with no
            # `await`): the item would complete at its source with nothing stored.
            self._reject_failed(pending, awaitable_result_error(
                "rate_limit", "on_reject", self._on_reject, result, awaited=True))
            return
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
    def _on_terminate(self) -> None:
        # Items still waiting in lines were never delivered: abandoned at their source.
        super()._on_terminate()
        abandon_all([pending.ack for pending in self._lines.clear()])


async def _awaited(awaitable: Awaitable[object]) -> object:
    return await awaitable


def _shown(item: object) -> str:
    shown = repr(item)
    return shown if len(shown) <= 200 else shown[:200] + "…"


def _constant(value: float) -> Callable[[Any], float]:
    return lambda _: value


def rate_limit(
    limiter: BaseLimiter, *, key: Callable[[T], Any] | None = None,
    cost: float | Callable[[T], float] = 1.0, mode: Mode = "backpressure",
    on_reject: OnReject | None = None, max_pending: int = DEFAULT_MAX_PENDING,
    max_pending_per_key: int | None = None, name: str | None = None,
) -> Operator[T, T]:
    """Limit the rate of items with *limiter*.

    Args:
        limiter: a :class:`RateLimiter` or :class:`CompositeLimiter` (local or Redis).
        key: the item's key (user id, endpoint ...). Default: none for a ``RateLimiter``
            (one limit for all items); the item itself for a ``CompositeLimiter`` (its
            tiers take their keys from it).
        cost: each item's cost, a number or a function of the item (default 1). A number
            above the limiter's smallest limit could never pass: it is a ``ConfigError`` when
            the pipeline is built.
        mode: ``"backpressure"`` (default): delay items, never drop; ``"police"``: refuse
            items over the limit to *on_reject*; ``"error"``: fail the stream on the first.
        on_reject: ``(item, decision)``, sync or async, receives refused items in police
            mode; the item completes at its source once it returns (what an async one
            returns is thrown away: an awaitable there, ``return store(item)`` with no
            ``await``, fails the item and the stream with a ``TypeError``). In backpressure mode it
            takes items whose cost can never pass (more than the limit) and a key's items
            beyond *max_pending_per_key*; without it such an item fails the stream.
        max_pending: the most items held at once (waiting or admitted and not yet taken
            downstream); at that point the stage stops requesting upstream.
        max_pending_per_key: the most items one key may hold waiting (default: no bound, so
            nothing is refused, but a hot key can fill *max_pending* and starve the others);
            its further items go to *on_reject* at once. Needs *on_reject*. The configuration
            for fairness between keys: e.g. ``max_pending=256, max_pending_per_key=8``.
        name: the stage's name in statistics and metrics (default ``rate_limit:<limiter>``).

    Example::

        limiter = RateLimiter("per-user", TokenBucket(rate=100, burst=10))
        stream.pipe(rate_limit(limiter, key=lambda event: event.user))
    """
    require(isinstance(limiter, BaseLimiter),
            "rate_limit: limiter must be a RateLimiter or a CompositeLimiter", limiter)
    require(mode in _MODES, "rate_limit: mode must be one of 'backpressure', 'police', 'error'",
            mode)
    require(mode != "police" or on_reject is not None,
            "rate_limit: mode='police' needs on_reject, a callback (item, decision)", on_reject)
    require(on_reject is None or callable(on_reject),
            "rate_limit: on_reject must be a callable (item, decision)", on_reject)
    require(key is None or callable(key), "rate_limit: key must be a callable (item) -> key", key)
    require(_is_int(max_pending) and max_pending >= 1,
            "rate_limit: max_pending must be an int >= 1", max_pending)
    require(max_pending_per_key is None
            or (_is_int(max_pending_per_key) and 1 <= max_pending_per_key <= max_pending),
            "rate_limit: max_pending_per_key must be None or an int in 1 .. max_pending",
            max_pending_per_key)
    require(max_pending_per_key is None or on_reject is not None,
            "rate_limit: max_pending_per_key needs on_reject, a callback (item, decision) for "
            "the items beyond it", on_reject)
    constant: float | None = None
    if callable(cost):
        cost_of: Callable[[T], float] = cost
    else:
        require(isinstance(cost, int | float) and not isinstance(cost, bool) and cost > 0,
                "rate_limit: cost must be a number > 0 or a function of the item", cost)
        constant = float(cost)
        tier, limit = limiter._tightest()
        # Every item would be refused: a mistake to report now, not at the first item.
        require(constant <= limit + EPSILON, f"rate_limit: {never_passes(constant, limit, tier)}",
                cost)
        cost_of = _constant(constant)
    if key is not None:
        key_of: Callable[[T], Any] = key
    elif isinstance(limiter, CompositeLimiter):
        key_of = _identity
    else:
        key_of = _nothing

    def stage(down: ChunkSubscriber[T]) -> RateLimitStage[T]:
        return RateLimitStage(down, limiter, key=key_of, cost=cost_of, mode=mode,
                              on_reject=on_reject, max_pending=max_pending,
                              max_pending_per_key=max_pending_per_key, name=name,
                              unkeyed=constant if key_of is _nothing else None)

    return lift(stage)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _identity(item: Any) -> Any:
    return item


def _nothing(item: Any) -> None:
    return None
