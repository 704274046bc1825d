"""The README's performance section is generated from the committed benchmark results, so a
number there cannot drift from a run; every ratio with a goal names it."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import sys
from types import ModuleType

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _render() -> ModuleType:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("render", ROOT / "benchmarks" / "render.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_block_matches_results() -> None:
    render = _render()
    text = (ROOT / "README.md").read_text()
    assert render.update_readme(text) == text, "run: python benchmarks/render.py"


def test_every_result_has_figures_and_ratios() -> None:
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        result = json.loads(path.read_text())
        assert result["figures"], path.name
        assert result["ratios"], path.name
        for name, spread in result.get("spreads", {}).items():
            assert spread["min"] <= spread["median"] <= spread["max"], (path.name, name)
            assert len(spread["rounds"]) >= 5, (path.name, name)


def test_a_changed_figure_changes_the_block() -> None:
    render = _render()
    results = render.load()
    before = render.render_markdown(results)
    name = next(iter(results))
    ratio = next(iter(results[name]["ratios"]))
    results[name]["ratios"][ratio] = 123456.0
    assert render.render_markdown(results) != before
