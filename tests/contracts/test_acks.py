"""Every ack settles exactly once, on every ending — a hypothesis property over random
pipelines built from the registry (see ``registry.py`` to add your stage or source).

A pipeline is a registered source with acks, a few registered ``random=True`` stages, and an
optional end (``take(k)``, ``batch``, a sink). It is driven with random demand and random
pauses, and cancelled at a random point (or run to its end). After the pipeline's tasks are
closed, every ack the source handed out has settled exactly once — done, failed or
abandoned — and a lossless pipeline run to its end completed every item with ``done()``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamguard import operators as op
from streamguard.core import Operator
from streamguard.core._runtime import Runtime, activate
from streamguard.testing import AckRecorder, TestSubscriber, check_demand

from . import registry

SOURCES = sorted(name for name, c in registry.SOURCES.items() if c.acks and not c.marks)
MIDDLE = sorted(name for name, c in registry.STAGES.items() if c.random and not c.marks)
ENDS = [*sorted(name for name, c in registry.STAGES.items() if not c.random and not c.marks),
        "take_k", "none"]

SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


async def _drive(sub: TestSubscriber[Any], demands: list[int], pauses: list[int],
                 cancel_at: int | None) -> bool:
    """Request and pause until the end; cancel at step *cancel_at*. True if cancelled."""
    for step in range(20_000):
        if sub.terminated:
            return False
        if cancel_at is not None and step == cancel_at:
            sub.cancel()
            return True
        if sub.outstanding == 0:
            sub.request(demands[step % len(demands)])
        for _ in range(pauses[step % len(pauses)] + 1):
            await asyncio.sleep(0)
    raise AssertionError("pipeline did not finish")


@SETTINGS
@given(
    data=st.data(),
    n=st.integers(0, 120),
    source=st.sampled_from(SOURCES),
    middle=st.lists(st.sampled_from(MIDDLE), max_size=4),
    end=st.sampled_from(ENDS),
    demands=st.lists(st.integers(1, 40), min_size=1, max_size=4),
    pauses=st.lists(st.integers(0, 3), min_size=1, max_size=4),
    cancel_at=st.none() | st.integers(0, 60),
)
async def test_every_ack_settles_exactly_once(
    data: st.DataObject, n: int, source: str, middle: list[str], end: str,
    demands: list[int], pauses: list[int], cancel_at: int | None,
) -> None:
    rec = AckRecorder()
    ops: list[Operator[Any, Any]] = []
    for i, name in enumerate(middle):
        ops += [registry.STAGES[name].make(), check_demand(f"{i}:{name}")]
    out: list[Any] = list(range(n))
    for name in middle:  # what reaches the end (a stage may drop or expand items)
        out = registry.STAGES[name].expect(out)
    lossless = True  # every item is processed: done (dropped items too) or failed
    if end == "take_k":
        k = data.draw(st.integers(0, 130), label="k")
        ops.append(op.take(k))
        lossless = k >= len(out)
    elif end != "none":
        ops.append(registry.STAGES[end].make())
    sub: TestSubscriber[Any] = TestSubscriber()
    rt = Runtime("acks")
    async with registry.SOURCES[source].open(n, rec.ack) as stream:
        with activate(rt):
            stream.pipe(*ops).subscribe(sub)
        cancelled = await _drive(sub, demands, pauses, cancel_at)
        for _ in range(10):
            await asyncio.sleep(0)
        await rt.aclose()
        for _ in range(10):
            await asyncio.sleep(0)
    assert sub.violations == []
    assert sub.errors == []
    assert rec.settled_exactly_once(), rec.describe()
    if not cancelled:
        assert not rec.abandoned or not lossless, rec.describe()
        if lossless:
            assert rec.completed_exactly_once(range(n)), rec.describe()
