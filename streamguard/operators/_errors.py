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

from ..core._errors import ConfigError
from ..core._errors import item_failed as item_failed

R = TypeVar("R")

OnError: TypeAlias = Literal["fail", "skip"] | Callable[[Any, Exception], Any]


def check_on_error(on_error: object) -> None:
    """Reject anything that is not ``"fail"``, ``"skip"`` or a callable."""
    if on_error not in ("fail", "skip") and not callable(on_error):
        raise ConfigError(
            f"on_error must be 'fail', 'skip' or a callable (item, error) -> replacement, "
            f"got {on_error!r}"
        )
