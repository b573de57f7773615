"""The sweep spec: what to run, over which parameters, how to search, what to optimise.

A spec is a YAML file or a Python dict; :func:`parse_spec` checks all of it and says where a
mistake is (``sweep spec: parameters.lr: low must be below high``). The parsed form,
:class:`SweepSpec`, is frozen; :meth:`SweepSpec.to_dict` is its canonical JSON form, which is what
the store keeps, so an agent on another machine runs exactly the same sweep.

.. code-block:: yaml

    name: digits-mlp
    experiment: digits
    method: tpe                   # grid, random, tpe, qmc, cmaes, gp, nsga2
    metric: {name: val_accuracy, goal: maximize}
    pruner: {type: median, n_warmup_steps: 5}    # none, median, percentile, hyperband, asha
    max_trials: 24
    timeout: 600                  # seconds each agent keeps starting trials
    seed: 0
    command: python train.py --lr {optimizer.lr} --hidden {model.hidden}
    parameters:
      optimizer:
        lr: {type: float, low: 1e-4, high: 1e-1, log: true}
        weight_decay: [0.0, 1e-4]            # a list: choose among these
      model:
        hidden: {type: int, low: 16, high: 128, step: 16}
        architecture: mlp                    # a plain value: fixed

Parameter kinds: ``categorical`` (``values``, or a plain list), ``int`` and ``float`` (``low``,
``high``, optional ``log`` and ``step``; ``log_uniform`` is a float with ``log: true``),
``fixed`` (``value``, or a plain scalar). A mapping without a kind is a group: its entries are
named ``group.entry``. A grid sweep needs every parameter enumerable (values lists, ints, or
floats with a ``step``) and runs each combination exactly once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from runbase.errors import InvalidInputError

__all__ = [
    "GOALS",
    "METHODS",
    "PRUNERS",
    "MetricSpec",
    "ParamSpec",
    "PrunerSpec",
    "SpecError",
    "SweepSpec",
    "load_spec",
    "parse_spec",
]

#: Search methods, each an Optuna sampler (see ``runbase.sweeps._optuna``).
METHODS: Final = ("grid", "random", "tpe", "qmc", "cmaes", "gp", "nsga2")
#: Pruners, each an Optuna pruner; ``asha`` is asynchronous successive halving.
PRUNERS: Final = ("none", "median", "percentile", "hyperband", "asha")
GOALS: Final = ("minimize", "maximize")
SUMMARIES: Final = ("last", "min", "max")

_KINDS: Final = ("categorical", "int", "float", "fixed")
_KIND_ALIASES: Final = {
    "categorical": "categorical",
    "choice": "categorical",
    "int": "int",
    "integer": "int",
    "float": "float",
    "uniform": "float",
    "log_uniform": "float",
    "loguniform": "float",
    "fixed": "fixed",
    "constant": "fixed",
}
_PARAM_KEYS: Final = frozenset(("type", "values", "value", "low", "high", "log", "step"))
_NAME_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
#: YAML 1.1 reads ``1e-4`` (no dot) as a string; such strings are taken as the numbers meant.
_EXP_NUMBER: Final = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")
_GOAL_ALIASES: Final = {"min": "minimize", "minimize": "minimize", "max": "maximize"}
_GOAL_ALIASES["maximize"] = "maximize"
#: Grids larger than this are refused: a typo, not a plan.
MAX_GRID: Final = 100_000

Scalar = str | int | float | bool | None


class SpecError(InvalidInputError):
    """A sweep spec breaks a rule; the message names the field."""


def _fail(where: str, message: str) -> SpecError:
    return SpecError(f"sweep spec: {where}: {message}" if where else f"sweep spec: {message}")


@dataclass(frozen=True)
class ParamSpec:
    """One parameter. ``name`` is dotted for grouped parameters (``optimizer.lr``)."""

    name: str
    kind: Literal["categorical", "int", "float", "fixed"]
    values: tuple[Scalar, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None

    def grid_values(self) -> list[Scalar]:
        """Every value a grid visits."""
        if self.kind in ("categorical", "fixed"):
            return list(self.values)
        assert self.low is not None and self.high is not None
        step = self.step if self.step is not None else 1
        count = math.floor((self.high - self.low) / step + 1e-9) + 1
        if self.kind == "int":
            return [int(self.low + i * step) for i in range(count)]
        return [round(self.low + i * step, 12) for i in range(count)]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind}
        if self.kind == "fixed":
            out["value"] = self.values[0]
        elif self.kind == "categorical":
            out["values"] = list(self.values)
        else:
            out.update(low=self.low, high=self.high)
            if self.log:
                out["log"] = True
            if self.step is not None:
                out["step"] = self.step
        return out

    def describe(self) -> str:
        """A short text: ``[16, 32, 64]``, ``float 0.0001..0.1 log``, ``= mlp``."""
        if self.kind == "fixed":
            return f"= {self.values[0]}"
        if self.kind == "categorical":
            return "[" + ", ".join(str(v) for v in self.values) + "]"
        text = f"{self.kind} {_num(self.low)}..{_num(self.high)}"
        if self.step is not None:
            text += f" step {_num(self.step)}"
        return text + (" log" if self.log else "")


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


@dataclass(frozen=True)
class MetricSpec:
    """What the sweep optimises: a metric the trials log, and which way is better.

    ``summary`` says which point of the metric's history is the trial's value when the trial
    code does not return one: the last (default), the lowest or the highest.
    """

    name: str
    goal: Literal["minimize", "maximize"] = "minimize"
    summary: Literal["last", "min", "max"] = "last"

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a < b if self.goal == "minimize" else a > b


@dataclass(frozen=True)
class PrunerSpec:
    type: str = "none"
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep spec. Build one with :func:`parse_spec` or :func:`load_spec`."""

    name: str
    metric: MetricSpec
    parameters: tuple[ParamSpec, ...]
    method: str = "tpe"
    sampler_options: Mapping[str, Any] = field(default_factory=dict)
    pruner: PrunerSpec = field(default_factory=PrunerSpec)
    max_trials: int | None = None
    timeout: float | None = None
    seed: int | None = None
    experiment: str | None = None
    parallel: int = 1
    #: Times a trial whose agent died is handed out again.
    max_retries: int = 3
    #: Seconds an agent may go without a heartbeat before its trials are given up and re-run.
    heartbeat_timeout: float = 60.0
    #: ``module:function`` or ``path/to/file.py:function``; or a callable (in-process only).
    function: str | Callable[..., Any] | None = None
    command: str | None = None
    config_file: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str | None = None
    #: Seconds a pruned command gets to exit on its own before it is terminated.
    prune_grace: float = 10.0

    @property
    def budget(self) -> int:
        """How many trials the sweep runs (retries of trials whose agent died not counted)."""
        if self.method == "grid":
            size = self.grid_size()
            return size if self.max_trials is None else min(size, self.max_trials)
        if self.max_trials is None:
            return 2**62  # until the timeout
        return self.max_trials

    def grid_size(self) -> int:
        size = 1
        for param in self.parameters:
            size *= len(param.grid_values())
        return size

    @property
    def searched(self) -> tuple[ParamSpec, ...]:
        return tuple(p for p in self.parameters if p.kind != "fixed")

    @property
    def fixed(self) -> dict[str, Scalar]:
        return {p.name: p.values[0] for p in self.parameters if p.kind == "fixed"}

    @property
    def in_process(self) -> bool:
        """Whether the trial code is a Python object, which only this process can run."""
        return callable(self.function)

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form; ``parse_spec(spec.to_dict())`` gives the spec back."""
        out: dict[str, Any] = {
            "name": self.name,
            "method": self.method,
            "metric": {
                "name": self.metric.name,
                "goal": self.metric.goal,
                "summary": self.metric.summary,
            },
            "pruner": {"type": self.pruner.type, **self.pruner.options},
            "parameters": _nested({p.name: p.to_dict() for p in self.parameters}),
            "parallel": self.parallel,
            "max_retries": self.max_retries,
            "heartbeat_timeout": self.heartbeat_timeout,
            "prune_grace": self.prune_grace,
        }
        optional = {
            "sampler_options": dict(self.sampler_options) or None,
            "max_trials": self.max_trials,
            "timeout": self.timeout,
            "seed": self.seed,
            "experiment": self.experiment,
            "command": self.command,
            "config_file": self.config_file,
            "env": dict(self.env) or None,
            "workdir": self.workdir,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        if self.function is not None:
            out["function"] = _function_name(self.function)
            if callable(self.function):
                out["in_process"] = True
        return out


def _nested(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in flat.items():
        *groups, leaf = name.split(".")
        node = out
        for group in groups:
            node = node.setdefault(group, {})
        node[leaf] = value
    return out


def _function_name(function: str | Callable[..., Any]) -> str:
    if isinstance(function, str):
        return function
    module = getattr(function, "__module__", None) or "__main__"
    return f"{module}:{getattr(function, '__qualname__', repr(function))}"


# -- parsing -------------------------------------------------------------------------------------
_TOP_KEYS: Final = frozenset(
    (
        "name",
        "experiment",
        "method",
        "sampler_options",
        "metric",
        "goal",
        "pruner",
        "parameters",
        "max_trials",
        "timeout",
        "seed",
        "parallel",
        "max_retries",
        "heartbeat_timeout",
        "function",
        "command",
        "config_file",
        "env",
        "workdir",
        "prune_grace",
        "in_process",
    )
)


def load_spec(path: str | Path) -> SweepSpec:
    """Read a YAML (or JSON) spec file; its name defaults to the file's stem."""
    import yaml

    source = Path(path)
    try:
        data = yaml.safe_load(source.read_text())
    except OSError as exc:
        raise SpecError(f"sweep spec: cannot read {source}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"sweep spec: {source} is not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise SpecError(f"sweep spec: {source} must hold a mapping of settings")
    data = dict(data)
    data.setdefault("name", source.stem)
    if data.get("workdir") is None and data.get("command") is not None:
        data["workdir"] = str(source.resolve().parent)
    return parse_spec(data)


def parse_spec(data: Mapping[str, Any] | SweepSpec) -> SweepSpec:
    """Check a spec given as a mapping and return its frozen form."""
    if isinstance(data, SweepSpec):
        return data
    if not isinstance(data, Mapping):
        raise _fail("", f"expected a mapping of settings, got {type(data).__name__}")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise _fail(unknown[0], f"unknown setting (known: {', '.join(sorted(_TOP_KEYS))})")
    method = _choice("method", data.get("method", "tpe"), METHODS)
    params = tuple(_parameters(data.get("parameters")))
    metric = _metric(data.get("metric"), data.get("goal"))
    pruner = _pruner(data.get("pruner", "none"))
    function, command = data.get("function"), data.get("command")
    if (function is None) == (command is None):
        raise _fail("", "give exactly one of `function` (module:function) or `command`")
    if function is not None and not callable(function) and not data.get("in_process"):
        _function_ref(function)  # an in-process function is only named, for people
    if command is not None and (not isinstance(command, str) or not command.strip()):
        raise _fail("command", "expected a non-empty string")
    if command is None:
        for key in ("config_file", "env"):
            if data.get(key) is not None:
                raise _fail(key, "only applies to a `command`")
    spec = SweepSpec(
        name=_name(data.get("name", "sweep")),
        metric=metric,
        parameters=params,
        method=method,
        sampler_options=_options("sampler_options", data.get("sampler_options")),
        pruner=pruner,
        max_trials=_optional_int("max_trials", data.get("max_trials"), 1),
        timeout=_optional_float("timeout", data.get("timeout")),
        seed=_optional_int("seed", data.get("seed"), 0),
        experiment=_optional_str("experiment", data.get("experiment")),
        parallel=_optional_int("parallel", data.get("parallel"), 1) or 1,
        max_retries=_int_or("max_retries", data.get("max_retries"), 3, 0),
        heartbeat_timeout=_optional_float("heartbeat_timeout", data.get("heartbeat_timeout"))
        or 60.0,
        function=function,
        command=command,
        config_file=_optional_str("config_file", data.get("config_file")),
        env=_env(data.get("env")),
        workdir=_optional_str("workdir", data.get("workdir")),
        prune_grace=_optional_float("prune_grace", data.get("prune_grace")) or 10.0,
    )
    if method == "grid":
        _check_grid(params)
    elif spec.max_trials is None and spec.timeout is None:
        raise _fail("max_trials", f"a {method} sweep needs `max_trials` or `timeout`")
    if not spec.searched and method != "grid":
        raise _fail("parameters", "nothing to search: every parameter is fixed")
    return spec


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise _fail("name", "expected a non-empty string of at most 200 characters")
    return value.strip()


def _choice(where: str, value: Any, allowed: Iterable[str]) -> str:
    options = tuple(allowed)
    if not isinstance(value, str) or value.lower() not in options:
        raise _fail(where, f"{value!r} is not one of {', '.join(options)}")
    return value.lower()


def _metric(value: Any, goal: Any) -> MetricSpec:
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, Mapping) or "name" not in value:
        raise _fail("metric", "expected a metric name, or {name: ..., goal: minimize|maximize}")
    extra = sorted(set(value) - {"name", "goal", "summary"})
    if extra:
        raise _fail(f"metric.{extra[0]}", "unknown setting (known: name, goal, summary)")
    name = value["name"]
    if not isinstance(name, str) or not name.strip():
        raise _fail("metric.name", "expected a metric name")
    raw_goal = value.get("goal", goal if goal is not None else "minimize")
    if not isinstance(raw_goal, str) or raw_goal.lower() not in _GOAL_ALIASES:
        raise _fail("metric.goal", f"{raw_goal!r} is not one of minimize, maximize")
    summary = _choice("metric.summary", value.get("summary", "last"), SUMMARIES)
    return MetricSpec(name.strip(), _GOAL_ALIASES[raw_goal.lower()], summary)  # type: ignore[arg-type]


def _pruner(value: Any) -> PrunerSpec:
    if value is None or value is False:
        return PrunerSpec()
    if isinstance(value, str):
        return PrunerSpec(_choice("pruner", value, PRUNERS))
    if not isinstance(value, Mapping) or "type" not in value:
        raise _fail("pruner", f"expected one of {', '.join(PRUNERS)}, or {{type: ..., ...}}")
    options = {k: v for k, v in value.items() if k != "type"}
    for key in options:
        if not isinstance(key, str) or not key.isidentifier():
            raise _fail(f"pruner.{key}", "option names are identifiers")
    return PrunerSpec(_choice("pruner.type", value["type"], PRUNERS), options)


def _options(where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and k.isidentifier() for k in value
    ):
        raise _fail(where, "expected a mapping of option names to values")
    return dict(value)


def _optional_int(where: str, value: Any, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(where, f"expected an integer of at least {minimum}, got {value!r}")
    return value


def _int_or(where: str, value: Any, default: int, minimum: int) -> int:
    found = _optional_int(where, value, minimum)
    return default if found is None else found


def _optional_float(where: str, value: Any) -> float | None:
    if value is None:
        return None
    value = _coerce(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise _fail(where, f"expected a positive number of seconds, got {value!r}")
    return float(value)


def _optional_str(where: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _fail(where, f"expected a non-empty string, got {value!r}")
    return value


def _env(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail("env", "expected a mapping of variable names to values")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise _fail(f"env.{key}", "not a valid environment variable name")
        out[key] = str(item)
    return out


def _function_ref(value: Any) -> str:
    if not isinstance(value, str) or ":" not in value:
        raise _fail(
            "function", f"expected 'module:function' or 'path/file.py:function', got {value!r}"
        )
    target, _, attr = value.rpartition(":")
    if not target or not attr.replace(".", "_").isidentifier():
        raise _fail(
            "function", f"expected 'module:function' or 'path/file.py:function', got {value!r}"
        )
    return value


# -- parameters ----------------------------------------------------------------------------------
def _parameters(value: Any) -> list[ParamSpec]:
    if not isinstance(value, Mapping) or not value:
        raise _fail("parameters", "expected a mapping of parameter names to definitions")
    out: list[ParamSpec] = []
    _walk(value, "", out)
    return out


def _is_definition(value: Mapping[str, Any]) -> bool:
    """A parameter's definition, as opposed to a group of parameters (whose entries are
    mappings or plain values, but which cannot hold only definition keys with plain values)."""
    return (
        bool(value)
        and set(value) <= _PARAM_KEYS
        and bool(set(value) & {"type", "values", "value", "low", "high"})
        and not any(isinstance(v, Mapping) for v in value.values())
    )


def _walk(group: Mapping[str, Any], prefix: str, out: list[ParamSpec]) -> None:
    for key, value in group.items():
        if not isinstance(key, str) or not _NAME_RE.match(key):
            raise _fail(
                f"parameters.{prefix}{key}",
                "parameter names are letters, digits, '_' and '-', starting with a letter",
            )
        name = prefix + key
        if isinstance(value, Mapping) and not _is_definition(value):
            if not value:
                raise _fail(f"parameters.{name}", "an empty group")
            _walk(value, name + ".", out)
        else:
            out.append(_param(name, value))


def _coerce(value: Any) -> Any:
    if isinstance(value, str) and _EXP_NUMBER.match(value.strip()):
        return float(value)
    return value


def _scalar(where: str, value: Any) -> Scalar:
    value = _coerce(value)
    if value is not None and not isinstance(value, str | int | float | bool):
        raise _fail(where, f"values are numbers, strings, booleans or null, not {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(where, f"values must be finite, not {value!r}")
    return value


def _param(name: str, value: Any) -> ParamSpec:
    where = f"parameters.{name}"
    if isinstance(value, list | tuple):
        value = {"values": value}
    elif not isinstance(value, Mapping):
        value = {"value": value}
    raw_kind = value.get("type")
    if raw_kind is None:
        raw_kind = "fixed" if "value" in value else "categorical" if "values" in value else None
    if not isinstance(raw_kind, str) or raw_kind.lower() not in _KIND_ALIASES:
        raise _fail(where, f"type {raw_kind!r} is not one of {', '.join(_KINDS)}, log_uniform")
    kind = _KIND_ALIASES[raw_kind.lower()]
    log = value.get("log", raw_kind.lower() in ("log_uniform", "loguniform"))
    if not isinstance(log, bool):
        raise _fail(f"{where}.log", "expected true or false")
    if kind == "fixed":
        if "value" not in value or set(value) - {"type", "value"}:
            raise _fail(where, "a fixed parameter has exactly one `value`")
        return ParamSpec(name, "fixed", (_scalar(where, value["value"]),))
    if "values" in value:
        return _listed(where, name, kind, value)
    if kind == "categorical":
        raise _fail(where, "a categorical parameter needs `values: [...]`")
    return _ranged(where, name, kind, value, log)


def _listed(where: str, name: str, kind: str, value: Mapping[str, Any]) -> ParamSpec:
    extra = sorted(set(value) - {"type", "values"})
    if extra:
        raise _fail(f"{where}.{extra[0]}", "does not go with `values`")
    raw = value["values"]
    if not isinstance(raw, list | tuple) or not raw:
        raise _fail(f"{where}.values", "expected a non-empty list")
    values = tuple(_scalar(f"{where}.values", v) for v in raw)
    if len(set(map(repr, values))) != len(values):
        raise _fail(f"{where}.values", "lists a value twice")
    if kind in ("int", "float"):
        wanted = int if kind == "int" else (int, float)
        if not all(isinstance(v, wanted) and not isinstance(v, bool) for v in values):
            raise _fail(f"{where}.values", f"a {kind} parameter lists numbers only")
    return ParamSpec(name, "categorical", values)


def _ranged(where: str, name: str, kind: str, value: Mapping[str, Any], log: bool) -> ParamSpec:
    if "low" not in value or "high" not in value:
        raise _fail(where, f"a {kind} parameter needs `low` and `high` (or `values: [...]`)")
    low, high = (_coerce(value[k]) for k in ("low", "high"))
    step = _coerce(value.get("step"))
    for key, item in (("low", low), ("high", high), ("step", step)):
        if item is None and key == "step":
            continue
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise _fail(f"{where}.{key}", f"expected a number, got {item!r}")
        if kind == "int" and not float(item).is_integer():
            raise _fail(f"{where}.{key}", f"an int parameter takes whole numbers, got {item!r}")
    if not low < high:
        raise _fail(where, f"low ({low}) must be below high ({high})")
    if step is not None and step <= 0:
        raise _fail(f"{where}.step", "must be positive")
    if log:
        if low <= 0:
            raise _fail(f"{where}.low", "a log scale needs low > 0")
        if step is not None and not (kind == "int" and step == 1):
            raise _fail(f"{where}.step", "a log scale takes no step")
    if kind == "int":
        return ParamSpec(name, "int", low=int(low), high=int(high), log=log, step=int(step or 1))
    return ParamSpec(name, "float", low=float(low), high=float(high), log=log, step=step)


def _check_grid(params: tuple[ParamSpec, ...]) -> None:
    size = 1
    for p in params:
        if p.kind == "float" and p.step is None:
            raise _fail(
                f"parameters.{p.name}",
                "a grid needs the values to try: give `values: [...]` (or a `step`)",
            )
        size *= len(p.grid_values())
        if size > MAX_GRID:
            raise _fail("parameters", f"the grid has more than {MAX_GRID} combinations")
