"""Contract cases of the self-healing loop: ``map_async`` under an adaptive limit, and
``shed`` with one priority (lossless: a backpressured buffer) and with two (never binding
here: items do not wait long enough to be shed)."""

from __future__ import annotations

from streamguard import operators as op
from streamguard.adaptive import AIMD, AdaptiveLimit, Vegas, shed
from streamguard.core import EventBus

from .registry import stage


async def _echo(item: int) -> int:
    return item


def _one(_item: int) -> int:
    return 0


def _parity(item: int) -> int:
    return item % 2


stage("map_async adaptive AIMD", lambda: op.map_async(
    _echo, concurrency=AdaptiveLimit("contract-aimd", AIMD(initial=2), bus=EventBus())),
    random=True)
stage("map_async adaptive Vegas unordered", lambda: op.map_async(
    _echo, concurrency=AdaptiveLimit("contract-vegas", Vegas(initial=3), bus=EventBus()),
    ordered=False), ordered=False, random=True)
stage("shed one priority", lambda: shed(_one, capacity=16), random=True)
stage("shed two priorities", lambda: shed(_parity, target=60.0, capacity=16),
      ordered=False)
