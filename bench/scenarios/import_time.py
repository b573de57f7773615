"""``import`` time: the wall time of a fresh interpreter that imports the package."""

from __future__ import annotations

import subprocess
import sys
import time

from scenarios._spec import Case, Figure, Result, Scenario, Target


def import_wall(code: str) -> Result:
    """Run ``python -c code`` once untimed (bytecode and file caches warm, as on a second
    run of a script), then once timed; bare interpreter start-up is kept as an extra."""
    _run(code)
    return {"value": _run(code) * 1e3, "code": code, "bare_python_ms": _run("pass") * 1e3}


def _run(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


SCENARIO = Scenario(
    name="import",
    title="`import` time",
    section="Footprint",
    module=__name__,
    about=(
        'Wall milliseconds of a fresh `python -c "import runbase"` vs `python -c "import '
        'mlflow"`, interpreter start-up included (bare start-up is listed below the table). '
        "runbase loads its client lazily, so a second row also touches `log_metric`, which makes "
        "runbase import its client modules (numpy among them); its store (SQLAlchemy) still "
        "loads on first use."
    ),
    figures=(
        Figure(
            "`import`",
            "ms",
            "lower",
            Case("runbase", "import_wall", {"code": "import runbase"}),
            Case("mlflow", "import_wall", {"code": "import mlflow"}),
            Target("<=", 100.0, "≤ 100 ms"),
        ),
        Figure(
            "`import`, then `log_metric` touched",
            "ms",
            "lower",
            Case("runbase", "import_wall", {"code": "import runbase; runbase.log_metric"}),
            Case("mlflow", "import_wall", {"code": "import mlflow; mlflow.log_metric"}),
        ),
    ),
    repeats=7,
    quick_repeats=1,
)
