"""Contract cases of the fan-in, fan-out, nesting and recovery operators (#12)."""

from __future__ import annotations

import itertools
from typing import Any

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core import Stream
from streamguard.retry import Retry

from .registry import stage


def _single(x: Any) -> Stream[Any]:
    return from_iterable([x])


OFFSET = 1_000_000


def _pair(x: int) -> Stream[int]:
    return from_iterable([x, x + OFFSET])


def _shifted(s: Stream[int]) -> Stream[int]:
    return s.pipe(op.map(_shift))


def _shift(x: int) -> int:
    return x + OFFSET


def _same(s: Stream[Any]) -> Stream[Any]:
    return s


def _mod(k: int) -> Any:
    return lambda x: x % k


def _first(t: tuple[Any, ...]) -> Any:
    return t[0]


def _doubled(items: list[int]) -> list[Any]:
    return [y for x in items for y in (x, x + OFFSET)]


stage("flat_map", lambda: op.flat_map(_single, concurrency=3, prefetch=2), ordered=False,
      random=True)
stage("flat_map_pairs", lambda: op.flat_map(_pair, concurrency=2), expect=_doubled,
      ordered=False)
stage("concat_map", lambda: op.concat_map(_single, prefetch=2), random=True)
stage("merge", lambda: lambda s: op.merge(s, from_iterable([]), prefetch=4), random=True)
stage("concat", lambda: lambda s: op.concat(s, from_iterable([])), random=True)
stage("zip", lambda: lambda s: op.zip(s, from_iterable(itertools.count()), prefetch=3).pipe(
    op.map(_first)), random=True)
stage("broadcast", lambda: op.broadcast(_same, buffer=2), random=True)
stage("broadcast_two", lambda: op.broadcast(_same, _shifted), expect=_doubled, ordered=False)
stage("partition", lambda: op.partition(_mod(2), _same, _same, buffer=1), ordered=False,
      random=True)
stage("group_by", lambda: lambda s: s.pipe(op.group_by(_mod(3), buffer=8),
                                            op.flat_map(_same, concurrency=3)),
      ordered=False, random=True)
stage("on_error_resume", lambda: op.on_error_resume(lambda e: from_iterable([])), random=True)
stage("retry", lambda: op.retry(Retry("contract")), random=True)
