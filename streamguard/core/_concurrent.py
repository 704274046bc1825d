"""`ConcurrentStage`: per-item async work by up to *c* long-lived workers.

Items wait in the stage's bounded inbox; up to ``concurrency`` worker tasks take them one at
a time and await :meth:`ConcurrentStage.process` — no task per item. Results leave in arrival
order (``ordered=True``) or as they finish. Everything the stage holds — items requested
from upstream and not yet received, waiting in the inbox, in flight, finished and not yet
taken downstream — is bounded by ``capacity`` (default ``2 × concurrency``: one item in
flight and one waiting per worker, so a worker never waits for the next item while upstream
is being asked; upstream is asked in batches of half of it).

The stage is the base of ``map_async``, ``sink`` with an async function, the guarded sink,
the lag throttle and any other stage that does per-item async work. Its protected API:

* :meth:`process` — the work for one item (override it); return :data:`REJECTED` when the
  item was routed elsewhere (dead-lettered, refused): it completes at its source and counts
  as rejected.
* :meth:`_may_request` — hook: return ``False`` to stop asking upstream (a breaker is open).
  When it may have turned ``True`` again, call :meth:`_request_more`.
* :attr:`_in_flight_count` (calls under way), :attr:`_outstanding_count` (requested from
  upstream, not yet received), :attr:`_waiting_count` (in the inbox), :attr:`_has_started`
  (downstream asked, or the stage is a sink), :attr:`_is_upstream_done`.
* statistics: the base :class:`~streamguard.core.Stage` counters; :meth:`_count_rejected`
  for an item routed elsewhere by a subclass outside :meth:`process`.
* :meth:`~streamguard.core.Stage._spawn_tracked` (from the base) — start a helper task
  that is cancelled with the stage.
* :attr:`_times_process` — ``True`` (default): a :class:`ConcurrencyLimit` given as
  ``concurrency=`` learns from every :meth:`process` call (its duration, whether it raised).
  A subclass whose :meth:`process` does more than the call the limit should learn from
  (waits for a breaker, retries, routes the item elsewhere) sets it ``False`` and reports
  each call itself to :attr:`_concurrency_limit`.
* a sink (``emits=False``) throws what :meth:`process` returns away, so an awaitable there is
  work that never ran (``return store(x)`` without ``await``): the item's ack fails and the
  stage fails with the ``TypeError`` of :func:`~streamguard.core._checks.awaitable_result_error`,
  naming :attr:`_op` and the callable :meth:`_result_source` gives. Raise
  :class:`AwaitableResult` from :meth:`process` for a callback of the subclass's own whose
  result it throws away (guarded_sink's ``dead_letter``); no error policy applies to either.

The base's own state lives in attributes a subclass must not reuse (``_inbox``, ``_held``,
``_active``, ``_workers``, ``_limit``, ``_low``, ``_concurrency``, ``_adaptive``,
``_adaptive_wrap``, ``_on_error``, ``_process_item`` …): give a
subclass's private attributes names of their own.

Key ordering (``key=``, the Confluent Parallel Consumer's ``KEY`` mode; ``PARTITION`` mode
is ``key=(topic, partition)``): items of one key are processed one at a time in arrival
order, items of different keys concurrently. An item enters the inbox only when no other
item of its key is there or in flight; the others wait, parked per key, and the next one
moves to the inbox when its predecessor finished (see :mod:`._keyed`). Nothing in the
non-keyed paths changes. Bounds: the stage holds at most ``capacity`` items in total and at
most ``max_per_key`` of one key waiting or in a call (parked, in the inbox or in flight,
counting what was requested and may still be of that key; a finished result waiting for
downstream counts in the total only): demand upstream is the smaller of what is free in
total and what is free for the fullest key, so a hot key stops new demand at its bound but
never holds more than its share, and items of other keys already held keep being processed.

On every ending each ack settles once: an item delivered or finished by a sink is done, a
failed one failed, and what is held or in flight when the stage is cancelled (or fails
because of another item) is abandoned.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from inspect import isawaitable
from typing import Any, Protocol, TypeVar, runtime_checkable

from ._ack import Ack, abandon_all
from ._checks import awaitable_result_error
from ._clock import Clock
from ._errors import failure_of, item_failed
from ._keyed import KeyQueues
from ._outbox import OutboxStage
from ._protocol import UNBOUNDED, ChunkSubscriber, Subscription

A = TypeVar("A")
B = TypeVar("B")

_PENDING: Any = object()
_SKIPPED: Any = object()


class _Awaiting:
    """What ``on_error(item, error)`` returned when it is awaitable: an async handler's
    coroutine, or a plain handler's (``lambda item, error: store(item)``); the worker awaits
    it, as guarded_sink awaits its callbacks, so that the handled item is not acked done
    before the handler's work ran."""

    __slots__ = ("awaitable",)

    def __init__(self, awaitable: Awaitable[Any]) -> None:
        self.awaitable = awaitable

# A sink's on_error handler took care of a failed item: its ack is done, and it counts as
# failed only (not also as delivered), so that a stage's outcomes add up to its items.
_HANDLED: Any = object()


@runtime_checkable
class ConcurrencyLimit(Protocol):
    """A concurrency limit that moves while the stage runs (``streamguard.adaptive``).

    The stage reads :attr:`limit` (calls allowed in flight now), times every call on
    :attr:`clock` and reports it with :meth:`record`, and hears of changes through
    :meth:`on_event` (any event: the stage re-reads :attr:`limit`).
    """

    @property
    def limit(self) -> int:
        """Calls allowed in flight now (>= 1)."""
        ...

    @property
    def clock(self) -> Clock:
        """The clock calls are timed on."""
        ...

    def record(self, rtt: float, *, in_flight: int, dropped: bool = False) -> None:
        """One finished call: its duration, the calls in flight, whether it failed."""
        ...

    def on_event(self, listener: Callable[[Any], Any]) -> Callable[[], None]:
        """Call *listener* when the limit changes; return the unsubscribe function."""
        ...


class _Rejected:
    """What :meth:`ConcurrentStage.process` returns for an item it routed elsewhere."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ConcurrentStage.REJECTED"


REJECTED: Any = _Rejected()


class AwaitableResult(Exception):
    """Raised from :meth:`ConcurrentStage.process` when a callback whose result the stage
    throws away returned an awaitable (its work would never run): the stage refuses it as it
    refuses a sink's own awaitable result — the item's ack fails and the stage fails with the
    ``TypeError`` naming the operator, *field* and *fn* (no error policy applies)."""

    def __init__(self, field: str, fn: object, result: object) -> None:
        super().__init__(field, fn, result)
        self.field = field
        self.fn = fn
        self.result = result


class ConcurrentStage(OutboxStage[A, B]):
    """Runs :meth:`process` for each item on up to *concurrency* long-lived workers.

    Args:
        concurrency: the most calls of :meth:`process` under way at once: an int, or a
            :class:`ConcurrencyLimit` that moves with the downstream (every call is timed
            and reported to it; workers and demand follow its limit).
        ordered: results leave in arrival order (otherwise as they finish).
        on_error: ``"fail"``, ``"skip"`` or a callable ``(item, error) -> replacement``;
            what it returns is awaited when it is awaitable (an ``async def``, or a plain
            function returning a coroutine). A sink throws the awaited value away, so it
            refuses an awaitable one, as it refuses one from :meth:`process`.
        emits: ``False`` makes the stage a sink: an item completes at its source when
            :meth:`process` returns, and the stage asks upstream on its own.
        capacity: the bound on items held (default ``2 × concurrency``).
        key: process items of one key one at a time, in arrival order, and items of
            different keys concurrently (needs ``ordered=False``: results leave as they
            finish, so each key's results stay in order). Must be a pure function.
        max_per_key: with *key*, the most items of one key held (default a quarter of the
            capacity, at least 2; under an adaptive limit it follows the capacity).
    """

    kind = "concurrent"
    _op = "ConcurrentStage"
    """The operator named in a refusal of an awaitable result (a subclass sets its own)."""

    REJECTED: Any = REJECTED
    """Return this from :meth:`process` when the item was routed elsewhere (dead-lettered,
    rejected by a limiter): it completes at its source and counts as rejected, not emitted."""

    def __init__(
        self, downstream: ChunkSubscriber[B], *, concurrency: int | ConcurrencyLimit,
        ordered: bool, on_error: Any, name: str | None, emits: bool = True,
        capacity: int | None = None, key: Callable[[A], Hashable] | None = None,
        max_per_key: int | None = None,
    ) -> None:
        self._adaptive: ConcurrencyLimit | None = None
        self._capacity_arg = capacity
        self._unsubscribe_limit: Callable[[], None] | None = None
        if not isinstance(concurrency, int):
            self._adaptive = concurrency
            concurrency = concurrency.limit
        limit = 2 * concurrency if capacity is None else max(capacity, concurrency)
        super().__init__(downstream, name, capacity=limit)
        self._concurrency = concurrency
        self._limit = limit
        self._refill = max(1, limit // 2)
        self._low = limit - self._refill
        # One worker keeps the order anyway; an adaptive limit may grow later.
        self._ordered = ordered and (concurrency > 1 or self._adaptive is not None)
        self._on_error = on_error
        self._emits = emits
        self._inbox: deque[A] = deque()
        self._inbox_acks: deque[Ack | None] = deque()
        # ordered: arrival numbers, and results that finished before an earlier item
        self._seq_in = 0
        self._seq_out = 0
        self._early: dict[int, tuple[Any, Ack | None]] = {}
        self._active = 0       # calls of process() under way
        self._held = 0         # everything counted against the limit (see the module doc)
        self._started = False
        self._workers = 0      # live worker tasks
        self._starting = 0     # workers spawned or woken that have not looked at the inbox yet
        self._idle: deque[asyncio.Future[None]] = deque()
        self._flush_scheduled = False
        self._process_item: Callable[[A], Awaitable[B]] = self.process
        # Key ordering (None: the non-keyed paths, untouched).
        self._key_fn = key
        self._keys: KeyQueues[A] | None = None
        self._per_key_follows = max_per_key is None  # the default follows an adaptive limit
        if key is not None:
            self._keys = KeyQueues(_per_key(limit) if max_per_key is None else max_per_key)

    # ---------------------------------------------------------------- protected API
    async def process(self, item: A) -> B:
        """Do the work for one item (override)."""
        raise NotImplementedError

    def _may_request(self) -> bool:
        """Hook: ``False`` stops requests upstream until :meth:`_request_more` is called."""
        return True

    def _request_more(self) -> None:
        """Ask upstream for what fits now (call when :meth:`_may_request` may have flipped)."""
        if not self._done:
            self._top_up()

    _times_process = True

    @property
    def _concurrency_limit(self) -> ConcurrencyLimit | None:
        """The adaptive limit given as ``concurrency=`` (``None``: a fixed int)."""
        return self._adaptive

    @property
    def _in_flight_count(self) -> int:
        """Calls of :meth:`process` under way."""
        return self._active

    @property
    def _outstanding_count(self) -> int:
        """Items requested from upstream and not yet received."""
        return self._outstanding

    @property
    def _waiting_count(self) -> int:
        """Items received and waiting for a worker (with ``key=``: also those parked
        behind an earlier item of their key)."""
        keys = self._keys
        return len(self._inbox) + (0 if keys is None else keys.parked)

    @property
    def _has_started(self) -> bool:
        """True once downstream asked for items (a sink starts when subscribed)."""
        return self._started

    @property
    def _is_upstream_done(self) -> bool:
        """True once upstream completed."""
        return self._upstream_done

    def _result_source(self) -> tuple[str, object]:
        """Hook: the field and the callable whose awaited result :meth:`process` returns,
        named when a sink refuses that result for being awaitable."""
        return "process", self.process

    def _count_rejected(self, ack: Ack | None) -> None:
        """Count an item routed elsewhere and complete it at its source."""
        self._rejected += 1
        if ack is not None:
            ack.done()

    # ---------------------------------------------------------------- statistics
    def _in_flight(self) -> int:
        return self._active

    def _buffered(self) -> int:
        keys = self._keys
        parked = 0 if keys is None else keys.parked
        return len(self._outbox) + len(self._inbox) + len(self._early) + parked

    def _capacity(self) -> int:
        return self._limit

    def _busy(self) -> bool:
        keys = self._keys
        return (self._active > 0 or bool(self._inbox) or bool(self._early)
                or (keys is not None and keys.parked > 0))

    # ---------------------------------------------------------------- demand
    def on_subscribe(self, subscription: Subscription) -> None:
        if self._key_fn is not None and self._keys is not None and not self._keyed_wrapped:
            self._keyed_wrapped = True
            self._process_item = self._keyed_wrap(self._process_item, self._key_fn)
        if self._adaptive is not None and self._unsubscribe_limit is None:
            if self._times_process:
                self._process_item = self._adaptive_wrap(self._process_item, self._adaptive)
            self._unsubscribe_limit = self._adaptive.on_event(self._limit_changed)
        super().on_subscribe(subscription)
        if not self._emits and not self._done:
            self._started = True
            self._top_up()

    def request(self, n: int) -> None:
        self._started = True
        super().request(n)

    # ---------------------------------------------------------------- key ordering
    _keyed_wrapped = False

    def _keyed_wrap(self, call: Callable[[A], Awaitable[B]],
                    key_fn: Callable[[A], Hashable]) -> Callable[[A], Awaitable[B]]:
        # The key's next item may start once this one's call returned (or raised): the
        # worker puts the result in the outbox before it next yields, so each key's
        # results leave in order. Computing the key again (it is pure) costs less than
        # carrying it beside every item through the inbox.
        async def keyed(item: A) -> B:
            try:
                return await call(item)
            finally:
                self._key_finished(key_fn(item))

        return keyed

    def _key_finished(self, key: Hashable) -> None:
        keys = self._keys
        if self._done or keys is None:
            return  # terminated: the queues were abandoned
        nxt = keys.finish(key)
        if nxt is not None:
            self._inbox.append(nxt[0])
            self._inbox_acks.append(nxt[1])
            self._dispatch()
        if not self._flush_scheduled:
            # Demand follows what is free (in total and for the fullest key) once this
            # item's ack has settled — the worker settles it after the call — so a source
            # never sees more than max_per_key unsettled items of one key.
            self._schedule_flush()

    def _keyed_arrivals(self, keys: KeyQueues[A], items: list[A],
                        acks: list[Ack] | None) -> None:
        key_fn = self._key_fn
        assert key_fn is not None
        inbox, inbox_acks = self._inbox, self._inbox_acks
        for i, item in enumerate(items):
            ack = None if acks is None else acks[i]
            try:
                key = key_fn(item)
            except Exception as exc:
                failure = item_failed(self.name, item, exc)
                if ack is not None:
                    ack.fail(failure)
                if acks is not None:
                    abandon_all(acks[i + 1:])
                self._fail(failure)
                return
            if keys.arrive(key, item, ack):
                inbox.append(item)
                inbox_acks.append(ack)

    # ---------------------------------------------------------------- adaptive limit
    def _adaptive_wrap(self, call: Callable[[A], Awaitable[B]],
               limit: ConcurrencyLimit) -> Callable[[A], Awaitable[B]]:
        now = limit.clock.now

        async def timed(item: A) -> B:
            in_flight = self._active
            began = now()
            try:
                value = await call(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                limit.record(now() - began, in_flight=in_flight, dropped=True)
                raise
            limit.record(now() - began, in_flight=in_flight)
            return value

        return timed

    def _limit_changed(self, _event: object) -> None:
        """The adaptive limit moved: workers and demand follow it."""
        if self._done or self._adaptive is None:
            return
        concurrency = self._adaptive.limit
        self._concurrency = concurrency
        capacity = self._capacity_arg
        self._limit = 2 * concurrency if capacity is None else max(capacity, concurrency)
        self._outbox.capacity = max(self._outbox.capacity, self._limit)
        self._refill = max(1, self._limit // 2)
        self._low = self._limit - self._refill
        if self._keys is not None and self._per_key_follows:
            # Sized from the starting limit, the bound would cap every key's share there.
            self._keys.max_per_key = _per_key(self._limit)
        self._dispatch()
        self._top_up()

    def _top_up(self) -> None:
        if not self._started or self._done or self._upstream_done or not self._may_request():
            return
        free = self._limit - self._held
        keys = self._keys
        if keys is not None:
            # Strict per-key bound: everything requested might be of the fullest key.
            room = keys.room - self._outstanding
            if room < free:
                if room > 0:
                    self._held += room
                    self._ask(room)
                return
        if free >= self._refill or (free > 0 and self._held == 0):
            self._held += free
            self._ask(free)

    def _emit(self, items: list[B], acks: list[Ack] | None) -> None:
        self._held -= len(items)
        super()._emit(items, acks)

    # ---------------------------------------------------------------- items
    def on_chunk(self, items: list[A], acks: list[Ack] | None) -> None:
        if self._done:
            abandon_all(acks)
            return
        n = len(items)
        self._received += n
        self._arrived(n)
        if self._keys is not None:
            self._keyed_arrivals(self._keys, items, acks)
            if self._done:
                return
            self._dispatch()
            self._top_up()  # what arrived no longer counts as possibly of the fullest key
            return
        else:
            self._inbox.extend(items)
            if acks is None:
                self._inbox_acks.extend([None] * n)
            else:
                self._inbox_acks.extend(acks)
        self._dispatch()

    def _dispatch(self) -> None:
        need = len(self._inbox) - self._starting
        idle = self._idle
        while need > 0 and idle:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._starting += 1
                need -= 1
        while need > 0 and self._workers < self._concurrency:
            self._workers += 1
            self._starting += 1
            need -= 1
            self._spawn_tracked(self._work_ordered() if self._ordered else self._work())

    async def _next_item(self) -> bool:
        """Wait until the inbox has an item and the limit allows another call (True), or the
        worker should stop (False)."""
        while not self._inbox or self._active >= self._concurrency:
            if (self._upstream_done and not self._inbox) or self._done:
                return False
            waiter = asyncio.get_running_loop().create_future()
            self._idle.append(waiter)
            await waiter
            self._starting -= 1
        return not self._done

    async def _work(self) -> None:
        # The hot loop of the stage: everything it touches is bound to a local first.
        inbox, inbox_acks = self._inbox, self._inbox_acks
        outbox_items, outbox_acks = self._outbox.items, self._outbox.acks
        emits, call = self._emits, self._process_item
        rejected, skipped = REJECTED, _SKIPPED
        self._starting -= 1
        try:
            while (inbox and self._active < self._concurrency) or await self._next_item():
                item = inbox.popleft()
                ack = inbox_acks.popleft()
                self._active += 1
                try:
                    value = await call(item)
                except asyncio.CancelledError:
                    self._active -= 1
                    if ack is not None:
                        ack.abandon()
                    raise
                except Exception as exc:
                    self._active -= 1
                    if self._done:
                        if ack is not None:
                            ack.abandon()
                        break
                    value = self._resolve_error(item, ack, exc)
                    if value.__class__ is _Awaiting:
                        value = await self._await_on_error(item, ack, value.awaitable)
                    if value is _PENDING:
                        break  # the stream failed
                else:
                    self._active -= 1
                    if self._done:  # the call outlived a cancel: not delivered
                        if ack is not None:
                            ack.abandon()
                        break
                if emits and value is not rejected and value is not skipped:
                    if outbox_items or self._active or not self._demand:
                        # The flush (once per loop turn) emits it with the results of the
                        # other workers that finish in this turn, then asks upstream.
                        outbox_items.append(value)
                        outbox_acks.append(ack)
                        if not self._flush_scheduled:
                            self._schedule_flush()
                        continue
                    # Nothing else can join this result in a chunk: emit it now.
                    if self._demand < UNBOUNDED:
                        self._demand -= 1
                    self._emit([value], None if ack is None else [ack])
                    if self._upstream_done:
                        self._drain()
                elif (not emits and value is not rejected and value is not skipped
                      and value is not _HANDLED):
                    # Thrown away, so it must not be work still to do (checked only when it
                    # is not None, which the usual sink function returns).
                    if value is not None and isawaitable(value):
                        self._refuse_result(*self._result_source(), value, ack)
                        break
                    self._held -= 1
                    self._emitted += 1  # counted as delivered to the sink's target
                    if ack is not None:
                        ack.done()
                    if self._upstream_done:
                        self._drain()
                else:
                    self._deliver(value, ack)
                if self._held <= self._low:
                    self._top_up()
        finally:
            self._workers -= 1
        if not self._done and self._upstream_done and self._workers == 0:
            self._drain()

    async def _work_ordered(self) -> None:
        # Each item takes an arrival number; a result leaves when every earlier one has. In
        # the common case an item finishes after those before it and leaves at once; only a
        # result that finished early waits in a dict.
        inbox, inbox_acks, early = self._inbox, self._inbox_acks, self._early
        outbox_items, outbox_acks = self._outbox.items, self._outbox.acks
        emits, call = self._emits, self._process_item
        rejected, skipped = REJECTED, _SKIPPED
        self._starting -= 1
        try:
            while (inbox and self._active < self._concurrency) or await self._next_item():
                item = inbox.popleft()
                ack = inbox_acks.popleft()
                seq = self._seq_in
                self._seq_in = seq + 1
                self._active += 1
                try:
                    value = await call(item)
                except asyncio.CancelledError:
                    self._active -= 1
                    if ack is not None:
                        ack.abandon()
                    raise
                except Exception as exc:
                    self._active -= 1
                    if self._done:
                        if ack is not None:
                            ack.abandon()
                        break
                    value = self._resolve_error(item, ack, exc)
                    if value.__class__ is _Awaiting:
                        value = await self._await_on_error(item, ack, value.awaitable)
                    if value is _PENDING:
                        break  # the stream failed
                else:
                    self._active -= 1
                    if self._done:  # the call outlived a cancel: not delivered
                        if ack is not None:
                            ack.abandon()
                        break
                if seq != self._seq_out:
                    early[seq] = (value, ack)
                    continue
                while True:
                    self._seq_out += 1
                    if not emits or value is rejected or value is skipped:
                        self._deliver(value, ack)
                        if self._done:
                            break  # refused (see _deliver): the rest was abandoned
                    else:
                        outbox_items.append(value)
                        outbox_acks.append(ack)
                    if not early or self._seq_out not in early:
                        break
                    value, ack = early.pop(self._seq_out)
                if outbox_items and not self._flush_scheduled:
                    self._schedule_flush()
                if self._held <= self._low:
                    self._top_up()
        finally:
            self._workers -= 1
        if not self._done and self._upstream_done and self._workers == 0:
            self._drain()

    def _resolve_error(self, item: A, ack: Ack | None, exc: Exception) -> Any:
        """Apply the error policy: the value to go on with, or ``_PENDING`` if the stream
        failed."""
        if isinstance(exc, AwaitableResult):
            self._refuse_result(exc.field, exc.fn, exc.result, ack)
            return _PENDING
        self._failed += 1
        self._publish_failed(exc)
        policy: Any = self._on_error
        if policy == "skip":
            if ack is not None:
                ack.fail(item_failed(self.name, item, exc))
            return _SKIPPED
        if policy != "fail":
            try:
                with failure_of(self.name):
                    value = policy(item, exc)
            except Exception as exc2:
                exc = exc2
            else:
                if isawaitable(value):
                    return _Awaiting(value)
                return value if self._emits else _HANDLED
        failure = item_failed(self.name, item, exc)
        if ack is not None:
            ack.fail(failure)
        self._held -= 1
        self._fail(failure)
        return _PENDING

    async def _await_on_error(self, item: A, ack: Ack | None, handling: Awaitable[Any]) -> Any:
        """Await what ``on_error(item, error)`` returned; its failure fails the stream."""
        try:
            with failure_of(self.name):  # the callback's coroutine runs here, not when called
                value = await handling
        except asyncio.CancelledError:
            if ack is not None:
                ack.abandon()
            raise
        except Exception as exc2:
            failure = item_failed(self.name, item, exc2)
            if ack is not None:
                ack.fail(failure)
            self._held -= 1
            self._fail(failure)
            return _PENDING
        if self._emits:
            return value  # the replacement item
        if value is not None and isawaitable(value):  # thrown away: must not be work to do
            self._refuse_result("on_error", self._on_error, value, ack, counted=True)
            return _PENDING
        return _HANDLED

    def _deliver(self, value: Any, ack: Ack | None) -> None:
        if value is _SKIPPED:
            self._held -= 1  # its ack was failed by the policy
        elif value is _HANDLED:
            self._held -= 1
            if ack is not None:
                ack.done()
        elif value is REJECTED:
            self._held -= 1
            self._count_rejected(ack)
        elif self._emits:
            self._outbox.items.append(value)  # never refused: the stage holds at most _limit
            self._outbox.acks.append(ack)
            if not self._flush_scheduled:
                self._schedule_flush()
            return
        else:
            if value is not None and isawaitable(value):  # as in _work: never acked done
                self._refuse_result(*self._result_source(), value, ack)
                return
            self._held -= 1
            self._emitted += 1  # counted as delivered to the sink's target
            if ack is not None:
                ack.done()
        if self._upstream_done and not self._done:
            self._drain()

    def _refuse_result(self, field: str, fn: object, result: object, ack: Ack | None, *,
                       counted: bool = False) -> None:
        """*fn* (*field*) returned an awaitable where the stage throws the result away: a
        programming error, not a failed item, so no policy applies. The item's ack fails (a
        Kafka source does not commit past it) and the stage fails with the ``TypeError``;
        what it still holds is abandoned. *counted*: the item is already counted failed (its
        own error came first, then its handler's)."""
        error = awaitable_result_error(self._op, field, fn, result, awaited=True)
        self._failed += not counted
        self._publish_failed(error)
        if ack is not None:
            ack.fail(error)
        self._held -= 1
        self._fail(error)

    def _schedule_flush(self) -> None:
        # One emission per loop turn: results of workers that finish in the same turn leave
        # in one chunk.
        self._flush_scheduled = True
        asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._done:
            self._drain()
            self._top_up()

    # ---------------------------------------------------------------- ending
    def _on_cancel(self) -> None:
        if self._unsubscribe_limit is not None:
            self._unsubscribe_limit()
            self._unsubscribe_limit = None
        self._cancel_tasks()
        for waiter in self._idle:
            waiter.cancel()
        self._idle.clear()

    def _on_terminate(self) -> None:
        super()._on_terminate()
        self._on_cancel()
        abandon_all(self._inbox_acks)
        self._inbox.clear()
        self._inbox_acks.clear()
        if self._keys is not None:
            self._keys.abandon_all()
        # Finished and waiting for an earlier item; in-flight ones are abandoned by their
        # worker when it is cancelled.
        for value, ack in self._early.values():
            if ack is not None and value is not _SKIPPED:
                ack.abandon()
        self._early.clear()


def _per_key(capacity: int) -> int:
    """The default per-key bound: a quarter of the capacity, at least 2. Demand counts every
    item requested as possibly of the fullest key, so a bound of 1 would let one item be
    requested only while none is held: one call at a time, whatever the concurrency."""
    return max(2, capacity // 4)
