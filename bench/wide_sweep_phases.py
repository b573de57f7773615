"""Where a run of the fluent wide sweep spends its time: a probe, not a figure of RESULTS.md's
tables but the measurements its analysis of that sweep cites.

    .venv/bin/python bench/wide_sweep_phases.py [--runs N] [--without-index NAME ...]

Logs ``--runs`` runs of the wide-sweep scenario (100 params, 50 metrics × 100 steps) through the
fluent API into a new SQLite store, as ``wide_sweep.runbase_fluent`` does, and prints the
wall-clock milliseconds per run of each call over the last fifth of the runs: ``start_run``,
``log_params``, the 100 ``log_metrics`` calls (the building of their dicts included) and
``end_run`` (which stores the run's points and then its status). ``--without-index`` drops one
of the store's indexes before the first run, to measure what keeping it up costs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from scenarios.wide_sweep import STEPS, metrics_of, params_of

import runbase
from runbase._fluent import current_client

PHASES = ("start_run", "log_params", "log_metrics", "end_run")


def measure(store: Path, runs: int, without: list[str]) -> dict[str, float]:
    uri = f"sqlite:///{store}"
    runbase.set_tracking_uri(uri)
    runbase.set_experiment("wide-sweep-phases")
    if without:
        engine = sa.create_engine(uri)
        with engine.begin() as conn:
            for name in without:
                conn.exec_driver_sql(f'DROP INDEX "{name}"')
        engine.dispose()
    measured = max(1, runs // 5)
    totals = dict.fromkeys(PHASES, 0.0)
    for run in range(runs):
        t0 = time.perf_counter()
        runbase.start_run(run_name=f"trial-{run:05d}")
        t1 = time.perf_counter()
        runbase.log_params(params_of(run))
        t2 = time.perf_counter()
        for step in range(STEPS):
            runbase.log_metrics(metrics_of(run, step), step=step)
        t3 = time.perf_counter()
        runbase.end_run()
        t4 = time.perf_counter()
        if run >= runs - measured:
            for phase, seconds in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                totals[phase] += seconds
    current_client().close()
    return {phase: seconds / measured * 1e3 for phase, seconds in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3000, help="runs to log (default 3000)")
    parser.add_argument(
        "--without-index",
        action="append",
        default=[],
        metavar="NAME",
        help="drop this index first, e.g. ix_params_key_value (repeatable)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runbase-phases-") as tmp:
        phases = measure(Path(tmp) / "runbase.db", args.runs, args.without_index)
    without = ", ".join(args.without_index) or "none"
    print(f"{args.runs} runs, indexes dropped: {without}; ms per run over the last fifth:")
    for phase, ms in phases.items():
        print(f"  {phase:<12} {ms:6.2f}")
    print(f"  {'all':<12} {sum(phases.values()):6.2f}")


if __name__ == "__main__":
    main()
