"""A bound on a partition's completed-but-uncommittable gap: back pressure from the offset map.

Each commit carries, in its metadata, the offsets above the committed one that completed
already (:mod:`._offset_map`), so a restart skips them. While one record does not complete
and those after it do, that set grows; once its encoding no longer fits the metadata limit
only a prefix of it is kept, and a crash delivers the rest again — a replay without bound.
Confluent's Parallel Consumer stops taking new work from a partition whose encoded offset
map passes 75 % of the limit until it shrinks again; so does this module:

* at each chunk the source hands out, :class:`GapBound` answers how far the partition may
  go. Cheaply first: every pattern of completions within :func:`~._offset_map.guaranteed_span`
  of the *budget* (75 % of the limit: 18,304 offsets at 4,096 characters) fits it, so a
  partition whose open records lie that close above its lowest incomplete one measures
  nothing. Beyond that window the set a commit would write is measured with the real
  encoder, and the partition may hand out as many offsets again as the room left allows at
  one byte each (an offset adds at most a run of one, a one-byte varint) before it is
  measured again;
* a partition with less room than a sixteenth of the budget is *held*: its records stay
  buffered (its backlog then pauses its fetching, as any backlog does) while the other
  partitions go on. It is measured again when its lowest incomplete offset moved, or once
  completions behind that offset settled half of what it had in flight; it is released when
  there is room again for a quarter of the budget in offsets (within the window, or by
  measure);
* only while some of its records are in flight: holes nobody fills — the commit markers of
  a topic written in transactions, among the completed offsets read at assignment — close
  only when records beyond them complete, so a partition with nothing in flight goes on
  (and, were it held, is released).

:class:`GapBound` is pure (offsets and measures in, decisions out); :class:`GapGate` applies
it to a source's partitions, counts the holds and publishes
:class:`~._events.PartitionGapHeld` / :class:`~._events.PartitionGapReleased`.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from operator import attrgetter
from typing import NamedTuple

from streamguard.core._clock import SYSTEM_CLOCK, Clock
from streamguard.core._errors import require

from ._commits import commit_point
from ._context import SourceContext
from ._events import PartitionGapHeld, PartitionGapReleased
from ._offset_map import encoded_length, guaranteed_span
from ._partition import PartitionState, Poison
from ._types import TP

_log = logging.getLogger("streamguard.kafka")
_offset = attrgetter("offset")

FILL = 0.75
"""The share of the metadata limit a partition's completed set may fill (Parallel Consumer's
``USED_PAYLOAD_THRESHOLD_MULTIPLIER`` default): the rest is room for what is in flight."""
_HOLD = 16  # held with room for fewer than budget / _HOLD offsets ...
_RELEASE = 4  # ... released with room for budget / _RELEASE offsets (hysteresis)


class Measure(NamedTuple):
    """What a commit of a partition would write now."""

    offset: int  # the committed offset: the lowest incomplete one
    size: int  # characters its completed set needs (:func:`~._offset_map.encoded_length`)
    open: int  # records handed out and not settled yet


@dataclass(slots=True)
class GapHold:
    """A partition held at the bound: *span* offsets above *offset* were handed out, and
    their completed set needs *size* characters."""

    tp: TP
    offset: int
    span: int
    size: int
    since: float
    wait: int  # completions behind the offset to see before measuring again
    seen: int = 0
    due: bool = False


class GapBound:
    """How far each partition may hand records out (see the module docstring).

    Args:
        limit: the metadata limit in characters (``completed_metadata_limit``).
        clock: when holds begin and end.
        fill: the share of *limit* the completed set may fill (default :data:`FILL`).
    """

    def __init__(self, limit: int, clock: Clock = SYSTEM_CLOCK, fill: float = FILL) -> None:
        require(isinstance(limit, int) and limit >= 64, "limit must be >= 64 characters", limit)
        require(0 < fill <= 1, "fill must be > 0 and <= 1", fill)
        self.limit = limit
        self.budget = int(limit * fill)
        self.free_span = guaranteed_span(self.budget)
        self._clock = clock
        self._top: dict[TP, int] = {}  # the highest offset handed out
        self._clear: dict[TP, int] = {}  # may hand out up to here without measuring again
        self._held: dict[TP, GapHold] = {}
        self.holds = 0

    def admit(self, tp: TP, base: int, first: int, last: int, beyond: int,
              measure: Callable[[], Measure]) -> int:
        """The highest offset of *tp* that may be handed out now, for a chunk *first*..*last*.

        *base* is the lowest offset that may still be incomplete, *beyond* the end of the
        completed ranges read at assignment (-1: none); *measure* is called only when the
        cheap answer does not do. An answer below *first* means *tp* is held (:meth:`held`).
        """
        if self.within(tp, last):
            return last
        if tp in self._held:
            return first - 1
        free = self._free(base, beyond)
        if last <= free:
            self._clear[tp] = free
            self._top[tp] = last
            return last
        top = self._top.get(tp, first - 1)
        m = measure()
        room = self._room(m)
        # Offsets up to *beyond* are in the measured set already: only those above cost room.
        reach = max(top, beyond)
        clear = max(free, reach + room if room >= self.budget // _HOLD else top)
        if clear >= first:
            self._clear[tp] = clear
            self._top[tp] = up_to = min(last, clear)
            return up_to
        if not m.open:  # nothing in flight: waiting cannot close the gap, only going on can
            self._top[tp] = last
            return last
        self._clear[tp] = -1
        self._held[tp] = GapHold(tp, m.offset, top + 1 - m.offset, m.size, self._clock.now(),
                                 wait=max(1, m.open // 2))
        self.holds += 1
        return first - 1

    def within(self, tp: TP, last: int) -> bool:
        """True (and handed out) if *tp* may go up to *last* without a look at its base:
        the common case, one lookup (``-1`` while held)."""
        if last <= self._clear.get(tp, -1):
            self._top[tp] = last
            return True
        return False

    def moved(self, tp: TP) -> None:
        """*tp*'s lowest incomplete offset moved: measure it again if it is held."""
        hold = self._held.get(tp)
        if hold is not None:
            hold.due = True

    def settled(self, tp: TP, n: int) -> None:
        """*n* records of *tp* completed behind its lowest incomplete one."""
        hold = self._held.get(tp)
        if hold is not None:
            hold.seen += n
            hold.due = hold.due or hold.seen >= hold.wait

    def due(self) -> list[TP]:
        """The held partitions to measure again."""
        if not self._held:
            return []
        return [tp for tp, hold in self._held.items() if hold.due]

    def recheck(self, tp: TP, base: int, beyond: int,
                measure: Callable[[], Measure]) -> GapHold | None:
        """Measure held *tp* again; its hold if that released it, else ``None``."""
        hold = self._held[tp]
        hold.due = False
        top = self._top.get(tp, base - 1)
        free = self._free(base, beyond)
        if top + self.budget // _RELEASE > free:  # the window alone leaves too little room
            m = measure()
            room = self._room(m)
            if room < self.budget // _RELEASE and m.open:
                hold.offset, hold.span, hold.size = m.offset, top + 1 - m.offset, m.size
                hold.seen, hold.wait = 0, max(1, m.open // 2)
                return None
            free = max(free, top + room)
        self._clear[tp] = free
        del self._held[tp]
        return hold

    def held(self, tp: TP) -> GapHold | None:
        """*tp*'s hold, if it is held."""
        return self._held.get(tp)

    @property
    def held_now(self) -> frozenset[TP]:
        """The partitions held now."""
        return frozenset(self._held)

    def forget(self, tp: TP) -> None:
        """*tp* was revoked or assigned anew: start over."""
        self._top.pop(tp, None)
        self._clear.pop(tp, None)
        self._held.pop(tp, None)

    def _free(self, base: int, beyond: int) -> int:
        """The highest offset that any pattern of completions from *base* fits up to."""
        free = base + self.free_span - 1
        return free if beyond <= free else -1  # ranges read at assignment reach further

    def _room(self, m: Measure) -> int:
        """Offsets that may still be handed out, at most 4/3 characters (a byte) each."""
        return max(0, (self.budget - m.size) * 3 // 4)


def gap_gate(ctx: SourceContext) -> GapGate | None:
    """The gate of a source that commits completed offsets in metadata (else ``None``:
    nothing to bound) and keeps ``completed_metadata_bound`` on."""
    cfg = ctx.config
    if cfg.completed_metadata and cfg.completed_metadata_bound and cfg.group_id:
        return GapGate(ctx)
    return None


class GapGate:
    """Applies a source's :class:`GapBound` to its partitions: asks it at each chunk, holds
    and releases partitions, and says so on the bus."""

    def __init__(self, ctx: SourceContext) -> None:
        self._ctx = ctx
        self.bound = GapBound(ctx.config.completed_metadata_limit, ctx.clock)
        self._owner: dict[TP, partial[Measure]] = {}  # measure(part) of the part we know
        self.wake: Callable[[], None] = _nothing  # the pump's: emit what is ready

    def admit(self, part: PartitionState, want: int) -> int:
        """How many of the (at most *want*) records at the head of *part*'s buffer may be
        handed out now; 0: *part* is held."""
        tp = part.tp
        measure = self._owner.get(tp)
        if measure is None or measure.args[0] is not part:
            self.bound.forget(tp)
            measure = self._owner[tp] = partial(_measure, part)
        head = part.buffer[0]
        records = [head.record] if isinstance(head, Poison) else head[0]
        n = min(want, len(records))
        last = records[n - 1].offset
        if self.bound.within(tp, last):
            return n
        first = records[0].offset
        base = part.tracker.first_open
        up_to = self.bound.admit(tp, first if base is None else base, first, last,
                                 _beyond(part), measure)
        if up_to >= last:
            return n
        if up_to >= first:
            return bisect_right(records, up_to, hi=n, key=_offset)
        self._report_hold(part)
        return 0

    def moved(self, part: PartitionState) -> None:
        """*part*'s lowest incomplete offset moved."""
        if self._knows(part):
            self.bound.moved(part.tp)

    def settled(self, part: PartitionState, n: int) -> None:
        """*n* records of *part* completed behind its lowest incomplete one."""
        if self._knows(part):
            self.bound.settled(part.tp, n)

    def recheck(self) -> None:
        """Measure the held partitions that are due again; release those that fit."""
        ctx = self._ctx
        if len(self._owner) > len(ctx.parts):  # revoked: let their state go
            for tp in [tp for tp, m in self._owner.items() if ctx.parts.get(tp) is not m.args[0]]:
                del self._owner[tp]
                self.bound.forget(tp)
        for tp in self.bound.due():
            if self.bound.held(tp) is None:  # forgotten while an earlier one was released
                continue
            part = ctx.parts.get(tp)
            if part is None or not self._knows(part) or part.tracker.dead:
                self.bound.forget(tp)
                continue
            base = part.tracker.first_open
            hold = self.bound.recheck(tp, _base_of(part) if base is None else base,
                                      _beyond(part), self._owner[tp])
            if hold is not None:
                self._report_release(part, hold)

    @property
    def held(self) -> int:
        """Partitions of the source held now."""
        parts = self._ctx.parts
        return sum(1 for tp in self.bound.held_now if tp in parts and self._knows(parts[tp]))

    def _knows(self, part: PartitionState) -> bool:
        measure = self._owner.get(part.tp)
        return measure is not None and measure.args[0] is part

    def _report_hold(self, part: PartitionState) -> None:
        ctx, tp = self._ctx, part.tp
        hold = self.bound.held(tp)
        assert hold is not None
        _log.warning(
            "source %r: %s/%d holds its records: %d offsets above offset %d, which has not "
            "completed, were handed out and the completed ones need %d of the %d characters "
            "of commit metadata; the partition goes on once offset %d completes",
            ctx.name, tp.topic, tp.partition, hold.span, hold.offset, hold.size,
            self.bound.limit, hold.offset)
        ctx.publish(PartitionGapHeld(
            source=ctx.name, topic=tp.topic, partition=tp.partition, offset=hold.offset,
            span=hold.span, size=hold.size, limit=self.bound.limit))

    def _report_release(self, part: PartitionState, hold: GapHold) -> None:
        ctx, tp = self._ctx, part.tp
        held_for = ctx.clock.now() - hold.since
        _log.info("source %r: %s/%d goes on after %.1f s held at offset %d", ctx.name,
                  tp.topic, tp.partition, held_for, hold.offset)
        ctx.publish(PartitionGapReleased(source=ctx.name, topic=tp.topic,
                                         partition=tp.partition, held_for=held_for))
        if part.buffered and not part.in_ready:
            part.in_ready = True
            ctx.ready.append(part)
        self.wake()


def _measure(part: PartitionState) -> Measure:
    """What a commit of *part* would write now (read from its acks' state bytes)."""
    tracker = part.tracker
    tracker.sync()
    point = commit_point(part, tracker.committable)
    if point is None:
        return Measure(_base_of(part), 0, tracker.pending_records)
    offset, done = point
    return Measure(offset, encoded_length(offset, done), tracker.pending_records)


def _base_of(part: PartitionState) -> int:
    """The lowest offset of *part* that may be incomplete when nothing is open."""
    tracker = part.tracker
    for offset in (tracker.committable, tracker.committed, part.start):
        if offset is not None:
            return offset
    return 0


def _beyond(part: PartitionState) -> int:
    return part.skip[-1][1] - 1 if part.skip else -1


def _nothing() -> None:
    pass
