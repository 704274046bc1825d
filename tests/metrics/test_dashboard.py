"""The Grafana dashboard queries exactly the metrics the exporter exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from streamguard.metrics import FAMILIES

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "streamguard.json"


def _panels() -> list[dict[str, Any]]:
    data = json.loads(DASHBOARD.read_text())
    panels: list[dict[str, Any]] = data["panels"]
    return panels


def _expressions() -> list[str]:
    return [t["expr"] for p in _panels() for t in p.get("targets", [])]


def test_every_query_names_an_exported_metric_and_every_metric_is_shown() -> None:
    exported = {f.name for f in FAMILIES}
    used = {name for expr in _expressions()
            for name in re.findall(r"\bstreamguard_[a-z_]+", expr)}
    assert used <= exported, used - exported
    assert exported - used == set()


def test_queries_are_balanced_and_use_known_labels() -> None:
    labels = {label for f in FAMILIES for label in f.labels}
    for expr in _expressions():
        for opening, closing in ("()", "{}", "[]"):
            assert expr.count(opening) == expr.count(closing), expr
        for label in re.findall(r"(?:by \(|[{,] ?)([a-z_]+)(?:=~|!=|=|,|\))", expr):
            assert label in labels, (label, expr)


def test_panels_have_unique_ids_and_positions() -> None:
    panels = _panels()
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    taken: dict[tuple[int, int], str] = {}
    for p in panels:
        grid = p["gridPos"]
        assert grid["x"] + grid["w"] <= 24, p["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, (p["title"], "overlaps", taken[(x, y)])
                taken[(x, y)] = p["title"]
    data = json.loads(DASHBOARD.read_text())
    variables = {v["name"] for v in data["templating"]["list"]}
    assert {"datasource", "pipeline", "topic"} <= variables
