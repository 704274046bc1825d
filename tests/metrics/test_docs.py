"""docs/metrics_and_cli.md: its Python snippets run, and its metrics table is the exported one."""

from __future__ import annotations

import pathlib
import re

import pytest

from streamguard.metrics import FAMILIES

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "metrics_and_cli.md"
TEXT = DOC.read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)


def test_doc_has_snippets() -> None:
    assert BLOCKS


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_doc_snippet_runs(index: int) -> None:
    exec(compile(BLOCKS[index], f"{DOC.name}[python block {index}]", "exec"),
         {"__name__": "__doc_snippet__"})


def test_metrics_table_lists_every_family_as_exported() -> None:
    table = TEXT.split("<!-- metrics-table:start -->")[1].split("<!-- metrics-table:end -->")[0]
    rows = table.strip().splitlines()[2:]
    expected = []
    for f in FAMILIES:
        labels = ", ".join(f"`{label}`" for label in f.labels) or "—"
        expected.append(f"| `{f.name}` | {f.kind} | {labels} | {f.help} |")
    assert rows == expected
