"""``window``: processing-time windows — tumbling or sliding, by count and/or duration.

Windows are emitted as lists, like ``batch``; downstream demand counts windows. A window's
ack settles its members: each item completes when the last window that contains it is
delivered (completed downstream). Empty windows are never emitted.

* ``window(count=n)`` — tumbling by count; ``window(count=n, step=s)`` — sliding, a window of
  the last *n* items every *s* items; at the end, a last partial window only if it holds an
  item no window held (Akka's ``sliding``).
* ``window(duration=d)`` — tumbling by time: a window opens with its first item and closes
  *d* seconds later, or at *count* items if given (Akka's ``groupedWithin``, Reactor's
  ``bufferTimeout``); ``batch(size, timeout)`` is this with ``count=size``.
* ``window(duration=d, every=e)`` — sliding by time: every *e* seconds (from the first
  request), the items that arrived in the last *d* seconds.

Memory bounds (item references held, whatever downstream does): tumbling by count
``count × max(2, ⌈1024 / count⌉)``; sliding by count ``max(2 × count, 1024)``; by duration
*max_items* for an open window plus windows waiting for demand (a time window closes early
at *max_items*). Upstream is asked only for what fits.
"""

from __future__ import annotations

from collections import deque
from typing import TypeVar

from ..core._ack import Ack
from ..core._clock import Clock
from ..core._outbox import OutboxStage
from ..core._protocol import ChunkSubscriber
from ._settle import GroupAck, abandon_all
from ._timer import Timer, next_tick

T = TypeVar("T")

_AHEAD_ITEMS = 1024  # items worth of windows asked for ahead, so small windows move in chunks


class _WindowStage(OutboxStage[T, list[T]]):
    """Shared book-keeping: item references held, upstream gating, settling on early end."""

    def __init__(self, downstream: ChunkSubscriber[list[T]], name: str | None,
                 limit: int, refill: int, windows_per_item: int = 1) -> None:
        super().__init__(downstream, name, capacity=limit)
        self._limit = limit
        self._refill = refill
        self._per_item = windows_per_item  # an item may be referenced by this many windows
        self._outstanding = 0
        self._queued = 0  # item references in windows waiting in the outbox

    def _open_count(self) -> int:
        raise NotImplementedError

    def _open_acks(self) -> list[Ack | None]:
        raise NotImplementedError

    def _clear_open(self) -> None:
        raise NotImplementedError

    def _buffered(self) -> int:
        return self._open_count() + self._queued

    def _capacity(self) -> int:
        return self._limit

    def _top_up(self) -> None:
        if self._done or self._upstream_done:
            return
        room = self._limit - self._open_count() - self._queued
        want = room // self._per_item - self._outstanding
        if want >= self._refill or (want > 0 and not self._outstanding):
            self._outstanding += want
            self._up.request(want)

    def _received_chunk(self, n: int) -> None:
        self._received += n
        self._outstanding = max(0, self._outstanding - n)

    def _queue(self, window: list[T], ack: Ack | None) -> None:
        self._queued += len(window)
        self._outbox.items.append(window)
        self._outbox.acks.append(ack)

    def _emit(self, items: list[list[T]], acks: list[Ack] | None) -> None:
        self._queued -= sum(len(w) for w in items)
        super()._emit(items, acks)

    def _on_cancel(self) -> None:
        self._release()

    def _on_terminate(self) -> None:
        self._release()
        super()._on_terminate()

    def _release(self) -> None:
        # Windows not delivered were not processed: their members are abandoned.
        held = [*self._open_acks(), *self._outbox.acks]
        self._clear_open()
        self._outbox.items.clear()
        self._outbox.acks.clear()
        self._queued = 0
        abandon_all(held)


class TumblingWindowStage(_WindowStage[T]):
    """Closes a window at *count* items or *duration* seconds after its first item."""

    kind = "window"

    def __init__(
        self, downstream: ChunkSubscriber[list[T]], count: int, duration: float | None,
        name: str | None, clock: Clock | None,
    ) -> None:
        ahead = max(2, -(-_AHEAD_ITEMS // count))
        super().__init__(downstream, name, limit=count * ahead, refill=count)
        self._count = count
        self._duration = duration
        self._items: list[T] = []
        self._acks: list[Ack] | None = None
        self._timer = Timer(clock, self._on_timer, self._spawn) if duration else None

    def _open_count(self) -> int:
        return len(self._items)

    def _open_acks(self) -> list[Ack | None]:
        return list(self._acks or ())

    def _clear_open(self) -> None:
        self._items, self._acks = [], None
        if self._timer is not None:
            self._timer.cancel()

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            return
        self._received_chunk(len(items))
        count, i, n = self._count, 0, len(items)
        while i < n:
            if not self._items:
                if n - i >= count:  # a whole window in one slice: no copying item by item
                    self._queue(items[i:i + count],
                                None if acks is None else GroupAck(acks[i:i + count]))
                    i += count
                    continue
                if self._timer is not None and self._duration is not None:
                    self._timer.after(self._duration)
            room = count - len(self._items)
            self._items.extend(items[i:i + room])
            if acks is not None:
                if self._acks is None:
                    self._acks = []
                self._acks.extend(acks[i:i + room])
            i += room
            if len(self._items) >= count:
                self._close()
        self._drain()
        self._top_up()

    def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        window, acks = self._items, self._acks
        self._items, self._acks = [], None
        self._queue(window, None if acks is None else GroupAck(acks))

    def _on_timer(self) -> None:
        if self._items and not self._done:
            self._close()
            self._drain()
            self._top_up()

    def on_complete(self) -> None:
        if self._done:
            return
        if self._items:
            self._close()
        super().on_complete()


class SlidingCountStage(_WindowStage[T]):
    """Every *step* items, the last *count* items."""

    kind = "window"

    def __init__(
        self, downstream: ChunkSubscriber[list[T]], count: int, step: int, name: str | None
    ) -> None:
        super().__init__(downstream, name, limit=max(2 * count, _AHEAD_ITEMS),
                         refill=min(step, max(1, _AHEAD_ITEMS // count)),
                         windows_per_item=-(-count // step) + 1)
        self._count = count
        self._step = step
        self._items: deque[T] = deque()
        self._acks: deque[Ack | None] = deque()
        self._n = 0
        self._next_end = count
        self._last: GroupAck | None = None

    def _open_count(self) -> int:
        return len(self._items)

    def _open_acks(self) -> list[Ack | None]:
        return list(self._acks)

    def _clear_open(self) -> None:
        self._items.clear()
        self._acks.clear()

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            return
        self._received_chunk(len(items))
        for i, x in enumerate(items):
            self._items.append(x)
            self._acks.append(None if acks is None else acks[i])
            self._n += 1
            if self._n == self._next_end:
                self._next_end += self._step
                # The first *step* members are in no later window: this one settles them.
                leaving = [self._acks.popleft() for _ in range(self._step)]
                ack = GroupAck(leaving)
                window = list(self._items)
                for _ in range(self._step):
                    self._items.popleft()
                self._queue(window, ack)
                self._last = ack
        self._drain()
        self._top_up()

    def on_complete(self) -> None:
        if self._done:
            return
        fresh = self._n - (self._next_end - self._step) if self._last else self._n
        if fresh > 0 and self._items:
            self._queue(list(self._items), GroupAck(self._acks))
        elif self._last is not None:
            self._last.add(self._acks)  # their last window was already delivered
        self._clear_open()
        super().on_complete()


class SlidingTimeStage(_WindowStage[T]):
    """Every *every* seconds, the items of the last *duration* seconds."""

    kind = "window"

    def __init__(
        self, downstream: ChunkSubscriber[list[T]], duration: float, every: float,
        max_items: int, name: str | None, clock: Clock | None,
    ) -> None:
        super().__init__(downstream, name, limit=max_items, refill=max(1, max_items // 4))
        self._duration = duration
        self._every = every
        self._timer = Timer(clock, self._on_timer, self._spawn)
        self._held: deque[tuple[float, T, Ack | None]] = deque()
        self._fresh = 0  # trailing items in no window yet
        self._start: float | None = None
        self._tick_no = 0
        self._deferred = False
        self._last: GroupAck | None = None

    def _open_count(self) -> int:
        return len(self._held)

    def _open_acks(self) -> list[Ack | None]:
        return [a for _, _, a in self._held]

    def _clear_open(self) -> None:
        self._held.clear()
        self._fresh = 0
        self._timer.cancel()

    def request(self, n: int) -> None:
        if self._start is None and n > 0 and not self._done:
            self._start = self._timer.now()
            self._tick_no = 1
            self._timer.at(self._start + self._every)
        super().request(n)
        if self._deferred and not self._outbox and not self._done:
            self._deferred = False
            self._tick(self._timer.now())
            self._drain()
            self._top_up()

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            return
        self._received_chunk(len(items))
        now = self._timer.now()
        if acks is None:
            self._held.extend((now, x, None) for x in items)
        else:
            self._held.extend((now, x, a) for x, a in zip(items, acks, strict=True))
        self._fresh += len(items)
        self._top_up()

    def _on_timer(self) -> None:
        if self._done or self._start is None:
            return
        now = self._timer.now()
        self._tick_no = next_tick(self._start, self._every, now, self._tick_no)
        self._timer.at(self._start + self._tick_no * self._every)
        if self._outbox:
            self._deferred = True  # a window still waits for demand: this one follows it
            return
        self._tick(now)
        self._drain()
        self._top_up()

    def _tick(self, now: float, *, final: bool = False) -> None:
        held = self._held
        first_fresh = len(held) - self._fresh
        horizon = now - self._duration
        start = next((i for i, (t, _, _) in enumerate(held) if t > horizon), len(held))
        start = min(start, first_fresh)
        window = [x for _, x, _ in list(held)[start:]]
        self._fresh = 0
        # Members that no later window will hold leave now; this window settles them.
        keep_after = float("inf") if final else now + self._every - self._duration
        leaving: list[Ack | None] = []
        while held and (final or held[0][0] <= keep_after):
            leaving.append(held.popleft()[2])
        if window:
            ack = GroupAck(leaving)
            self._queue(window, ack)
            self._last = ack
        elif self._last is not None:
            self._last.add(leaving)  # their last window was already delivered

    def on_complete(self) -> None:
        if self._done:
            return
        self._timer.cancel()
        if self._fresh:  # items no window held yet: one last window
            self._tick(self._timer.now(), final=True)
        elif self._last is not None:
            self._last.add(a for _, _, a in self._held)  # already delivered in a window
        self._held.clear()
        super().on_complete()
