"""The public names of streamguard.cli, streamguard.demo and streamguard.metrics: listed in
``__all__``, existing, documented; the console script's entry point exists."""

from __future__ import annotations

import importlib
import inspect
import tomllib
from pathlib import Path

import pytest

PACKAGES = ["streamguard.cli", "streamguard.demo", "streamguard.metrics"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_complete_and_documented(name: str) -> None:
    module = importlib.import_module(name)
    public = {n for n, v in vars(module).items()
              if not n.startswith("_") and not inspect.ismodule(v) and n != "annotations"}
    assert public == set(module.__all__)
    objects = {n: getattr(module, n) for n in module.__all__}
    undocumented = [n for n, v in objects.items()
                    if (inspect.isclass(v) or inspect.isfunction(v)) and not inspect.getdoc(v)]
    assert undocumented == []


def test_console_script_points_at_main() -> None:
    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["streamguard"] == "streamguard.cli:main"
    from streamguard.cli import main

    assert main(["--version"]) == 0
