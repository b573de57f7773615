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
    and is measured once per repeat. The case runs in its tool's interpreter unless
    ``interpreter`` names the other one: a server scenario measures runbase's server with the
    same ``mlflow`` client code as MLflow's, so both run in MLflow's interpreter.
    """

    tool: Tool
    func: str
    params: Params
    quick: Params = field(default_factory=dict)
    interpreter: Tool | None = None

    @property
    def python(self) -> Tool:
        """Whose interpreter runs the case."""
        return self.interpreter or self.tool

    def arguments(self, quick: bool) -> Params:
        return {**self.params, **self.quick} if quick else dict(self.params)

    def key(self, quick: bool) -> str:
        where = f"@{self.interpreter}" if self.interpreter else ""
        return f"{self.tool}{where}:{self.func}:{json.dumps(self.arguments(quick), sort_keys=True)}"


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

    ``mlflow`` is None for a runbase-only row (a feature MLflow has no counterpart of).
    ``better`` says which direction wins; the reported ratio is always "how many times faster
    runbase is" (MLflow time ÷ runbase time, or runbase rate ÷ MLflow rate). ``field`` names the
    entry of the cases' results it reports, so one measured case can feed several figures.
    """

    label: str
    unit: str
    better: Literal["lower", "higher"]
    runbase: Case
    mlflow: Case | None
    target: Target | None = None
    field: str = "value"
    #: False for a row that only varies a setting of another row's workload: left out of
    #: ``--quick`` runs, which then start fewer servers.
    quick: bool = True

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
    #: What runbase is compared with (each figure's ``mlflow`` case): plain Optuna for sweeps.
    versus: str = "MLflow"

    def shown(self, quick: bool) -> tuple[Figure, ...]:
        """The figures a run in this mode measures."""
        return tuple(f for f in self.figures if f.quick or not quick)

    def cases(self, quick: bool = False) -> list[Case]:
        """Distinct cases, runbase and MLflow alternating, in figure order."""
        runbase: list[Case] = []
        mlflow: list[Case] = []
        for figure in self.shown(quick):
            for case, bucket in ((figure.runbase, runbase), (figure.mlflow, mlflow)):
                if case is not None and case not in bucket:
                    bucket.append(case)
        ordered: list[Case] = []
        for i in range(max(len(runbase), len(mlflow))):
            ordered.extend(bucket[i] for bucket in (runbase, mlflow) if i < len(bucket))
        return ordered


#: Report sections, in the order RESULTS.md shows them. A new scenario names one of these, or a
#: new section, which is then appended after them.
SECTIONS = (
    "Client, embedded SQLite store",
    "Sweeps, embedded SQLite store",
    "Server over HTTP",
    "Concurrency",
    "Footprint",
)
