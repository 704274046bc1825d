"""The curated API of the rate-limit packages: ``__all__`` lists every public name, every
listed name exists and is documented."""

from __future__ import annotations

import importlib
import inspect

import pytest

PACKAGES = ["streamguard.ratelimit", "streamguard.ratelimit.algorithms",
            "streamguard.ratelimit.storage"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_matches_public_names(name: str) -> None:
    module = importlib.import_module(name)
    public = {n for n, v in vars(module).items()
              if not n.startswith("_") and not inspect.ismodule(v) and n != "annotations"}
    assert public == set(module.__all__)


@pytest.mark.parametrize("name", PACKAGES)
def test_public_names_are_documented(name: str) -> None:
    module = importlib.import_module(name)
    undocumented = [n for n in module.__all__
                    if (inspect.isclass(getattr(module, n)) or callable(getattr(module, n)))
                    and not inspect.getdoc(getattr(module, n))]
    assert undocumented == []


def test_rate_limit_exceeded_is_a_streamguard_error() -> None:
    from streamguard.core import StreamGuardError
    from streamguard.ratelimit import RateLimitExceeded

    assert issubclass(RateLimitExceeded, StreamGuardError)
