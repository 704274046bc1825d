"""Per-item error policies shared by ``map``, ``filter``, ``map_async`` and ``sink``.

* ``"fail"`` (default) — the item is reported failed to its source and the stream fails with
  an :class:`~streamguard.core.ItemFailedError` naming the stage and the item.
* ``"skip"`` — the item is reported failed to its source, counted as failed, and the stream
  goes on.
* a callable ``(item, error) -> replacement`` (the item first, like every callback) — resume
  with a fallback value; the item goes on with its ack. A sink ignores the replacement: the
  callable handled the item, which completes at its source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeAlias, TypeVar

from ..core._checks import check_function
from ..core._errors import ConfigError
from ..core._errors import item_failed as item_failed

R = TypeVar("R")

OnError: TypeAlias = Literal["fail", "skip"] | Callable[[Any, Exception], Any]


def check_on_error(owner: str, on_error: object, kind: str) -> None:
    """Refuse anything that is not ``"fail"``, ``"skip"`` or a callable ``(item, error)``;
    *kind* ``"sync"`` refuses an async callable (a sync stage cannot await it)."""
    if isinstance(on_error, str) and on_error in ("fail", "skip"):
        return
    if not callable(on_error):
        raise ConfigError(
            f"{owner}: on_error must be 'fail', 'skip' or a callable (item, error) -> "
            f"replacement, got {on_error!r}")
    check_function(owner, "on_error", on_error, kind)
