"""Turns measurements into figures: medians, ratios and targets, as a console table, as
``RESULTS.md`` and as raw JSON."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from _runner import Measurement
from scenarios import SECTIONS, Case, Figure, Scenario

T = TypeVar("T")

RATIO_NOTE = (
    "**ratio**: how many times faster runbase is (MLflow time ÷ runbase time; for rates, "
    "runbase ÷ MLflow): above 1, runbase is faster."
)


@dataclass(frozen=True)
class Row:
    """One figure with its measurements."""

    scenario: Scenario
    figure: Figure
    runbase: list[float]
    mlflow: list[float]

    @property
    def complete(self) -> bool:
        return bool(self.runbase and self.mlflow)

    def medians(self) -> tuple[float, float]:
        return statistics.median(self.runbase), statistics.median(self.mlflow)

    def ratio(self) -> float:
        return self.figure.ratio(*self.medians())

    def verdict(self) -> str:
        target = self.figure.target
        if target is None or not self.runbase:
            return "—"
        return "pass" if target.met(statistics.median(self.runbase)) else "**miss**"


def summarize(scenarios: list[Scenario], measurements: list[Measurement], quick: bool) -> list[Row]:
    def values(scenario: Scenario, case: Case | None, field: str) -> list[float]:
        if case is None:
            return []
        key = case.key(quick)
        return [
            float(m.result[field])
            for m in measurements
            if m.scenario == scenario.name and m.case == key and m.result is not None
        ]

    return [
        Row(
            scenario,
            figure,
            values(scenario, figure.runbase, figure.field),
            values(scenario, figure.mlflow, figure.field),
        )
        for scenario in scenarios
        for figure in scenario.shown(quick)
    ]


# -- formatting --------------------------------------------------------------------------------
def fmt(value: float, unit: str) -> str:
    if value >= 100 or float(value).is_integer():  # counts (packages) print as they are
        number = f"{value:,.0f}"
    elif value >= 10:
        number = f"{value:.1f}"
    elif value >= 0.1:
        number = f"{value:.2f}"
    else:  # two significant digits: a µs-scale cost in a ms column must not print as 0.00
        number = f"{value:.2g}"
    return f"{number} {unit}"


def fmt_ratio(ratio: float) -> str:
    if ratio >= 10:
        return f"{ratio:,.0f}×"
    return f"{ratio:.1f}×" if ratio >= 1 else f"{ratio:.2f}×"


def _cells(row: Row) -> list[str]:
    unit = row.figure.unit
    runbase = fmt(statistics.median(row.runbase), unit) if row.runbase else "failed"
    if row.figure.mlflow is None:
        mlflow = "—"  # a runbase-only row
    else:
        mlflow = fmt(statistics.median(row.mlflow), unit) if row.mlflow else "failed"
        if row.scenario.versus != "MLflow":  # the console table has one column for both
            mlflow += f" ({row.scenario.versus.split(' ')[0]})"
    ratio = fmt_ratio(row.ratio()) if row.complete else "—"
    target = row.figure.target.text if row.figure.target else "—"
    return [row.figure.label, runbase, mlflow, ratio, target, row.verdict()]


_TOOL_NAMES = {"runbase": "runbase", "mlflow": "MLflow"}

HEADER = ["figure", "runbase", "MLflow", "ratio", "target", "runbase vs target"]


def console_table(rows: list[Row]) -> str:
    lines = [HEADER, *(_cells(row) for row in rows)]
    lines = [[cell.replace("`", "").replace("**", "") for cell in line] for line in lines]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if n == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


# -- RESULTS.md --------------------------------------------------------------------------------
def markdown(
    rows: list[Row], measurements: list[Measurement], meta: dict[str, Any], quick: bool
) -> str:
    parts = [_preamble(rows, meta)]
    for section in _sections(rows):
        parts.append(f"## {section}\n")
        for scenario in _unique(row.scenario for row in rows if row.scenario.section == section):
            ours = [row for row in rows if row.scenario is scenario]
            parts.append(_scenario_block(scenario, ours, measurements, quick))
    return "\n".join(parts)


def _preamble(rows: list[Row], meta: dict[str, Any]) -> str:
    machine = meta["machine"]
    verdicts = [row.verdict() for row in rows if row.figure.target is not None]
    passed = verdicts.count("pass")
    warning = f"\n> **Warning**: {machine['warning']}.\n" if "warning" in machine else ""
    return f"""# Benchmarks: runbase vs MLflow
{warning}
Written by `bench/run.py`; rerun it rather than editing this file. [README.md](README.md) says how
to run it and what each scenario measures.

- Date: {meta["date"]}; the run took {meta["duration"]}
- Command: `{meta["command"]}`
- Mode: {meta["mode"]}
- Figures are medians over the repeats. Each measurement runs in a fresh interpreter on a fresh
  store (a SQLite file in a new temporary folder, migrated before timing), runbase and MLflow
  alternating.
- Targets (from PRODUCT.md, checked on runbase's median): {passed} of {len(verdicts)} met.

## Machine

| | |
|---|---|
| CPU | {machine["cpu_model"]}, {machine["cores"]} cores |
| RAM | {machine["ram_gib"]} GiB |
| OS | {machine["os"]} |
| runbase | {machine["runbase_version"]} at commit {machine["runbase_commit"]}, \
Python {machine["runbase_python"]} |
| MLflow | {machine["mlflow_version"]}, Python {machine["mlflow_python"]} |
| Load average (1 min) | {machine["load"]} |

{RATIO_NOTE}
"""


def _sections(rows: list[Row]) -> list[str]:
    present = _unique(row.scenario.section for row in rows)
    return [s for s in SECTIONS if s in present] + [s for s in present if s not in SECTIONS]


def _unique(items: Iterable[T]) -> list[T]:
    seen: list[T] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _scenario_block(
    scenario: Scenario, rows: list[Row], measurements: list[Measurement], quick: bool
) -> str:
    table = [
        "| " + " | ".join(scenario.versus if h == "MLflow" else h for h in HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *("| " + " | ".join(_cells(row)) + " |" for row in rows),
    ]
    cases = sorted(scenario.cases(quick), key=lambda case: case.tool != "runbase")
    details = [_case_detail(scenario, case, measurements, quick) for case in cases]
    left_out = [f.label for f in scenario.figures if quick and not f.quick]
    if left_out:
        details.append("- Left out of `--quick` runs: " + "; ".join(left_out) + ".")
    return "\n".join([f"### {scenario.title}\n", scenario.about, "", *table, "", *details, ""])


def _case_detail(
    scenario: Scenario, case: Case, measurements: list[Measurement], quick: bool
) -> str:
    """One line per case: its arguments, every repeat's value, and the medians of its extras."""
    ours = [m for m in measurements if m.scenario == scenario.name and m.case == case.key(quick)]
    args = ", ".join(f"{k}={v!r}" for k, v in case.arguments(quick).items())
    results = [m.result for m in ours if m.result is not None]
    where = f" (run by {_TOOL_NAMES[case.interpreter]}'s interpreter)" if case.interpreter else ""
    tool = scenario.versus if case.tool == "mlflow" and scenario.versus != "MLflow" else case.tool
    line = f"- {tool} `{case.func}({args})`{where}: "
    if not results:
        return line + "failed: " + "; ".join(m.error or "" for m in ours).replace("\n", " ")
    line += "values " + ", ".join(_number(r["value"]) for r in results)
    extras = {
        key: statistics.median(float(r[key]) for r in results)
        for key, value in results[0].items()
        if key != "value" and isinstance(value, int | float) and not isinstance(value, bool)
    }
    if extras:
        line += "; medians: " + ", ".join(f"{k} {_number(v)}" for k, v in extras.items())
    return line


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:,.4g}"


# -- raw JSON ----------------------------------------------------------------------------------
def raw_json(rows: list[Row], measurements: list[Measurement], meta: dict[str, Any]) -> str:
    figures = [
        {
            "scenario": row.scenario.name,
            "figure": row.figure.label,
            "unit": row.figure.unit,
            "better": row.figure.better,
            "runbase": row.runbase,
            "mlflow": row.mlflow,
            "ratio": row.ratio() if row.complete else None,
            "target": row.figure.target.text if row.figure.target else None,
            "verdict": row.verdict().strip("*"),
        }
        for row in rows
    ]
    document = {
        "meta": meta,
        "figures": figures,
        "measurements": [m.as_json() for m in measurements],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


#: Sections of RESULTS.md that a rerun of ``run.py`` keeps: the UI benchmark's (written by
#: ``ui_bench.py``) and the analysis of missed targets (written by hand, from the run above it).
KEPT_SECTIONS = ("ui-bench", "analysis")


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def kept_section(path: Path) -> str:
    """The kept sections of an existing report, to carry over ("" when none)."""
    if not path.is_file():
        return ""
    text = path.read_text()
    kept = ""
    for name in KEPT_SECTIONS:
        start_marker, end_marker = markers(name)
        start, end = text.find(start_marker), text.find(end_marker)
        if 0 <= start < end:
            kept += "\n" + text[start : end + len(end_marker)] + "\n"
    return kept


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n")
