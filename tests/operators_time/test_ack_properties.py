"""Ack properties over random pipelines of this package's operators, random demand, random
chunking and cancellation at random points (hypothesis):

* no stage ever emits more than was requested of it;
* every ack is settled at most once — and, once the pipeline ended (completed or
  cancelled), exactly once: done, failed, or abandoned (not processed);
* a pipeline that completes abandons nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core import Operator
from streamguard.testing import TestSubscriber, VirtualClock, check_demand

from ._publishers import STAGES, as_int

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Ledger:
    """Acks that count every way they are settled."""

    def __init__(self) -> None:
        self.settled: Counter[Hashable] = Counter()
        self.abandoned: Counter[Hashable] = Counter()
        self.issued: list[Hashable] = []

    def ack(self, key: Hashable) -> _LedgerAck:
        self.issued.append(key)
        return _LedgerAck(self, key)


class _LedgerAck:
    __slots__ = ("key", "ledger")

    def __init__(self, ledger: Ledger, key: Hashable) -> None:
        self.ledger = ledger
        self.key = key

    def done(self) -> None:
        self.ledger.settled[self.key] += 1

    def fail(self, error: BaseException) -> None:
        self.ledger.settled[self.key] += 1

    def abandon(self) -> None:
        self.ledger.settled[self.key] += 1
        self.ledger.abandoned[self.key] += 1


@SETTINGS
@given(
    n=st.integers(0, 80),
    names=st.lists(st.sampled_from(sorted(STAGES)), min_size=1, max_size=3),
    demands=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    cancel_after=st.one_of(st.none(), st.integers(0, 30)),
    chunk=st.integers(1, 16),
)
async def test_every_ack_settles_exactly_once(
    n: int, names: list[str], demands: list[int], cancel_after: int | None, chunk: int,
) -> None:
    clock = VirtualClock()
    ledger = Ledger()
    ops: list[Operator[Any, Any]] = []
    for i, name in enumerate(names):
        for stage in STAGES[name](clock):
            ops += [stage, check_demand(f"{i}:{name}")]
        ops.append(op.map(as_int))
    sub: TestSubscriber[Any] = TestSubscriber()
    from_iterable(range(n), ack=ledger.ack, chunk_size=chunk).pipe(*ops).subscribe(sub)
    steps = 0
    while not sub.terminated:
        if cancel_after is not None and steps == cancel_after:
            sub.cancel()
            break
        if sub.outstanding == 0:
            sub.request(demands[steps % len(demands)])
        await clock.advance(0.01, settle=3)
        steps += 1
        assert steps < 5_000, "pipeline did not finish"
    await clock.advance(0.01)

    assert sub.violations == []
    assert sub.errors == [], sub.errors
    assert all(v == 1 for v in ledger.settled.values()), ledger.settled
    assert set(ledger.settled) == set(ledger.issued)
    if sub.completions:
        assert not ledger.abandoned
    assert clock.pending_timers == 0
