"""Event-time windows: tumbling, hopping and session windows per key, driven by watermarks.

Time here is the records' own time, read by a timestamp extractor, in any unit (seconds,
milliseconds — sizes, gaps, delays and lateness use the same unit). The watermark is the
highest timestamp seen minus *delay* (Flink's bounded out-of-orderness). Records merged from
inputs read at different speeds (topics, partitions) name their input with *partition*:
each input then has its own highest timestamp and the watermark follows the slowest one —
Flink's rule for parallel inputs — so a fast input never makes a slow one's records late. It
stays at ``-inf`` until *min_partitions* inputs were seen; an input that falls silent holds
it back (until the end of input, or until the memory bound fires windows early). A window
``[start, end)`` fires when the watermark reaches ``end``; upstream completion fires every
window still open.

Late records (the rules of Flink's allowed lateness):

* a fired window stays *lateness* more time units; a record for it in that time joins it and
  the window fires again, complete, marked ``late=True`` (it replaces the earlier result);
* a record whose windows all ended more than *lateness* before the watermark is late: it is
  routed to ``on_late(item, LateRecord)`` and counted in ``rejected`` — or, with
  ``on_late="drop"``, counted in ``dropped`` and published as ``ItemsDropped(reason="late")``.
  Either way its ack completes. It is never dropped silently.

Acks: a record's ack joins the window that fires last among those holding it (hopping
windows overlap), and completes when that firing is delivered.

Memory: upstream is read only while open, retained and undelivered windows hold fewer than
*max_items* item references; a firing may add up to as many again, so the bound is
``2 × max_items``. If open windows alone fill the room, the window that ends first fires
early (``early=True``): later records for it form a new window.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeAlias, TypeVar

from ..core._ack import Ack
from ..core._outbox import OutboxStage
from ..core._protocol import ChunkSubscriber
from ._errors import item_failed
from ._settle import GroupAck, abandon_all, fail_at

T = TypeVar("T")
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class EventWindow(Generic[K, T]):
    """One firing of an event-time window.

    Attributes:
        key: the key the window belongs to (``None`` without a key function).
        start: the window's start (inclusive), in timestamp units.
        end: the window's end (exclusive).
        items: the members, in arrival order.
        late: a late firing — the window fired before and a record within the allowed
            lateness joined it; *items* are all members, so this result replaces the last one.
        early: fired before the watermark because the memory bound was reached; records that
            arrive later for the same window form another window.
    """

    key: K
    start: float
    end: float
    items: list[T]
    late: bool = False
    early: bool = False


@dataclass(frozen=True, slots=True)
class LateRecord:
    """Why a record was late: handed to ``on_late(item, late)``.

    Attributes:
        key: the record's key.
        timestamp: the record's timestamp.
        watermark: the watermark when it arrived.
        window_end: the end of the last window it would have belonged to.
        lateness: the allowed lateness it exceeded.
    """

    key: Any
    timestamp: float
    watermark: float
    window_end: float
    lateness: float


OnLate: TypeAlias = Literal["drop"] | Callable[[Any, LateRecord], object]


class _Open:
    """One window's state."""

    __slots__ = ("acks", "alive", "end", "fired", "items", "key", "pending", "scheduled", "start")

    def __init__(self, key: Any, start: float, end: float) -> None:
        self.key = key
        self.start = start
        self.end = end
        self.items: list[Any] = []
        self.acks: list[Ack] = []  # acks of members not yet settled by a firing
        self.fired = False  # fired at least once
        self.pending = 0  # members added since the last firing
        self.scheduled = False  # in the purge heap
        self.alive = True


class Assigner:
    """Maps a record to windows (fixed windows); sessions override :meth:`place`."""

    def __init__(self, size: float, slide: float) -> None:
        self.size = size
        self.slide = slide

    def bounds(self, ts: float) -> list[tuple[float, float]]:
        """The ``(start, end)`` of every window holding *ts*, latest end last."""
        last = math.floor(ts / self.slide) * self.slide
        starts = []
        s = last
        while s > ts - self.size:
            starts.append(s)
            s -= self.slide
        return [(s, s + self.size) for s in reversed(starts)]


class SessionAssigner:
    """Sessions: a record opens ``[ts, ts + gap)``; overlapping sessions of a key merge."""

    def __init__(self, gap: float) -> None:
        self.gap = gap


class EventWindowStage(OutboxStage[T, "EventWindow[Any, T]"]):
    """Assigns records to keyed windows, fires them by watermark, routes late records."""

    kind = "event_window"

    def __init__(
        self, downstream: ChunkSubscriber[EventWindow[Any, T]], *,
        timestamp: Callable[[T], float], key: Callable[[T], Hashable] | None,
        assigner: Assigner | SessionAssigner, delay: float, lateness: float,
        on_late: OnLate, max_items: int, name: str | None,
        partition: Callable[[T], Hashable] | None = None, min_partitions: int = 1,
    ) -> None:
        super().__init__(downstream, name, capacity=max_items)
        self._ts = timestamp
        self._key = key
        self._assigner = assigner
        self._delay = delay
        self._lateness = lateness
        self._on_late = on_late
        self._max = max_items
        # A record is referenced by up to this many windows (hopping windows overlap).
        self._per_item = (math.ceil(assigner.size / assigner.slide)
                          if isinstance(assigner, Assigner) else 1)
        self._refill = max(1, max_items // (4 * self._per_item))
        self._watermark = -math.inf
        self._partition = partition
        self._min_parts = min_partitions
        self._highest: dict[Hashable, float] = {}  # per partition: the highest timestamp
        self._fixed: dict[tuple[Any, float], _Open] = {}
        self._sessions: dict[Any, list[_Open]] = {}
        self._fire_heap: list[tuple[float, int, _Open]] = []
        self._purge_heap: list[tuple[float, int, _Open]] = []
        self._seq = itertools.count()
        self._held = 0  # item references in open and retained windows
        self._queued = 0  # item references in fired windows waiting for demand
        self._outstanding = 0
        self.late_records = 0

    @property
    def watermark(self) -> float:
        """The current watermark (``-inf`` before the first record)."""
        return self._watermark

    # ------------------------------------------------------------ statistics and demand
    def _buffered(self) -> int:
        return self._held + self._queued

    def _capacity(self) -> int:
        # Reading stops at max_items references; one firing (a late one copies a whole
        # retained window) may add up to as many again before it is delivered.
        return 2 * self._max

    def _top_up(self) -> None:
        if self._done or self._upstream_done:
            return
        room = self._max - self._held - self._queued
        want = room // self._per_item - self._outstanding
        if want >= self._refill or (want > 0 and not self._outstanding):
            self._outstanding += want
            self._up.request(want)
        elif want <= 0 and not self._outstanding and not self._outbox:
            self._fire_earliest_early()

    def _emit(self, items: list[EventWindow[Any, T]], acks: list[Ack] | None) -> None:
        self._queued -= sum(len(w.items) for w in items)
        super()._emit(items, acks)

    # ------------------------------------------------------------ records
    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            return
        self._received += len(items)
        self._outstanding = max(0, self._outstanding - len(items))
        for i, x in enumerate(items):
            ack = None if acks is None else acks[i]
            try:
                ts = float(self._ts(x))
                k = None if self._key is None else self._key(x)
                part = None if self._partition is None else self._partition(x)
            except Exception as exc:
                self._failed += 1
                failure = item_failed(self.name, x, exc)
                fail_at(acks, i, failure)
                self._publish_failed(exc)
                self._fail(failure)
                return
            if not self._place(x, ack, ts, k):
                return
            if ts > self._highest.get(part, -math.inf):
                self._raise_watermark(part, ts)
        self._drain()
        self._top_up()

    def _raise_watermark(self, part: Hashable, ts: float) -> None:
        highest = self._highest
        was_lowest = len(highest) < self._min_parts or highest.get(part, -math.inf) <= min(
            highest.values(), default=-math.inf)
        highest[part] = ts
        if not was_lowest or len(highest) < self._min_parts:
            return  # a partition ahead of the slowest one does not move the watermark
        watermark = min(highest.values()) - self._delay
        if watermark > self._watermark:
            self._watermark = watermark
            self._advance()

    def _place(self, x: T, ack: Ack | None, ts: float, key: Any) -> bool:
        """Put *x* in its windows, or route it as late. False if the stage failed."""
        if isinstance(self._assigner, SessionAssigner):
            return self._place_session(x, ack, ts, key)
        live: list[_Open] = []
        last_end = -math.inf
        for start, end in self._assigner.bounds(ts):
            last_end = end
            if end + self._lateness <= self._watermark:
                continue  # this one is gone; hopping windows may still hold the record
            w = self._fixed.get((key, start))
            if w is None:
                w = _Open(key, start, end)
                self._fixed[(key, start)] = w
                heapq.heappush(self._fire_heap, (end, next(self._seq), w))
            live.append(w)
        if not live:
            return self._late(x, ack, ts, key, last_end)
        last = len(live) - 1
        for j, w in enumerate(live):  # the window that fires last settles the record
            self._join(w, x, ack if j == last else None)
        return True

    def _place_session(self, x: T, ack: Ack | None, ts: float, key: Any) -> bool:
        assert isinstance(self._assigner, SessionAssigner)
        gap = self._assigner.gap
        sessions = self._sessions.setdefault(key, [])
        start, end = ts, ts + gap
        touching = [s for s in sessions if s.start - gap <= ts < s.end]
        for s in touching:
            start, end = min(start, s.start), max(end, s.end)
        if end + self._lateness <= self._watermark:
            if not sessions:
                del self._sessions[key]
            return self._late(x, ack, ts, key, end)
        merged = _Open(key, start, end)
        for s in touching:  # merge in arrival order of the sessions' first members
            merged.items.extend(s.items)
            merged.acks.extend(s.acks)
            merged.fired = merged.fired or s.fired
            merged.pending += s.pending
            s.alive = False
            sessions.remove(s)
        sessions.append(merged)
        heapq.heappush(self._fire_heap, (end, next(self._seq), merged))
        self._join(merged, x, ack)
        return True

    def _join(self, w: _Open, x: T, ack: Ack | None) -> None:
        w.items.append(x)
        w.pending += 1
        self._held += 1
        if ack is not None:
            w.acks.append(ack)
        if w.fired and w.end <= self._watermark:
            self._fire(w)  # within the allowed lateness: fire again, complete

    def _late(self, x: T, ack: Ack | None, ts: float, key: Any, window_end: float) -> bool:
        self.late_records += 1
        if self._on_late == "drop":
            self._dropped += 1
            if ack is not None:
                ack.done()
            self._publish_dropped(1, "late")
            return True
        try:
            self._on_late(x, LateRecord(key, ts, self._watermark, window_end, self._lateness))
        except Exception as exc:
            self._failed += 1
            failure = item_failed(self.name, x, exc)
            if ack is not None:
                ack.fail(failure)
            self._publish_failed(exc)
            self._fail(failure)
            return False
        self._rejected += 1
        if ack is not None:
            ack.done()
        return True

    # ------------------------------------------------------------ firing
    def _advance(self) -> None:
        wm = self._watermark
        heap = self._fire_heap
        while heap and heap[0][0] <= wm:
            end, _, w = heapq.heappop(heap)
            if w.alive and w.end == end and w.pending:
                self._fire(w)
        purge = self._purge_heap
        while purge and purge[0][0] <= wm:
            _, _, w = heapq.heappop(purge)
            self._forget(w)

    def _fire(self, w: _Open, *, early: bool = False) -> None:
        late = w.fired
        w.fired = True
        w.pending = 0
        acks, w.acks = w.acks, []
        window = EventWindow(w.key, w.start, w.end, list(w.items), late=late, early=early)
        self._queued += len(window.items)
        self._outbox.items.append(window)
        self._outbox.acks.append(GroupAck(acks) if acks else None)
        if early or self._lateness <= 0 or w.end + self._lateness <= self._watermark:
            self._forget(w)
        elif not w.scheduled:
            w.scheduled = True
            heapq.heappush(self._purge_heap, (w.end + self._lateness, next(self._seq), w))

    def _forget(self, w: _Open) -> None:
        if not w.alive:
            return
        w.alive = False
        self._held -= len(w.items)
        if isinstance(self._assigner, SessionAssigner):
            sessions = self._sessions.get(w.key)
            if sessions is not None and w in sessions:
                sessions.remove(w)
                if not sessions:
                    del self._sessions[w.key]
        else:
            self._fixed.pop((w.key, w.start), None)
        # Nothing is normally left: a window is forgotten after a firing took its acks.
        acks, w.acks = w.acks, []
        abandon_all(acks)

    def _fire_earliest_early(self) -> None:
        """The bound is reached by windows that cannot fire yet: make room."""
        heap = self._fire_heap
        while heap:
            end, _, w = heapq.heappop(heap)
            if w.alive and w.end == end and w.pending:
                self._fire(w, early=True)
                self._drain()
                self._top_up()
                return
        # Only retained windows hold the room: end their lateness early.
        purge = self._purge_heap
        if purge:
            _, _, w = heapq.heappop(purge)
            self._forget(w)
            self._top_up()

    def on_complete(self) -> None:
        if self._done:
            return
        self._watermark = math.inf  # the end of input passes every window
        self._advance()
        super().on_complete()

    # ------------------------------------------------------------ early ends
    def _on_cancel(self) -> None:
        self._release()

    def _on_terminate(self) -> None:
        self._release()
        super()._on_terminate()

    def _release(self) -> None:
        open_windows = [*self._fixed.values(), *(s for ss in self._sessions.values() for s in ss)]
        for w in open_windows:
            acks, w.acks = w.acks, []
            abandon_all(acks)
            w.alive = False
        self._fixed.clear()
        self._sessions.clear()
        self._fire_heap.clear()
        self._purge_heap.clear()
        abandon_all(list(self._outbox.acks))
        self._outbox.items.clear()
        self._outbox.acks.clear()
        self._held = self._queued = 0
