"""Running one trial's code: a Python function in the agent's process, or a command.

A function gets the trial's parameters as a (nested) dict and runs with the trial's run active,
so ``runbase.log_metric`` and friends log to it; it may return the value (a number, or a dict
of metrics holding the sweep's metric). A command gets them through ``{name}`` placeholders, an
optional config file (``{config_file}``), ``RUNBASE_TRIAL_PARAMS`` (JSON) and the spec's ``env``;
its ``runbase.start_run()`` resumes the trial's run (``RUNBASE_RUN_ID``). Either way, when the
code does not return a value, the value is the sweep's metric as logged on the run (its last,
lowest or highest point, as the spec's ``metric.summary`` says).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from runbase import _fluent
from runbase.client import Client
from runbase.entities import RunStatus
from runbase.errors import InvalidInputError, RunbaseError
from runbase.sweeps import _optuna, report
from runbase.sweeps._space import nest, substitute
from runbase.sweeps.spec import SweepSpec

__all__ = ["Outcome", "load_function", "run_command", "run_function"]

_POLL: Final = 0.25
#: How much of a failed trial's traceback or output is kept on the trial.
_TAIL: Final = 2000


@dataclass(frozen=True)
class Outcome:
    state: Literal["COMPLETE", "PRUNED", "FAIL"]
    value: float | None = None
    error: str | None = None

    @property
    def run_status(self) -> str:
        return RunStatus.FAILED if self.state == "FAIL" else RunStatus.FINISHED


def load_function(ref: str, workdir: str | None = None) -> Callable[..., Any]:
    """``module:function`` or ``path/to/file.py:function`` (relative to ``workdir``)."""
    target, _, attr = ref.rpartition(":")
    try:
        if target.endswith(".py") or "/" in target or os.sep in target:
            path = Path(workdir or ".", target).resolve()
            spec = importlib.util.spec_from_file_location(f"runbase_trial_{path.stem}", path)
            if spec is None or spec.loader is None:
                raise InvalidInputError(f"Cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            sys.path.insert(0, str(path.parent))
            spec.loader.exec_module(module)
        else:
            if workdir and workdir not in sys.path:
                sys.path.insert(0, workdir)
            module = importlib.import_module(target)
        found: Any = module
        for part in attr.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, OSError) as exc:
        raise InvalidInputError(f"Cannot load the sweep's function {ref!r}: {exc}") from exc
    if not callable(found):
        raise InvalidInputError(f"The sweep's function {ref!r} is not callable")
    return found  # type: ignore[no-any-return]


def _tail(text: str) -> str:
    return text if len(text) <= _TAIL else "…" + text[-_TAIL:]


def metric_value(client: Client, run_id: str, spec: SweepSpec) -> float | None:
    """The sweep's metric on the run, summarised as the spec says; None when never logged."""
    cols = client.get_metric_arrays(run_id, spec.metric.name)
    if len(cols) == 0:
        return None
    if spec.metric.summary == "last":
        return float(cols.values[-1])
    finite = [v for v in cols.values.tolist() if not math.isnan(v)]
    if not finite:
        return float("nan")
    return float(min(finite) if spec.metric.summary == "min" else max(finite))


def _value_of(result: Any, spec: SweepSpec) -> float | None:
    if result is None:
        return None
    if isinstance(result, Mapping):
        if spec.metric.name not in result:
            raise InvalidInputError(
                f"The function returned metrics without {spec.metric.name!r}: "
                + ", ".join(sorted(map(str, result)))
            )
        result = result[spec.metric.name]
    if isinstance(result, bool) or not isinstance(result, int | float):
        try:
            return float(result)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"The function returned {result!r}: expected a number, a dict of metrics or None"
            ) from None
    return float(result)


def _finish(context: report.TrialContext, value: float | None, spec: SweepSpec) -> Outcome:
    if context.pruned:
        return Outcome("PRUNED")
    if value is None:
        value = metric_value(context.client, context.run_id, spec)
    if value is None:
        return Outcome(
            "FAIL", error=f"the trial logged no {spec.metric.name!r} and returned nothing"
        )
    if math.isnan(value):
        return Outcome("FAIL", error=f"{spec.metric.name} is NaN")
    return Outcome("COMPLETE", value)


def run_function(
    function: Callable[..., Any], context: report.TrialContext, spec: SweepSpec
) -> Outcome:
    """Call the function with the trial's run active (fluent API) and the trial current; the
    run stays active for the caller to end."""
    optuna = _optuna.load()
    client = context.client
    report.activate(context)
    _fluent.attach_run(context.run_id)
    try:
        result = function(nest(context.params))
        if isinstance(result, Mapping):
            metrics = {
                str(k): float(v)
                for k, v in result.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
            if metrics:
                client.log_batch(context.run_id, _metrics(metrics))
        context.sync()
        outcome = _finish(context, _value_of(result, spec), spec)
    except optuna.TrialPruned:
        context.pruned = True
        outcome = Outcome("PRUNED")
    except Exception as exc:
        text = "".join(traceback.format_exception(exc))
        print(text, file=sys.stderr, flush=True)
        outcome = Outcome("FAIL", error=_tail(text))
    finally:
        report.activate(None)
    return outcome


def _metrics(values: Mapping[str, float]) -> list[Any]:
    from runbase.entities import Metric

    stamp = int(time.time() * 1000)
    return [Metric(k, v, stamp, 0) for k, v in values.items()]


def run_command(
    context: report.TrialContext,
    spec: SweepSpec,
    tracking_uri: str,
    experiment_id: str,
    sweep_id: str,
    workdir: str | None,
) -> Outcome:
    """Run the command, reporting the metric it logs to the trial as it goes; when the pruner
    says stop, leave the verdict on the run and terminate the command if it does not exit
    within ``prune_grace`` seconds."""
    assert spec.command is not None
    client = context.client
    params = context.params
    with tempfile.TemporaryDirectory(prefix="runbase-trial-") as tmp:
        values: dict[str, Any] = {
            **params,
            "run_id": context.run_id,
            "trial": context.trial.number,
            "sweep_id": sweep_id,
        }
        if spec.config_file:
            config = Path(tmp, Path(spec.config_file).name)
            _write_config(config, nest(params))
            values["config_file"] = str(config)
        try:
            argv = shlex.split(substitute(spec.command, values))
            extra = {k: substitute(v, values) for k, v in spec.env.items()}
        except KeyError as exc:
            return Outcome("FAIL", error=f"command: {exc.args[0]}")
        env = {
            **os.environ,
            "RUNBASE_TRACKING_URI": tracking_uri,
            _fluent.RUN_ID_ENV: context.run_id,
            "RUNBASE_EXPERIMENT_ID": experiment_id,
            report.ENV_SWEEP: sweep_id,
            report.ENV_METRIC: spec.metric.name,
            report.ENV_PARAMS: json.dumps(params),
            "RUNBASE_TRIAL_NUMBER": str(context.trial.number),
            **extra,
        }
        env.pop("RUNBASE_EXPERIMENT_NAME", None)
        if "config_file" in values:
            env["RUNBASE_TRIAL_CONFIG"] = str(values["config_file"])
        log_path = Path(tmp, "trial.log")
        with log_path.open("wb") as log:
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=workdir or spec.workdir or None,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                return Outcome("FAIL", error=f"cannot start {argv[0]!r}: {exc}")
            try:
                code = _watch(proc, context, spec)
            except BaseException:
                _stop(proc)
                raise
        output = log_path.read_text(errors="replace")
        try:
            client.log_artifact(context.run_id, log_path)
        except (RunbaseError, OSError) as exc:
            print(f"could not store trial.log: {exc}", file=sys.stderr)
    context.sync()
    if context.pruned:
        return Outcome("PRUNED")
    if code != 0:
        print(_tail(output), file=sys.stderr, flush=True)
        return Outcome("FAIL", error=_tail(f"exit status {code}\n{output}"))
    return _finish(context, None, spec)


def _watch(proc: subprocess.Popen[bytes], context: report.TrialContext, spec: SweepSpec) -> int:
    pruned_at: float | None = None
    terminated_at: float | None = None
    while True:
        code = proc.poll()
        if code is not None:
            return code
        time.sleep(_POLL)
        if pruned_at is None:
            if context.should_prune():
                pruned_at = time.monotonic()
                context.client.set_tag(context.run_id, report.PRUNE_TAG, "true")
        elif terminated_at is None and time.monotonic() - pruned_at > spec.prune_grace:
            _signal(proc, signal.SIGTERM)
            terminated_at = time.monotonic()
        elif terminated_at is not None and time.monotonic() - terminated_at > 10:
            _signal(proc, signal.SIGKILL)


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    _signal(proc, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL)
        proc.wait()


def _write_config(path: Path, params: Mapping[str, Any]) -> None:
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        path.write_text(yaml.safe_dump(dict(params), sort_keys=False))
    else:
        path.write_text(json.dumps(params, indent=2))
