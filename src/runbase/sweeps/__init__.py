"""Sweeps: grid, random, TPE and other Optuna searches over a training script's parameters,
with pruning, agents on one machine or many, and results kept in the runbase store.

::

    from runbase import sweeps

    info = sweeps.run("sweep.yaml", parallel=2)       # or a dict, see sweeps.spec
    sweeps.resume(info.sweep_id)                      # after an interruption

From the shell: ``runbase sweep run sweep.yaml --parallel 4``, ``runbase agent SWEEP_ID`` on
more machines, ``runbase sweep status|best|resume SWEEP_ID``. Inside the training code,
``runbase.report(value, step)`` and ``runbase.should_prune()``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "Agent",
    "SpecError",
    "SweepInfo",
    "SweepReader",
    "SweepSpec",
    "TrialInfo",
    "TrialPruned",
    "create",
    "load_spec",
    "parse_spec",
    "resume",
    "run",
]

_WHERE = {
    "Agent": ("runbase.sweeps._agent", "Agent"),
    "SpecError": ("runbase.sweeps.spec", "SpecError"),
    "SweepInfo": ("runbase.sweeps._results", "SweepInfo"),
    "SweepReader": ("runbase.sweeps._results", "SweepReader"),
    "SweepSpec": ("runbase.sweeps.spec", "SweepSpec"),
    "TrialInfo": ("runbase.sweeps._results", "TrialInfo"),
    "create": ("runbase.sweeps._sweep", "create_sweep"),
    "load_spec": ("runbase.sweeps.spec", "load_spec"),
    "parse_spec": ("runbase.sweeps.spec", "parse_spec"),
    "resume": ("runbase.sweeps._coordinator", "resume"),
    "run": ("runbase.sweeps._coordinator", "run"),
}

if TYPE_CHECKING:
    from optuna import TrialPruned

    from runbase.sweeps._agent import Agent
    from runbase.sweeps._coordinator import resume, run
    from runbase.sweeps._results import SweepInfo, SweepReader, TrialInfo
    from runbase.sweeps._sweep import create_sweep as create
    from runbase.sweeps.spec import SpecError, SweepSpec, load_spec, parse_spec


def __getattr__(name: str) -> Any:
    if name == "TrialPruned":  # raise it to stop a trial early: Optuna's own
        from runbase.sweeps import _optuna

        return _optuna.load().TrialPruned
    if name not in _WHERE:
        raise AttributeError(f"module 'runbase.sweeps' has no attribute {name!r}")
    module, attr = _WHERE[name]
    return getattr(importlib.import_module(module), attr)
