"""What a scenario declares: the figures it reports and the measured cases behind them.

This module and every scenario module import only the standard library at the top: the worker
imports them under both interpreters (runbase's and MLflow's), and each tool is imported inside
the case functions, in the subprocess that measures it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Tool = Literal["runbase", "mlflow"]
Params = dict[str, Any]
#: What a case function returns: ``value`` (the figure, in the figure's unit) plus any extras
#: worth keeping in the raw JSON (counts, secondary timings).
Result = dict[str, Any]
CaseFunction = Callable[..., Result]


@dataclass(frozen=True)
class Case:
    """One measured workload for one tool: a function of the scenario module and its arguments.

    ``quick`` overrides arguments in ``--quick`` mode; the same case may back several figures
    and is measured once per repeat.
    """

    tool: Tool
    func: str
    params: Params
    quick: Params = field(default_factory=dict)

    def arguments(self, quick: bool) -> Params:
        return {**self.params, **self.quick} if quick else dict(self.params)

    def key(self, quick: bool) -> str:
        return f"{self.tool}:{self.func}:{json.dumps(self.arguments(quick), sort_keys=True)}"


@dataclass(frozen=True)
class Target:
    """A goal from PRODUCT.md's performance table, checked against runbase's median."""

    op: Literal["<=", ">="]
    value: float
    text: str

    def met(self, measured: float) -> bool:
        return measured <= self.value if self.op == "<=" else measured >= self.value


@dataclass(frozen=True)
class Figure:
    """One row of the results: runbase's case against MLflow's, in one unit.

    ``better`` says which direction wins; the reported ratio is always "how many times faster
    runbase is" (MLflow time ÷ runbase time, or runbase rate ÷ MLflow rate). ``field`` names the
    entry of the cases' results it reports, so one measured case can feed several figures.
    """

    label: str
    unit: str
    better: Literal["lower", "higher"]
    runbase: Case
    mlflow: Case
    target: Target | None = None
    field: str = "value"

    def ratio(self, runbase: float, mlflow: float) -> float:
        top, bottom = (mlflow, runbase) if self.better == "lower" else (runbase, mlflow)
        return top / bottom if bottom else float("inf")


@dataclass(frozen=True)
class Scenario:
    """A set of figures measured together. ``module`` holds the case functions."""

    name: str
    title: str
    section: str
    module: str
    about: str
    figures: tuple[Figure, ...]
    repeats: int = 3
    quick_repeats: int = 1
    #: Seconds one measurement may take before it is reported as failed.
    timeout: float = 600.0

    def cases(self) -> list[Case]:
        """Distinct cases, runbase and MLflow alternating, in figure order."""
        runbase: list[Case] = []
        mlflow: list[Case] = []
        for figure in self.figures:
            for case, bucket in ((figure.runbase, runbase), (figure.mlflow, mlflow)):
                if case not in bucket:
                    bucket.append(case)
        ordered: list[Case] = []
        for i in range(max(len(runbase), len(mlflow))):
            ordered.extend(bucket[i] for bucket in (runbase, mlflow) if i < len(bucket))
        return ordered


#: Report sections, in the order RESULTS.md shows them. A new scenario names one of these, or a
#: new section, which is then appended after them.
SECTIONS = (
    "Client, embedded SQLite store",
    "Footprint",
)
