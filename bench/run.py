"""Side-by-side benchmarks of runbase and MLflow: the single entry point.

    .venv/bin/python bench/run.py --mlflow-python .venv-mlflow/bin/python [--quick] [--only NAME]

runbase is measured with this interpreter, MLflow with ``--mlflow-python``. A full run of every
scenario writes ``bench/RESULTS.md``; ``--quick`` or ``--only`` runs write next to the raw JSON
in ``bench/out/`` unless ``--output`` says otherwise, so a partial run never replaces the
published figures.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _machine
import _report
import _runner
from scenarios import SCENARIOS, Scenario

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
DEFAULT_MLFLOW = BENCH.parent / ".venv-mlflow" / "bin" / "python"


def parse_args(argv: list[str]) -> argparse.Namespace:
    names = [s.name for s in SCENARIOS]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller workloads")
    parser.add_argument(
        "--only",
        action="append",
        choices=names,
        metavar="SCENARIO",
        help=f"run only this scenario (repeatable): {', '.join(names)}",
    )
    parser.add_argument(
        "--mlflow-python",
        default=str(DEFAULT_MLFLOW),
        help="interpreter with mlflow installed (default: .venv-mlflow/bin/python)",
    )
    parser.add_argument(
        "--repeats", type=_positive, help="repeats per case, overriding the scenario's"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="markdown report (default: bench/RESULTS.md for a full run of every scenario, "
        "else bench/out/RESULTS-partial.md)",
    )
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    scenarios = [s for s in SCENARIOS if not args.only or s.name in args.only]
    try:
        machine = _machine.describe(args.mlflow_python)
    except _machine.SetupError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    started = datetime.now(UTC)
    load_before = os.getloadavg()[0]
    source = _machine.source_fingerprint()
    # Absolute, since each measurement runs in its own folder; not resolved, since a venv's
    # python is a symlink whose target would not see the venv's packages.
    pythons = {"runbase": sys.executable, "mlflow": os.path.abspath(args.mlflow_python)}
    measurements = _runner.run_all(scenarios, pythons, args.quick, args.repeats)
    if _machine.source_fingerprint() != source:
        machine["warning"] = "runbase's source changed during the run: rerun for clean figures"
        print(f"bench: warning: {machine['warning']}", file=sys.stderr)
    rows = _report.summarize(scenarios, measurements, args.quick)
    # Other work on the machine skews wall-clock figures: the load average tells a reader.
    machine["load"] = f"{load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    minutes = (datetime.now(UTC) - started).total_seconds() / 60
    meta: dict[str, Any] = {
        "date": f"{started:%Y-%m-%d %H:%M} UTC",
        "duration": f"{minutes:.1f} minutes",
        "command": shlex.join(sys.orig_argv),
        "mode": _mode(args, scenarios),
        "machine": machine,
    }
    print(_report.console_table(rows))
    _write_outputs(args, scenarios, rows, measurements, meta, started)
    return 1 if any(m.error for m in measurements) else 0


def _mode(args: argparse.Namespace, scenarios: list[Scenario]) -> str:
    mode = "quick" if args.quick else "full"
    repeats = args.repeats or ", ".join(
        f"{s.name} {s.quick_repeats if args.quick else s.repeats}" for s in scenarios
    )
    return f"{mode} (repeats: {repeats})"


def _write_outputs(
    args: argparse.Namespace,
    scenarios: list[Scenario],
    rows: list[_report.Row],
    measurements: list[_runner.Measurement],
    meta: dict[str, Any],
    started: datetime,
) -> None:
    partial = args.quick or len(scenarios) < len(SCENARIOS)
    output: Path = args.output or (OUT / "RESULTS-partial.md" if partial else BENCH / "RESULTS.md")
    stamp = started.strftime("%Y%m%d-%H%M%S")
    raw = OUT / f"results-{stamp}{'-quick' if args.quick else ''}.json"
    _report.write(raw, _report.raw_json(rows, measurements, meta))
    text = _report.markdown(rows, measurements, meta, args.quick)
    _report.write(output, text + _report.kept_section(output))
    print(f"\nwrote {_shown(output)} and {_shown(raw)}", file=sys.stderr)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
