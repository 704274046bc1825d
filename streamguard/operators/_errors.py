"""Per-item error policies shared by ``map``, ``filter``, ``map_async`` and ``sink``.

* ``"fail"`` (default) — the item is reported failed to its source and the stream fails with
  an :class:`~streamguard.core.ItemFailedError` naming the stage and the item.
* ``"skip"`` — the item is reported failed to its source, counted as failed, and the stream
  goes on.
* a callable ``(error, item) -> replacement`` — resume with a fallback value; the item goes
  on with its ack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeAlias, TypeVar

from ..core._errors import ConfigError, ItemFailedError

R = TypeVar("R")

OnError: TypeAlias = Literal["fail", "skip"] | Callable[[Exception, Any], Any]


def check_on_error(on_error: object) -> None:
    """Reject anything that is not ``"fail"``, ``"skip"`` or a callable."""
    if on_error not in ("fail", "skip") and not callable(on_error):
        raise ConfigError(
            f"on_error must be 'fail', 'skip' or a callable (error, item) -> replacement, "
            f"got {on_error!r}"
        )


def item_failed(stage: str, item: object, error: Exception) -> ItemFailedError:
    """Wrap *error* into the stream error that names the stage and the item."""
    shown = repr(item)
    if len(shown) > 200:
        shown = shown[:200] + "…"
    err = ItemFailedError(
        f"stage {stage!r} failed on item {shown}: {type(error).__name__}: {error}",
        stage=stage, item=item,
    )
    err.__cause__ = error
    return err
