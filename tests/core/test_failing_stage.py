"""An error callback knows which stage calls it (``failing_stage()``): a dead-letter route
records it (the Kafka source's ``streamguard.error.stage`` header), whatever the stage kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core._errors import failing_stage
from streamguard.guard import guarded_sink


def _fail(x: int) -> int:
    raise ValueError(f"bad {x}")


async def _fail_async(x: int) -> int:
    raise ValueError(f"bad {x}")


@pytest.mark.parametrize("kind", ["map", "map_async", "sink", "sink_async", "guarded",
                                  "sink_async_callback"])
async def test_an_error_callback_sees_the_name_of_the_stage_that_called_it(kind: str) -> None:
    seen: list[tuple[int, str | None]] = []

    def route(item: int, error: BaseException) -> int:
        seen.append((item, failing_stage()))
        return 0

    async def route_async(item: int, error: BaseException) -> int:
        return route(item, error)

    stages: dict[str, Callable[[], Any]] = {
        "map": lambda: op.map(_fail, on_error=route, name="enrich"),
        "map_async": lambda: op.map_async(_fail_async, on_error=route, name="enrich"),
        "sink": lambda: op.sink(_fail, on_error=route, name="enrich"),
        "sink_async": lambda: op.sink(_fail_async, on_error=route, name="enrich"),
        "sink_async_callback": lambda: op.sink(_fail_async, on_error=route_async,
                                               name="enrich"),
        "guarded": lambda: guarded_sink(_fail_async, dead_letter=route, name="enrich"),
    }
    stage = stages[kind]()
    await from_iterable([1, 2]).pipe(stage).to_list()
    assert sorted(seen) == [(1, "enrich"), (2, "enrich")]
    assert failing_stage() is None  # only while the callback runs
