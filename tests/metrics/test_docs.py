"""README.md: its metrics table is the exported one (its snippets run in tests/test_readme.py)."""

from __future__ import annotations

import pathlib

from streamguard.metrics import FAMILIES

DOC = pathlib.Path(__file__).resolve().parents[2] / "README.md"
TEXT = DOC.read_text()


def test_metrics_table_lists_every_family_as_exported() -> None:
    table = TEXT.split("<!-- metrics-table:start -->")[1].split("<!-- metrics-table:end -->")[0]
    rows = table.strip().splitlines()[2:]
    expected = []
    for f in FAMILIES:
        labels = ", ".join(f"`{label}`" for label in f.labels) or "—"
        expected.append(f"| `{f.name}` | {f.kind} | {labels} | {f.help} |")
    assert rows == expected
