"""The smallest end-to-end checks of the core."""

from __future__ import annotations

from streamguard import from_iterable
from streamguard import operators as op


def _double(x: int) -> int:
    return x * 2


def _div3(x: int) -> bool:
    return x % 3 == 0


async def test_map_filter_to_list() -> None:
    result = await from_iterable(range(10)).pipe(
        op.map(_double), op.filter(_div3)
    ).to_list()
    assert result == [0, 6, 12, 18]
