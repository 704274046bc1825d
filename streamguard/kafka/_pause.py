"""Which partitions should be paused, and why: the pause state that streamguard owns.

The pause state lives here, as *reasons* per partition (the pump applies it by leaving paused
partitions out of its ``getmany``, see :mod:`._flow`; aiokafka's own pause flags are not
used, and would be forgotten at each rebalance anyway):

* ``backlog`` — set when the partition's backlog (records fetched and not yet completed)
  reaches the high mark, cleared when it falls to the low mark (hysteresis, so a partition
  does not flap around one threshold);
* ``breaker`` — a circuit breaker downstream is open;
* ``user`` — paused by hand.

Reasons set for all partitions (``breaker``, a user's pause-all) also apply to partitions
assigned later. ``min_pause`` can hold a partition paused for a while once paused, against
flapping; by default it is 0: the high/low hysteresis already keeps a partition from
flapping around one mark, and a pause costs nothing to undo.

The controller is pure: the source feeds it backlogs and assignments, asks :meth:`plan` what
to change, and applies exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from streamguard.core._clock import SYSTEM_CLOCK, Clock
from streamguard.core._errors import require

from ._types import TP


class PauseReason(StrEnum):
    """Why a partition is paused."""

    BACKLOG = "backlog"
    BREAKER = "breaker"
    USER = "user"


@dataclass(frozen=True, kw_only=True, slots=True)
class FlowControl:
    """Per-partition flow control of the Kafka source.

    Attributes:
        high_mark: pause a partition when this many of its records are fetched and not yet
            completed (default 2,000: four polls of aiokafka's default ``max_records`` of 500).
        low_mark: resume it when its backlog has fallen to this many (default 500).
        high_bytes: also pause when the backlog holds this many value bytes (default 16 MiB;
            ``None`` to count records only).
        low_bytes: resume once the bytes have fallen to this (default a quarter of high_bytes).
        min_pause: seconds a partition stays paused at least, against flapping (default 0:
            the marks' hysteresis suffices; holding a drained partition paused starves the
            pipeline).
    """

    high_mark: int = 2000
    low_mark: int = 500
    high_bytes: int | None = 16 * 1024 * 1024
    low_bytes: int | None = None
    min_pause: float = 0.0

    def __post_init__(self) -> None:
        require(self.high_mark >= 1, "high_mark must be >= 1", self.high_mark)
        require(0 <= self.low_mark < self.high_mark,
                f"low_mark must be >= 0 and < high_mark={self.high_mark}", self.low_mark)
        require(self.high_bytes is None or self.high_bytes >= 1,
                "high_bytes must be >= 1 or None", self.high_bytes)
        require(self.low_bytes is None or self.high_bytes is not None,
                "low_bytes needs high_bytes", self.low_bytes)
        require(self.low_bytes is None or 0 <= self.low_bytes < (self.high_bytes or 0),
                f"low_bytes must be >= 0 and < high_bytes={self.high_bytes}", self.low_bytes)
        require(self.min_pause >= 0, "min_pause must be >= 0 seconds", self.min_pause)

    @property
    def resume_bytes(self) -> int | None:
        """The byte level at which a partition paused for bytes resumes."""
        if self.high_bytes is None:
            return None
        return self.low_bytes if self.low_bytes is not None else self.high_bytes // 4


@dataclass(frozen=True, slots=True)
class PauseChange:
    """One change to apply to the fetching: pause or resume *tp*.

    *reasons* are the reasons in force (empty on resume); *paused_for* is how long the
    partition was paused (on resume); *again* marks an already paused partition that gained
    a reason (nothing to change in the fetching).
    """

    tp: TP
    paused: bool
    reasons: frozenset[PauseReason]
    paused_for: float = 0.0
    again: bool = False


class PauseController:
    """The wanted pause state of every assigned partition; see the module docstring."""

    def __init__(self, config: FlowControl | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config or FlowControl()
        self._clock = clock
        self._assigned: set[TP] = set()
        self._reasons: dict[TP, set[PauseReason]] = {}
        self._global: set[PauseReason] = set()
        self._paused_at: dict[TP, float] = {}  # what is applied to the fetching
        self._applied: dict[TP, frozenset[PauseReason]] = {}  # the reasons last reported
        self._dirty = False  # reasons or assignment changed since the last plan()

    # ------------------------------------------------------------------ inputs
    def assign(self, tps: set[TP] | frozenset[TP]) -> None:
        """*tps* are now assigned: the pause of each is planned, and announced, anew."""
        for tp in tps - self._assigned:
            self._reasons.get(tp, set()).discard(PauseReason.BACKLOG)
        self._assigned = set(tps)
        self._paused_at.clear()
        self._applied.clear()
        self._dirty = True

    def revoke(self, tps: set[TP] | frozenset[TP]) -> None:
        """*tps* are no longer assigned; their backlog is gone, user pauses are kept."""
        for tp in tps:
            self._assigned.discard(tp)
            self._paused_at.pop(tp, None)
            self._applied.pop(tp, None)
            reasons = self._reasons.get(tp)
            if reasons is not None:
                reasons.discard(PauseReason.BACKLOG)
        self._dirty = True

    def backlog(self, tp: TP, records: int, nbytes: int = 0) -> bool:
        """Record *tp*'s backlog; sets or clears the ``backlog`` reason with hysteresis.
        Returns True if that changed the reasons."""
        cfg = self.config
        reasons = self._reasons.setdefault(tp, set())
        over = records >= cfg.high_mark or (cfg.high_bytes is not None and nbytes >= cfg.high_bytes)
        if over:
            if PauseReason.BACKLOG in reasons:
                return False
            reasons.add(PauseReason.BACKLOG)
            self._dirty = True
            return True
        if PauseReason.BACKLOG in reasons:
            low_bytes = cfg.resume_bytes
            if records <= cfg.low_mark and (low_bytes is None or nbytes <= low_bytes):
                reasons.discard(PauseReason.BACKLOG)
                self._dirty = True
                return True
        return False

    def pause(self, reason: PauseReason, tps: set[TP] | frozenset[TP] | None = None) -> None:
        """Add *reason* for *tps*, or for every partition, present and future, if ``None``."""
        self._dirty = True
        if tps is None:
            self._global.add(reason)
            return
        for tp in tps:
            self._reasons.setdefault(tp, set()).add(reason)

    def resume(self, reason: PauseReason, tps: set[TP] | frozenset[TP] | None = None) -> None:
        """Remove *reason* for *tps*, or everywhere (also the all-partitions one) if ``None``."""
        self._dirty = True
        if tps is None:
            self._global.discard(reason)
            for reasons in self._reasons.values():
                reasons.discard(reason)
            return
        for tp in tps:
            self._reasons.get(tp, set()).discard(reason)

    # ------------------------------------------------------------------ outputs
    def reasons(self, tp: TP) -> frozenset[PauseReason]:
        """The reasons *tp* should be paused for (empty: it should run)."""
        return frozenset(self._reasons.get(tp, ())) | self._global

    def is_paused(self, tp: TP) -> bool:
        """True if *tp* is paused (as far as this controller applied it)."""
        return tp in self._paused_at

    @property
    def paused(self) -> frozenset[TP]:
        """The partitions paused (left out of the fetching)."""
        return frozenset(self._paused_at)

    @property
    def assigned(self) -> frozenset[TP]:
        """The partitions currently assigned."""
        return frozenset(self._assigned)

    def plan(self) -> list[PauseChange]:
        """What to change now; the changes count as applied once returned.

        A paused partition that gains a reason (a breaker opens while its backlog already
        held it) is reported again, with ``again=True``, so the new reason shows."""
        if not self._dirty and not self._paused_at:
            return []  # the common case, kept cheap: nothing paused, nothing changed
        now = self._clock.now()
        changes: list[PauseChange] = []
        holding = False
        for tp in sorted(self._assigned):
            reasons = self.reasons(tp)
            since = self._paused_at.get(tp)
            if reasons and since is None:
                self._paused_at[tp] = now
                self._applied[tp] = reasons
                changes.append(PauseChange(tp, True, reasons))
            elif reasons and reasons != self._applied.get(tp):
                gained = not reasons <= self._applied.get(tp, frozenset())
                self._applied[tp] = reasons
                if gained:
                    changes.append(PauseChange(tp, True, reasons, again=True))
            elif not reasons and since is not None:
                if now - since >= self.config.min_pause:
                    del self._paused_at[tp]
                    self._applied.pop(tp, None)
                    changes.append(PauseChange(tp, False, frozenset(), now - since))
                else:
                    holding = True
        self._dirty = holding
        return changes

    def next_resume_at(self) -> float | None:
        """When a partition held only by ``min_pause`` may resume (``None``: none waits)."""
        times = [since + self.config.min_pause for tp, since in self._paused_at.items()
                 if not self.reasons(tp)]
        return min(times) if times else None
