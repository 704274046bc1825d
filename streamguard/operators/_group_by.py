"""``group_by``: split a stream into one substream per key, each with its own demand.

The stage emits a :class:`GroupedStream` (a stream with a ``key``) the first time it sees a
key; the items of that key go to whoever subscribed to that group, as fast as *that*
subscriber asks. Consume the groups with ``flat_map(..., concurrency=max_groups)`` (a group
that is never subscribed holds its items, and with them the shared budget).

**Demand and memory bound.** One budget of *buffer* items is shared by every group: items
held in groups plus items requested from upstream never exceed it, so a group whose
subscriber is slow holds the others back once the budget is used (Akka's ``groupBy``
backpressures the same way). At most *max_groups* groups are open.

**At the bound.** An item with a new key while *max_groups* groups are open:
``on_limit="error"`` (the default, like Akka's ``maxSubstreams``) fails the stream with
:class:`GroupLimitError` naming the key and the bound; ``on_limit="evict"`` closes the group
that saw an item least recently (its subscriber receives what it held, then completion) and
opens the new one. With *idle_timeout*, a group that received nothing for that long (on the
injected clock) is closed the same way; a later item with its key opens a new group.

**Acks.** Items keep their own acks; a group cancelled by its subscriber abandons what it
held (later items with its key open a new group). Cancelling the stream of groups ends
intake: a subscribed group still delivers what it holds, then completes; a group nobody
subscribed to abandons what it holds.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, Literal, TypeVar

from ..core._ack import Ack, abandon_all
from ..core._clock import Clock
from ..core._errors import BufferOverflowError
from ..core._protocol import UNBOUNDED, ChunkSubscriber, Subscription, add_demand, demand_error
from ..core._stage import Stage
from ..core._stream import Stream, closed_error
from ._errors import item_failed

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

OnLimit = Literal["error", "evict"]


class GroupLimitError(BufferOverflowError):
    """``group_by`` met a new key while ``max_groups`` groups were open (``on_limit="error"``)."""


class GroupedStream(Stream[T], Generic[K, T]):
    """The substream of one key; subscribe to it once."""

    __slots__ = ("key",)

    def __init__(self, key: K, subscribe: Callable[[ChunkSubscriber[T]], None]) -> None:
        super().__init__(subscribe)
        self.key = key

    def __repr__(self) -> str:
        return f"GroupedStream(key={self.key!r})"


class Group(Generic[K, T]):
    """One group: its queue and the subscription its subscriber holds."""

    __slots__ = ("acks", "again", "closing", "demand", "down", "draining", "finished", "items",
                 "key", "seen", "seen_at", "stage")

    def __init__(self, stage: GroupByStage[T, K], key: K) -> None:
        self.stage = stage
        self.key = key
        self.down: ChunkSubscriber[T] | None = None
        self.items: deque[T] = deque()
        self.acks: deque[Ack] | None = None
        self.demand = 0
        self.closing = False  # no more items will come; complete once the queue is empty
        self.finished = False  # terminal signal sent, or cancelled
        self.seen = 0
        self.seen_at = 0.0
        self.draining = False  # a request made inside on_chunk only marks more to do
        self.again = False

    def request(self, n: int) -> None:
        if self.finished:
            return
        if n <= 0:
            self.finished = True
            self.stage._group_gone(self)
            if self.down is not None:
                self.down.on_error(demand_error(f"group {self.key!r}", n))
            return
        self.demand = add_demand(self.demand, n)
        self.stage._drain_group(self)
        self.stage._top_up()

    def cancel(self) -> None:
        if not self.finished:
            self.finished = True
            self.stage._group_gone(self)

    def finish(self, error: BaseException | None) -> None:
        """Send the terminal signal (once)."""
        if self.finished:
            return
        self.finished = True
        if self.down is not None:
            if error is None:
                self.down.on_complete()
            else:
                self.down.on_error(error)


class GroupByStage(Stage[T, GroupedStream[K, T]]):
    """Routes items to per-key groups under one shared budget."""

    kind = "group_by"

    def __init__(
        self, downstream: ChunkSubscriber[GroupedStream[K, T]], key: Callable[[T], K], *,
        max_groups: int, idle_timeout: float | None, buffer: int, on_limit: OnLimit,
        clock: Clock, name: str | None,
    ) -> None:
        super().__init__(downstream, name)
        self._key = key
        self._max_groups = max_groups
        self._idle = idle_timeout
        self._budget = buffer
        self._on_limit = on_limit
        self._clock = clock
        self._groups: dict[K, Group[K, T]] = {}
        self._live: set[Group[K, T]] = set()  # groups not yet finished, open or closing
        self._pending: deque[GroupedStream[K, T]] = deque()
        self._demand = 0
        self._held = 0
        self._chunks = 0
        self._upstream_done = False
        self._upstream_error: BaseException | None = None
        self._reaper: asyncio.Task[None] | None = None  # cancelled with the stage (tracked)

    # ---------------------------------------------------------------- statistics
    def _in_flight(self) -> int:
        return len(self._groups)

    def _buffered(self) -> int:
        return self._held

    def _capacity(self) -> int:
        return self._budget

    # ---------------------------------------------------------------- demand
    def on_subscribe(self, subscription: Subscription) -> None:
        super().on_subscribe(subscription)
        self._top_up()

    def request(self, n: int) -> None:
        """Demand for groups (each group has its own demand for items)."""
        if n <= 0:
            self._fail(demand_error(f"stage {self.name!r}", n))
            return
        if self._done:
            return
        self._requested = add_demand(self._requested, n)
        self._demand = add_demand(self._demand, n)
        self._emit_pending()

    def _top_up(self) -> None:
        if self._done or self._upstream_done:
            return
        free = self._budget - self._held - self._outstanding
        # Ask in quarters of the budget; ask for less only when nothing is held or coming.
        if free > 0 and (free * 4 >= self._budget
                         or (self._outstanding == 0 and self._held == 0)):
            self._ask(free)

    def _emit_pending(self) -> None:
        while self._demand > 0 and self._pending and not self._done:
            if self._demand < UNBOUNDED:
                self._demand -= 1
            self._emit([self._pending.popleft()], None)
        if self._upstream_done and not self._pending:
            self._finish_outer()

    # ---------------------------------------------------------------- items
    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            abandon_all(acks)
            return
        n = len(items)
        self._received += n
        self._arrived(n)
        # Counted as held until placed: a group subscribed while this chunk is being
        # placed may ask for more, and must not see these items as free budget.
        self._held += n
        fn = self._key
        try:
            keys = [fn(x) for x in items]
        except Exception:
            self._key_failed(items, acks)
            return
        self._chunks += 1
        buckets: dict[K, list[int]] = {}
        for i, k in enumerate(keys):
            b = buckets.get(k)
            if b is None:
                buckets[k] = [i]
            else:
                b.append(i)
        now = self._clock.now() if self._idle is not None else 0.0
        ordered = list(buckets.items())
        for pos, (k, index) in enumerate(ordered):
            group = self._groups.get(k)
            if group is None and self._done:
                # the stream of groups was cancelled while this chunk was being placed: a new
                # group could never be delivered, so its items are not processed
                if acks is not None:
                    abandon_all([acks[i] for i in index])
                self._held -= len(index)
                continue
            if group is None:
                group = self._open(k)
                if group is None:  # the stream failed at the bound: the rest is not processed
                    if acks is not None:
                        abandon_all([acks[i] for _, rest in ordered[pos:] for i in rest])
                    return
            group.seen = self._chunks
            group.seen_at = now
            self._offer(group, [items[i] for i in index],
                        None if acks is None else [acks[i] for i in index])
        self._top_up()

    def _key_failed(self, items: list[T], acks: list[Ack] | None) -> None:
        for i, x in enumerate(items):
            try:
                self._key(x)
            except Exception as exc:
                self._failed += 1
                self._publish_failed(exc)
                failure = item_failed(self.name, x, exc)
                if acks is not None:
                    acks[i].fail(failure)
                    abandon_all(acks[:i] + acks[i + 1:])
                self._fail(failure)
                return

    def _open(self, key: K) -> Group[K, T] | None:
        if len(self._groups) >= self._max_groups:
            if self._on_limit == "error":
                self._fail(GroupLimitError(
                    f"group_by {self.name!r} has max_groups={self._max_groups} groups open and "
                    f"key {key!r} would open another; raise max_groups, set idle_timeout, or "
                    "use on_limit='evict'"))
                return None
            oldest = min(self._groups.values(), key=lambda g: g.seen)
            self._close(oldest)
        group: Group[K, T] = Group(self, key)
        self._groups[key] = group
        self._live.add(group)
        if self._idle is not None and self._reaper is None:
            self._reaper = self._spawn_tracked(self._reap())

        def subscribe(down: ChunkSubscriber[T]) -> None:
            if group.down is not None:
                down.on_subscribe(_Refused())
                down.on_error(closed_error(f"group {key!r} of {self.name!r} (subscribe once)"))
                return
            group.down = down
            down.on_subscribe(group)
            self._drain_group(group)

        self._pending.append(GroupedStream(key, subscribe))
        self._emit_pending()
        return group

    def _offer(self, group: Group[K, T], items: list[T], acks: list[Ack] | None) -> None:
        n = len(items)
        if group.finished:  # its subscriber cancelled while this chunk was being placed
            self._held -= n
            abandon_all(acks)
            return
        self._emitted += n
        if (not group.items and group.demand >= n and group.down is not None
                and not group.draining):
            if group.demand < UNBOUNDED:
                group.demand -= n
            self._held -= n
            group.down.on_chunk(items, acks)
            return
        group.items.extend(items)
        if acks is not None:
            if group.acks is None:
                group.acks = deque()
            group.acks.extend(acks)
        self._drain_group(group)

    def _drain_group(self, group: Group[K, T]) -> None:
        if group.draining:
            group.again = True  # re-entered from the group's on_chunk: the loop goes on
            return
        group.draining = True
        try:
            while True:
                group.again = False
                while (group.demand > 0 and group.items and group.down is not None
                       and not group.finished):
                    self._deliver(group)
                if not group.again:
                    break
        finally:
            group.draining = False
        if group.closing and not group.items and group.down is not None:
            group.finish(self._upstream_error)
            self._live.discard(group)

    def _deliver(self, group: Group[K, T]) -> None:
        assert group.down is not None
        k = min(group.demand, len(group.items))
        items = [group.items.popleft() for _ in range(k)]
        acks = None
        if group.acks is not None:
            acks = [group.acks.popleft() for _ in range(k)]
            if not group.acks:
                group.acks = None
        self._held -= k
        if group.demand < UNBOUNDED:
            group.demand -= k
        group.down.on_chunk(items, acks)

    # ---------------------------------------------------------------- group endings
    def _close(self, group: Group[K, T]) -> None:
        """No more items for this group: it completes once its subscriber took the rest."""
        if self._groups.get(group.key) is group:
            del self._groups[group.key]
        group.closing = True
        self._drain_group(group)

    def _group_gone(self, group: Group[K, T]) -> None:
        """The group's subscriber cancelled: what it held is abandoned."""
        if self._groups.get(group.key) is group:
            del self._groups[group.key]
        self._live.discard(group)
        self._held -= len(group.items)
        group.items.clear()
        abandon_all(group.acks)
        group.acks = None
        self._top_up()

    async def _reap(self) -> None:
        assert self._idle is not None
        idle = self._idle
        wait = idle
        while not self._done:
            await self._clock.sleep(wait)
            now = self._clock.now()
            wait = idle
            for group in list(self._groups.values()):
                due = group.seen_at + idle
                if due <= now:
                    self._close(group)
                else:
                    wait = min(wait, due - now)
            self._top_up()

    # ---------------------------------------------------------------- stream endings
    def on_complete(self) -> None:
        if self._done:
            return
        self._upstream_done = True
        for group in list(self._groups.values()):
            self._close(group)
        self._emit_pending()

    def _finish_outer(self) -> None:
        if not self._done:
            self._terminate(None)

    def on_error(self, error: BaseException) -> None:
        if self._done:
            return
        self._upstream_done = True
        self._upstream_error = error
        self._end_groups(error)
        self._terminate(error)

    def _fail(self, error: BaseException) -> None:
        if self._done:
            return
        self._up.cancel()
        self.on_error(error)

    def _end_groups(self, error: BaseException) -> None:
        for group in list(self._live):
            self._held -= len(group.items)
            group.items.clear()
            abandon_all(group.acks)
            group.acks = None
            group.finish(error)
        self._live.clear()
        self._groups.clear()
        self._pending.clear()

    def _on_cancel(self) -> None:
        # The stream of groups was cancelled: no new groups, no more intake; open groups
        # complete once their subscribers took what they hold.
        self._upstream_done = True
        for group in list(self._live):
            if group.down is None:  # never delivered to anyone: it never will be
                group.finished = True
                self._group_gone(group)
            else:
                self._close(group)
        self._pending.clear()


class _Refused:
    """The subscription handed to a second subscriber of a group: it does nothing."""

    def request(self, n: int) -> None:
        pass

    def cancel(self) -> None:
        pass
