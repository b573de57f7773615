"""Lightning: log a ``Trainer`` to runbase, and prune sweep trials from inside ``fit``.

::

    from lightning.pytorch import Trainer
    from runbase.integrations.lightning import RunbaseLogger, RunbasePruning

    logger = RunbaseLogger(experiment_name="segmentation", log_checkpoints=True)
    trainer = Trainer(logger=logger, callbacks=[RunbasePruning("val_loss")])
    trainer.fit(model, datamodule)

``RunbaseLogger`` logs the hyperparameters (``save_hyperparameters()``, flattened to ``a.b.c``),
every ``self.log(...)`` metric at the trainer's step, and — with ``log_checkpoints`` — the
best and last checkpoints (``"all"``: every one as it is saved) under ``checkpoints/``. Inside
an active run (``with runbase.start_run():``, or a sweep trial) it logs to that run and leaves
ending it to its owner; otherwise it starts a run and ends it with the training's status.
Logging is non-blocking, as everywhere in runbase; the process stays the rank-zero one's.
"""

from __future__ import annotations

import re
import warnings
from argparse import Namespace
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

try:
    from lightning.fabric.loggers.logger import rank_zero_experiment
    from lightning.pytorch.callbacks import Callback, ModelCheckpoint
    from lightning.pytorch.loggers.logger import Logger
    from lightning.pytorch.utilities import rank_zero_only
except ImportError as exc:  # pragma: no cover - exercised without lightning installed
    raise ImportError(
        "runbase.integrations.lightning needs Lightning: pip install 'runbase[lightning]'"
    ) from exc

from runbase import _fluent
from runbase.client import Client, flatten
from runbase.entities import RunStatus

__all__ = ["RunbaseLogger", "RunbasePruning"]

_STATUS: Final = {"success": RunStatus.FINISHED, "finished": RunStatus.FINISHED}
_BAD_KEY_CHARS: Final = re.compile(r"[^/\w.\- :]")
#: What runbase keeps of a param value (its limit); longer ones are cut, with a warning.
_PARAM_LIMIT: Final = 6000


class RunbaseLogger(Logger):
    """A Lightning logger writing to a runbase store or server.

    ``tracking_uri`` defaults to the current one (``RUNBASE_TRACKING_URI`` or ``./runbase.db``);
    ``run_id`` resumes a run; ``prefix`` is put before every metric key.
    """

    def __init__(
        self,
        experiment_name: str = "lightning_logs",
        run_name: str | None = None,
        tracking_uri: str | None = None,
        tags: Mapping[str, Any] | None = None,
        log_checkpoints: bool | Literal["all"] = False,
        prefix: str = "",
        run_id: str | None = None,
    ) -> None:
        super().__init__()
        self._experiment_name = experiment_name
        self._run_name = run_name
        self._tracking_uri = tracking_uri
        self._tags = {k: str(v) for k, v in (tags or {}).items()}
        self._log_checkpoints = log_checkpoints
        self._prefix = prefix
        self._run_id = run_id
        self._client: Client | None = None
        self._owns_run = False
        self._checkpoint_callback: ModelCheckpoint | None = None
        self._logged_checkpoints: dict[str, float] = {}  # path → mtime when logged
        self._warned_keys: set[str] = set()

    # -- the run ---------------------------------------------------------------------------------
    @property
    @rank_zero_experiment
    def experiment(self) -> Client:
        """The runbase :class:`~runbase.Client` the run is logged with (created on first use)."""
        if self._client is not None:
            return self._client
        active = _fluent.active_run_id()
        if self._run_id is None and self._tracking_uri is None and active is not None:
            self._client, self._run_id = _fluent.current_client(), active
            return self._client
        client = Client(self._tracking_uri) if self._tracking_uri else _fluent.current_client()
        if self._run_id is None:
            found = client.get_experiment_by_name(self._experiment_name)
            experiment_id = (
                found.experiment_id if found else client.create_experiment(self._experiment_name)
            )
            run = client.create_run(experiment_id, tags=self._tags, run_name=self._run_name)
            self._run_id = run.info.run_id
            self._owns_run = True
        elif self._tags:
            client.set_tags(self._run_id, self._tags)
        self._client = client
        return client

    @property
    def run_id(self) -> str:
        self.experiment  # noqa: B018 - creates the run on first use
        assert self._run_id is not None
        return self._run_id

    @property
    def name(self) -> str:
        return self._experiment_name

    @property
    def version(self) -> str:
        return self.run_id

    @property
    def save_dir(self) -> str | None:
        return None

    # -- logging -------------------------------------------------------------------------------
    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        raw = vars(params) if isinstance(params, Namespace) else dict(params)
        values = {}
        for key, value in flatten(raw).items():
            text = str(value)
            if len(text) > _PARAM_LIMIT:
                warnings.warn(
                    f"runbase: hyperparameter {key!r} is {len(text)} characters long; "
                    f"keeping its first {_PARAM_LIMIT}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                text = text[:_PARAM_LIMIT]
            values[self._key(key)] = text
        if values:
            self.experiment.log_params(self.run_id, values)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        client, run_id = self.experiment, self.run_id
        for key, value in metrics.items():
            if isinstance(value, str):
                continue  # Lightning passes a few strings along; a metric is a number
            client.log_metric(run_id, self._key(self._prefix + key), float(value), step=step or 0)

    def _key(self, key: str) -> str:
        clean = _BAD_KEY_CHARS.sub("_", key)
        if clean != key and key not in self._warned_keys:
            self._warned_keys.add(key)
            warnings.warn(
                f"runbase: {key!r} holds characters a key may not; logging it as {clean!r}",
                RuntimeWarning,
                stacklevel=3,
            )
        return clean

    # -- checkpoints -----------------------------------------------------------------------------
    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        if self._log_checkpoints == "all":
            self._log_new_checkpoints(checkpoint_callback)
        elif self._log_checkpoints:
            self._checkpoint_callback = checkpoint_callback

    def _log_new_checkpoints(self, callback: ModelCheckpoint) -> None:
        client, run_id = self.experiment, self.run_id
        paths = {callback.best_model_path, callback.last_model_path}
        paths |= set(getattr(callback, "best_k_models", {}) or {})
        for path in sorted(p for p in paths if p and Path(p).is_file()):
            mtime = Path(path).stat().st_mtime
            if self._logged_checkpoints.get(path) == mtime:
                continue
            client.log_artifact(run_id, path, "checkpoints")
            self._logged_checkpoints[path] = mtime
        if callback.best_model_path:
            tags = {"runbase.checkpoint.best": f"checkpoints/{Path(callback.best_model_path).name}"}
            if callback.best_model_score is not None:
                tags["runbase.checkpoint.best_score"] = str(float(callback.best_model_score))
            if callback.monitor:
                tags["runbase.checkpoint.monitor"] = str(callback.monitor)
            client.set_tags(run_id, tags)

    # -- the end ---------------------------------------------------------------------------------
    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._client is None:
            return  # nothing was logged, no run was made
        if self._checkpoint_callback is not None:
            self._log_new_checkpoints(self._checkpoint_callback)
        if self._owns_run:
            self._client.set_terminated(self.run_id, _STATUS.get(status, RunStatus.FAILED))
        else:
            self._client.flush()


class RunbasePruning(Callback):
    """Stop a sweep trial its pruner gives up on: after each validation, check
    :func:`runbase.should_prune` and stop the trainer when it says so; the trial then counts as
    pruned. Outside a sweep it does nothing.

    With a :class:`RunbaseLogger` on the trainer, the sweep's metric as the module logs it is
    what the pruner judges, at the steps it is logged at (the trainer's global step). Without
    one, the callback reports ``monitor`` (default: the sweep's metric) itself, at the global
    step too.
    """

    def __init__(self, monitor: str | None = None) -> None:
        super().__init__()
        self.monitor = monitor

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        from runbase.sweeps import report

        metric = report.sweep_metric()
        if trainer.sanity_checking or metric is None:
            return
        trial_run = _fluent.active_run_id()
        logged = any(
            isinstance(lg, RunbaseLogger) and lg._run_id is not None and lg._run_id == trial_run
            for lg in trainer.loggers
        )
        if not logged or (self.monitor and self.monitor != metric):
            key = self.monitor or metric
            value = trainer.callback_metrics.get(key)
            if value is None:
                warnings.warn(
                    f"runbase: RunbasePruning found no {key!r} among the logged metrics "
                    f"({', '.join(sorted(trainer.callback_metrics)) or 'none'})",
                    RuntimeWarning,
                    stacklevel=2,
                )
                return
            report.report(float(value), step=trainer.global_step)
        if report.should_prune():
            trainer.should_stop = True
