"""The benchmark scenarios, in the order they run and are reported.

A new scenario is one module here defining ``SCENARIO`` and its case functions, added to
``SCENARIOS``.
"""

from __future__ import annotations

from scenarios import history, import_time, ingest, log_metric, start_run
from scenarios._spec import SECTIONS, Case, Figure, Scenario, Target

__all__ = ["SCENARIOS", "SECTIONS", "Case", "Figure", "Scenario", "Target"]

SCENARIOS: tuple[Scenario, ...] = (
    log_metric.SCENARIO,
    ingest.SCENARIO,
    start_run.SCENARIO,
    history.SCENARIO,
    import_time.SCENARIO,
)
