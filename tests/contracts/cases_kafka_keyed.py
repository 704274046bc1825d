"""Contract cases of key-ordered parallelism (#13): ``map_async`` and the async ``sink`` with
``key=`` — many keys (results leave as they finish), one key (then everything is in order)
and a tight per-key bound (``max_per_key=1``, demand one at a time for the fullest key)."""

from __future__ import annotations

import asyncio

from streamguard import operators as op

from .registry import stage


async def _echo(item: int) -> int:
    await asyncio.sleep(0)
    return item


async def _drop(item: int) -> None:
    await asyncio.sleep(0)


def _mod7(item: int) -> int:
    return item % 7


def _one(_item: int) -> int:
    return 0


stage("map_async key=item%7", lambda: op.map_async(
    _echo, concurrency=4, ordered=False, key=_mod7), ordered=False, random=True)
stage("map_async one key (in order)", lambda: op.map_async(
    _echo, concurrency=4, ordered=False, key=_one), random=True)
stage("map_async key max_per_key=1", lambda: op.map_async(
    _echo, concurrency=3, ordered=False, key=_mod7, max_per_key=1), ordered=False,
    random=True)
stage("sink key=item%7", lambda: op.sink(_drop, concurrency=4, key=_mod7), sink=True)
