"""The curated public API: every name in ``__all__`` exists, is documented, and every public
attribute of the package is listed (httpx's check)."""

from __future__ import annotations

import importlib
import inspect
from typing import TypeVar

import pytest

PACKAGES = [
    "streamguard",
    "streamguard.core",
    "streamguard.operators",
    "streamguard.sources",
    "streamguard.interop",
    "streamguard.testing",
    "streamguard.ratelimit",
    "streamguard.breaker",
    "streamguard.retry",
    "streamguard.guard",
    "streamguard.kafka",
    "streamguard.metrics",
    "streamguard.cli",
    "streamguard.demo",
    "streamguard.servers",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_matches_public_names(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        n for n, v in vars(module).items()
        if not n.startswith("_") and not inspect.ismodule(v) and n not in {"annotations"}
        and not isinstance(v, TypeVar)
        and getattr(v, "__module__", name).startswith("streamguard")
    }
    exported = set(module.__all__)
    assert public <= exported, sorted(public - exported)
    for n in exported:
        assert hasattr(module, n), f"{name}.__all__ names {n!r}, which does not exist"


@pytest.mark.parametrize("name", PACKAGES)
def test_public_names_have_docstrings(name: str) -> None:
    module = importlib.import_module(name)
    missing = [
        n for n in module.__all__
        if (inspect.isclass(getattr(module, n)) or inspect.isfunction(getattr(module, n)))
        and not inspect.getdoc(getattr(module, n))
    ]
    assert missing == []
