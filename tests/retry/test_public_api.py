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
        if isinstance(obj, type) and obj.__module__ == retry.__name__:
            assert obj.__doc__, name


def test_retry_imports_only_the_allowed_core_not_the_breaker() -> None:
    # A refused call says `retryable = False` itself: retry needs no isinstance check (#10).
    imports = streamguard_imports(pathlib.Path(retry.__file__).parent)
    assert imports <= ALLOWED_CORE, imports - ALLOWED_CORE
