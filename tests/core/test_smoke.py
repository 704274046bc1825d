"""The smallest end-to-end checks of the core."""

from __future__ import annotations

from streamguard import from_iterable
from streamguard import operators as op


async def test_map_filter_to_list() -> None:
    result = await from_iterable(range(10)).pipe(
        op.map(lambda x: x * 2), op.filter(lambda x: x % 3 == 0)
    ).to_list()
    assert result == [0, 6, 12, 18]
