"""The registry of every stage and source that the contract tests run over.

Two test modules run over it: ``test_rules.py`` (the Reactive Streams rules that apply to
one asyncio thread: 1.1, 1.7, 2.4, 3.5, 3.6, 3.9, 3.12, 3.13, 3.17) and ``test_acks.py`` (a
hypothesis property: random pipelines, random demand, cancellation at random points — every
ack handed out settles exactly once, as done, failed or abandoned).

How to add your stage or source (one case per behaviour you want covered):

1. Create ``tests/contracts/cases_<area>.py`` (your own file: nobody else edits it, so no
   merge conflicts). The registry imports every ``cases_*.py`` module in this folder.
2. In it, call :func:`stage` or :func:`source` once per case::

       from tests.contracts.registry import source, stage

       stage("rate_limit", lambda: rate_limit(RateLimiter("free", TokenBucket(rate=1e9,
             burst=1e9))), random=True)
       stage("guarded_sink", lambda: guarded_sink(deliver, concurrency=4), sink=True)

   A **stage case** is a factory of a fresh operator that, fed the integers ``0 .. n-1``,
   emits ``expect(list)`` (default: the same items, in order unless ``ordered=False``).
   ``sink=True``: the operator ends the pipeline (emits nothing, creates its own demand).
   ``random=True``: it may be stacked with others in the random pipelines of the ack
   property test (it must keep every item it is given, lossless, and need no clock).
   ``marks``: pytest marks for every test of the case (e.g. ``pytest.mark.slow``).

   A **source case** is an *async context manager* factory ``open(n, ack)`` yielding a
   stream of ``0 .. n-1``; ``ack`` is ``None`` or a factory ``(item) -> Ack`` the source
   must attach to each item (``acks=False`` if the source cannot carry acks). Use
   :func:`simple_source` when no setup or cleanup is needed. A Kafka case produces ``n``
   records to a fresh topic in its context manager, and mark it ``pytest.mark.kafka`` so
   it runs with the broker fixtures.
3. Run ``python -m pytest tests/contracts -q`` and fix what fails in your stage, not here.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamguard.core import Ack, Operator, Stream

AckFactory = Callable[[Any], Ack]
OpenSource = Callable[[int, AckFactory | None], contextlib.AbstractAsyncContextManager[Stream[Any]]]


def _same(items: list[int]) -> list[Any]:
    return items


@dataclass(frozen=True)
class StageCase:
    """One stage under contract (see the module docstring)."""

    name: str
    make: Callable[[], Operator[Any, Any]]
    expect: Callable[[list[int]], list[Any]] = _same
    ordered: bool = True
    sink: bool = False
    random: bool = False
    marks: tuple[Any, ...] = field(default=())


@dataclass(frozen=True)
class SourceCase:
    """One source under contract (see the module docstring)."""

    name: str
    open: OpenSource
    acks: bool = True
    marks: tuple[Any, ...] = field(default=())


STAGES: dict[str, StageCase] = {}
SOURCES: dict[str, SourceCase] = {}


def stage(name: str, make: Callable[[], Operator[Any, Any]], **options: Any) -> StageCase:
    """Register a stage case; *options* are the fields of :class:`StageCase`."""
    if name in STAGES:
        raise ValueError(f"stage case {name!r} is registered twice")
    case = StageCase(name, make, **options)
    STAGES[name] = case
    return case


def source(name: str, open: OpenSource, **options: Any) -> SourceCase:
    """Register a source case; *options* are the fields of :class:`SourceCase`."""
    if name in SOURCES:
        raise ValueError(f"source case {name!r} is registered twice")
    case = SourceCase(name, open, **options)
    SOURCES[name] = case
    return case


def simple_source(make: Callable[[int, AckFactory | None], Stream[Any]]) -> OpenSource:
    """An ``open`` for a source that needs no setup or cleanup."""

    @contextlib.asynccontextmanager
    async def open_(n: int, ack: AckFactory | None) -> AsyncIterator[Stream[Any]]:
        yield make(n, ack)

    return open_


def _discover() -> None:
    here = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if info.name.startswith("cases_"):
            importlib.import_module(f"{__package__}.{info.name}")


_discover()
