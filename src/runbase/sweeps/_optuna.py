"""Optuna, imported lazily: samplers and pruners for a spec, and the quirks of using it as a
library (its experimental-feature warnings, its INFO logging of every trial)."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from runbase.errors import InvalidInputError, RunbaseError
from runbase.sweeps.spec import SpecError, SweepSpec

if TYPE_CHECKING:
    import optuna

__all__ = ["load", "make_pruner", "make_sampler", "quiet_logging", "tolerant"]

_HINT: Final = "Sweeps need Optuna: pip install 'optuna>=4' (it comes with runbase)"

#: Extra packages some samplers and evaluators need, for the install hint.
_NEEDS: Final = {
    "qmc": "scipy",
    "cmaes": "cmaes",
    "gp": "torch and scipy",
    "fanova": "scikit-learn",
    "mdi": "scikit-learn",
}


def load() -> Any:
    """The ``optuna`` module, or a clear error saying how to install it."""
    try:
        return importlib.import_module("optuna")
    except ModuleNotFoundError as exc:
        raise RunbaseError(_HINT) from exc


@contextmanager
def tolerant() -> Iterator[None]:
    """Optuna warns when an experimental feature is used (QMC, retries...): runbase chose them,
    so the warning says nothing to the user."""
    optuna = load()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def quiet_logging() -> None:
    """Optuna logs every finished trial at INFO; runbase shows its own progress instead."""
    optuna = load()
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@contextmanager
def quiet() -> Iterator[None]:
    """Optuna's INFO logging off for a moment (creating a study announces it)."""
    optuna = load()
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def _build(what: str, factory: Callable[..., Any], options: dict[str, Any]) -> Any:
    try:
        with tolerant():
            return factory(**options)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"sweep spec: {what}: {exc}") from None


def make_sampler(spec: SweepSpec, seed: int | None) -> optuna.samplers.BaseSampler:
    """The spec's sampler. ``seed`` differs per agent, so parallel agents do not propose the
    same configurations."""
    optuna = load()
    s = optuna.samplers
    options: dict[str, Any] = {"seed": seed, **spec.sampler_options}
    if spec.method == "grid":
        from runbase.sweeps._space import grid_search_space

        options["search_space"] = grid_search_space(spec)
        return _build("method grid", s.GridSampler, options)  # type: ignore[no-any-return]
    factories: dict[str, Callable[..., Any]] = {
        "random": s.RandomSampler,
        "tpe": s.TPESampler,
        "qmc": s.QMCSampler,
        "cmaes": s.CmaEsSampler,
        "gp": s.GPSampler,
        "nsga2": s.NSGAIISampler,
    }
    return _build(f"method {spec.method} (sampler_options)", factories[spec.method], options)  # type: ignore[no-any-return]


def make_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    optuna = load()
    p = optuna.pruners
    options = dict(spec.pruner.options)
    kind = spec.pruner.type
    if kind == "median":
        options.setdefault("n_startup_trials", 5)
    if kind == "percentile":
        options.setdefault("percentile", 25.0)
    factories: dict[str, Callable[..., Any]] = {
        "none": p.NopPruner,
        "median": p.MedianPruner,
        "percentile": p.PercentilePruner,
        "hyperband": p.HyperbandPruner,
        "asha": p.SuccessiveHalvingPruner,
    }
    return _build(f"pruner {kind}", factories[kind], options)  # type: ignore[no-any-return]


def check(spec: SweepSpec) -> None:
    """Build the sampler and pruner once, so a bad option fails before anything is created."""
    make_sampler(spec, spec.seed)
    make_pruner(spec)


def missing_dependency(name: str, exc: BaseException) -> InvalidInputError:
    extra = _NEEDS.get(name)
    hint = f" (it needs {extra}: pip install {extra.replace(' and ', ' ')})" if extra else ""
    return InvalidInputError(f"{name} cannot run here{hint}: {exc}")
