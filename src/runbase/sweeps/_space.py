"""A spec's parameters as Optuna sees them: suggestions for a trial, and the grid."""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from runbase.sweeps.spec import ParamSpec, Scalar, SweepSpec

if TYPE_CHECKING:
    import optuna

__all__ = ["grid_points", "grid_search_space", "nest", "substitute", "suggest"]

_PLACEHOLDER: Final = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")


def suggest(trial: optuna.Trial, spec: SweepSpec) -> dict[str, Any]:
    """Ask the trial for every searched parameter; fixed ones are added as they are. The order
    is the spec's, so a trial's params read like the spec."""
    out: dict[str, Any] = {}
    for p in spec.parameters:
        out[p.name] = _suggest_one(trial, p)
    return out


def _suggest_one(trial: optuna.Trial, p: ParamSpec) -> Any:
    if p.kind == "fixed":
        return p.values[0]
    if p.kind == "categorical":
        return trial.suggest_categorical(p.name, list(p.values))
    assert p.low is not None and p.high is not None
    if p.kind == "int":
        step = int(p.step or 1)
        return trial.suggest_int(p.name, int(p.low), int(p.high), step=step, log=p.log)
    return trial.suggest_float(p.name, p.low, p.high, step=p.step, log=p.log)


def grid_search_space(spec: SweepSpec) -> dict[str, list[Scalar]]:
    """What Optuna's GridSampler takes: every searched parameter's values."""
    return {p.name: p.grid_values() for p in spec.searched}


def grid_points(spec: SweepSpec) -> list[dict[str, Scalar]]:
    """The grid's combinations, in the spec's order (the last parameter varies fastest). When
    ``max_trials`` is smaller than the grid, a seeded random subset of it, still in order."""
    names = [p.name for p in spec.searched]
    points = [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(p.grid_values() for p in spec.searched))
    ]
    if spec.budget < len(points):
        keep = sorted(random.Random(spec.seed).sample(range(len(points)), spec.budget))
        points = [points[i] for i in keep]
    return points


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"model.hidden": 64, "lr": 0.1}`` → ``{"model": {"hidden": 64}, "lr": 0.1}``."""
    out: dict[str, Any] = {}
    for name, value in flat.items():
        *groups, leaf = name.split(".")
        node = out
        for group in groups:
            node = node.setdefault(group, {})
        node[leaf] = value
    return out


def substitute(template: str, values: Mapping[str, Any]) -> str:
    """Replace ``{name}`` placeholders (dotted names allowed); an unknown name is an error;
    ``{{`` and ``}}`` stand for literal braces."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)[0]
        if name not in values:
            known = ", ".join(sorted(values))
            raise KeyError(f"unknown placeholder {{{name}}} (known: {known})")
        return str(values[name])

    return _PLACEHOLDER.sub(replace, template)
