"""``streamguard.kafka.__all__`` is the public API: complete and documented; the import arrows
point one way (the core never imports the adapter)."""

from __future__ import annotations

import ast
import inspect
import pathlib

import streamguard.kafka as kafka

PACKAGE = pathlib.Path(kafka.__file__).parent


def test_all_lists_every_public_name() -> None:
    public = {n for n, v in vars(kafka).items()
              if not n.startswith("_") and not inspect.ismodule(v)} - {"annotations"}
    assert sorted(kafka.__all__) == sorted(public)


def test_every_public_class_and_function_is_documented() -> None:
    undocumented = [n for n in kafka.__all__
                    if (inspect.isclass(getattr(kafka, n)) or inspect.isfunction(getattr(kafka, n)))
                    and not inspect.getdoc(getattr(kafka, n))]
    assert undocumented == []


def test_nothing_outside_the_adapter_and_metrics_imports_it() -> None:
    root = PACKAGE.parent
    offenders = []
    for folder in ("core", "operators", "sources", "breaker", "retry", "ratelimit"):
        for path in (root / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                         else [a.name for a in node.names] if isinstance(node, ast.Import)
                         else [])
                if any("kafka" in n.split(".") for n in names):
                    offenders.append(str(path.relative_to(root)))
    assert offenders == []
