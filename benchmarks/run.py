"""Run one benchmark suite: ``python benchmarks/run.py SUITE``.

Each suite lives in ``benchmarks/suite_<name>.py`` and defines ``run() -> dict`` returning
``{"figures": {...}, "ratios": {...}}``. Every figure and its anchor are measured in the same
run, side by side, because this machine is shared and absolute times drift; the ratios are the
numbers the project's goals are stated in. The result is printed as a table and written to
``benchmarks/results/SUITE.json``.
"""

from __future__ import annotations

import importlib
import json
import pathlib
import sys
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent


def _table(result: dict[str, Any]) -> str:
    rows = [("kind", "name", "value")]
    for kind in ("figures", "ratios"):
        for name, value in result.get(kind, {}).items():
            shown = f"{value:,.4g}" if isinstance(value, float) else str(value)
            rows.append((kind, name, shown))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _run_one(name: str) -> None:
    module = importlib.import_module(f"suite_{name}")
    result: dict[str, Any] = module.run()
    print(_table(result))
    out = HERE / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"wrote {out.relative_to(HERE.parent)}")


def main(argv: list[str]) -> int:
    """Entry point: run the named suite (or ``all``), print its table, write its JSON.

    ``all`` runs every suite, one after the other (never two at once: the machine has two
    cores), then renders the plot (``docs/benchmarks.png``) and the README's performance
    section from the results. ``kafka`` runs the Kafka family — ``kafka`` (consume against
    raw aiokafka and the peers), ``kafka_eos`` (exactly-once against at-least-once) and
    ``kafka_keyed`` (key against partition ordering) — each writing its own JSON;
    ``kafka_eos`` and ``kafka_keyed`` also run alone.
    """
    suites = sorted(p.stem.removeprefix("suite_") for p in HERE.glob("suite_*.py"))
    if len(argv) != 1 or argv[0] not in [*suites, "all"]:
        print(f"usage: python benchmarks/run.py SUITE  (SUITE one of: {', '.join(suites)}, all)")
        return 2
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    family = {"all": suites, "kafka": [s for s in suites if s.startswith("kafka")]}
    for name in family.get(argv[0], [argv[0]]):
        print(f"== {name}", flush=True)
        _run_one(name)
    if argv[0] == "all":
        import render

        render.plot()
        render.main([])
        print("rendered docs/benchmarks.png and the README's performance section")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
