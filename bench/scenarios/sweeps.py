"""Sweep bookkeeping per trial: runbase's agent against plain Optuna on its RDB storage.

Both run a random search over three parameters with an objective that costs nothing, so the
figure is the bookkeeping alone. runbase's includes more than Optuna's: each trial is also a run
(created, its params and tags logged, ended) and the agent checks the budget and the best trial.
Optuna runs in runbase's interpreter: it is installed there.
"""

from __future__ import annotations

import io
import time
from typing import Any

from scenarios._spec import Case, Figure, Result, Scenario, Target

SPACE: dict[str, Any] = {
    "x": {"type": "float", "low": -1.0, "high": 1.0},
    "y": {"type": "int", "low": 0, "high": 10},
    "c": ["a", "b"],
}


def _result(elapsed: float, stamps: list[float], trials: int) -> Result:
    k = max(trials // 10, 1)
    return {
        "value": elapsed / trials * 1e3,
        "first_10pct_ms": (stamps[k] - stamps[0]) / k * 1e3,
        "last_10pct_ms": (stamps[-1] - stamps[-1 - k]) / k * 1e3,
        "seconds": elapsed,
    }


def runbase_sweep(trials: int) -> Result:
    from runbase import sweeps
    from runbase.client import Client
    from runbase.sweeps import _optuna

    _optuna.quiet_logging()
    stamps: list[float] = []

    def objective(params: dict[str, Any]) -> float:
        stamps.append(time.perf_counter())
        return float(params["x"] + params["y"] + (params["c"] == "a"))

    spec = sweeps.parse_spec(
        {
            "method": "random",
            "metric": "loss",
            "max_trials": trials,
            "seed": 0,
            "function": objective,
            "parameters": SPACE,
        }
    )
    client = Client("runbase.db")
    sweep_id = sweeps.create(spec, client)
    start = time.perf_counter()
    sweeps.Agent(sweep_id, tracking_uri="runbase.db", function=objective, out=io.StringIO()).run()
    elapsed = time.perf_counter() - start
    if len(stamps) != trials:
        raise RuntimeError(f"ran {len(stamps)} trials, expected {trials}")
    client.close()
    return _result(elapsed, stamps, trials)


def optuna_sweep(trials: int) -> Result:
    from pathlib import Path

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    stamps: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        stamps.append(time.perf_counter())
        x = trial.suggest_float("x", -1.0, 1.0)
        y = trial.suggest_int("y", 0, 10)
        c = trial.suggest_categorical("c", ["a", "b"])
        return x + y + (c == "a")

    study = optuna.create_study(
        storage=f"sqlite:///{Path.cwd() / 'optuna.db'}",
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    start = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    elapsed = time.perf_counter() - start
    return _result(elapsed, stamps, trials)


_TARGET = Target("<=", 5.0, "≤ 5 ms per trial, flat")
_RB_1K = Case("runbase", "runbase_sweep", {"trials": 1000}, quick={"trials": 100})
# The comparison side of a figure is its ``mlflow`` case; plain Optuna runs in runbase's
# interpreter, where it is installed.
_OP_1K = Case(
    "mlflow", "optuna_sweep", {"trials": 1000}, quick={"trials": 100}, interpreter="runbase"
)
_RB_10K = Case("runbase", "runbase_sweep", {"trials": 10000}, quick={"trials": 300})
_OP_10K = Case(
    "mlflow", "optuna_sweep", {"trials": 10000}, quick={"trials": 300}, interpreter="runbase"
)
#: The target's "flat up to 100,000 trials", runbase alone: Optuna's RDB storage would take
#: most of an hour here. Not in quick runs.
_RB_100K = Case("runbase", "runbase_sweep", {"trials": 100000})

SCENARIO = Scenario(
    name="sweeps",
    title="Sweep bookkeeping per trial",
    section="Sweeps, embedded SQLite store",
    module=__name__,
    about=(
        "Milliseconds per trial of a random search over three parameters with an objective "
        "that costs nothing: ask, tell and the trial's bookkeeping, on a SQLite file. runbase: "
        "one agent (`runbase.sweeps.Agent`) with its journal in the runbase store, each trial "
        "also a run with params and tags. Optuna: `study.optimize` on its RDB storage "
        "(`sqlite:///`), in runbase's interpreter. The last rows are the cost per trial over "
        "the last tenth of 10,000 and of 100,000 trials (runbase alone: Optuna's RDB storage would "
        "take most of an hour): flat means the same as over the first tenth."
    ),
    versus="Optuna (RDB, SQLite)",
    figures=(
        Figure("per trial, 1,000 trials", "ms", "lower", _RB_1K, _OP_1K, _TARGET),
        Figure("per trial, 10,000 trials", "ms", "lower", _RB_10K, _OP_10K, _TARGET),
        Figure(
            "per trial, first tenth of 10,000 trials",
            "ms",
            "lower",
            _RB_10K,
            _OP_10K,
            field="first_10pct_ms",
        ),
        Figure(
            "per trial, last tenth of 10,000 trials",
            "ms",
            "lower",
            _RB_10K,
            _OP_10K,
            _TARGET,
            field="last_10pct_ms",
        ),
        Figure("per trial, 100,000 trials", "ms", "lower", _RB_100K, None, _TARGET, quick=False),
        Figure(
            "per trial, first tenth of 100,000 trials",
            "ms",
            "lower",
            _RB_100K,
            None,
            field="first_10pct_ms",
            quick=False,
        ),
        Figure(
            "per trial, last tenth of 100,000 trials",
            "ms",
            "lower",
            _RB_100K,
            None,
            _TARGET,
            field="last_10pct_ms",
            quick=False,
        ),
    ),
    repeats=1,
    quick_repeats=1,
    timeout=1800.0,
)
