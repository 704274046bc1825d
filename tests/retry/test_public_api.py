"""`__all__` is the public API: complete, documented, and free of the stream core."""

from __future__ import annotations

import pathlib

import streamguard.retry as retry
from tests.breaker.test_public_api import ALLOWED_CORE, streamguard_imports


def test_all_lists_every_public_name() -> None:
    public = {n for n in vars(retry) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if type(getattr(retry, n)).__name__ == "module"}
    assert sorted(retry.__all__) == sorted(public - modules)


def test_every_public_name_is_documented() -> None:
    for name in retry.__all__:
        obj = getattr(retry, name)
        if callable(obj) and name != "Backoff":
            assert obj.__doc__, name


def test_retry_imports_only_the_breaker_and_the_allowed_core() -> None:
    imports = streamguard_imports(pathlib.Path(retry.__file__).parent)
    others = {m for m in imports if not m.startswith("breaker.")}
    assert others <= ALLOWED_CORE, others - ALLOWED_CORE
