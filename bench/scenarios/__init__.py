"""The benchmark scenarios, in the order they run and are reported.

A new scenario is one module here defining ``SCENARIO`` and its case functions, added to
``SCENARIOS``.
"""

from __future__ import annotations

from scenarios import (
    concurrent_writers,
    history,
    import_time,
    ingest,
    install_size,
    log_metric,
    long_series,
    search,
    server_footprint,
    server_history,
    server_ingest,
    server_latency,
    server_search,
    start_run,
    sweeps,
    wide_sweep,
)
from scenarios._spec import SECTIONS, Case, Figure, Scenario, Target

__all__ = ["SCENARIOS", "SECTIONS", "Case", "Figure", "Scenario", "Target"]

SCENARIOS: tuple[Scenario, ...] = (
    log_metric.SCENARIO,
    ingest.SCENARIO,
    start_run.SCENARIO,
    history.SCENARIO,
    long_series.SCENARIO,
    wide_sweep.SCENARIO,
    search.SCENARIO,
    server_latency.SCENARIO,
    server_ingest.SCENARIO,
    server_search.SCENARIO,
    server_history.SCENARIO,
    server_footprint.SCENARIO,
    concurrent_writers.SCENARIO,
    sweeps.SCENARIO,
    import_time.SCENARIO,
    install_size.SCENARIO,
)
