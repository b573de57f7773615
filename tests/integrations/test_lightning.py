"""The Lightning logger and pruning callback, with real Lightning training small models on CPU."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")

import runbase  # noqa: E402
from runbase import sweeps  # noqa: E402
from runbase.integrations.lightning import RunbaseLogger, RunbasePruning  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    # Lightning's advice for real workloads, not faults of these tiny ones.
    "ignore:.*does not have many workers:UserWarning",
    "ignore:.*number of training batches.*is smaller than the logging interval:UserWarning",
    # Lightning 2.6 on torch 2.13 uses a torch API torch has deprecated; not ours to fix.
    "ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated:FutureWarning",
)

EPOCHS = 4


class Regressor(pl.LightningModule):  # type: ignore[misc]
    """y = 3x + 1 with noise; ``lr`` and ``hidden`` change how well it learns."""

    def __init__(self, lr: float = 0.05, model: dict[str, Any] | None = None, fail_at: int = -1):
        super().__init__()
        self.save_hyperparameters()
        hidden = (model or {}).get("hidden", 8)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(1, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
        )

    def forward(self, x: Any) -> Any:
        return self.net(x)

    def training_step(self, batch: Any, index: int) -> Any:
        if self.current_epoch == self.hparams.fail_at:
            raise RuntimeError("diverged")
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch: Any, index: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self(x), y), prog_bar=False)

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def _loaders(seed: int = 0) -> tuple[Any, Any]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(256, 1, generator=generator)
    y = 3 * x + 1 + 0.05 * torch.randn(256, 1, generator=generator)
    train = torch.utils.data.TensorDataset(x[:192], y[:192])
    val = torch.utils.data.TensorDataset(x[192:], y[192:])
    return (
        torch.utils.data.DataLoader(train, batch_size=32, shuffle=True, generator=generator),
        torch.utils.data.DataLoader(val, batch_size=64),
    )


def _trainer(root: Path, logger: Any, *callbacks: Any, epochs: int = EPOCHS) -> Any:
    return pl.Trainer(
        max_epochs=epochs,
        logger=logger,
        callbacks=list(callbacks),
        default_root_dir=root,
        accelerator="cpu",
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )


def test_logger_logs_params_metrics_and_checkpoints(tmp_path: Path) -> None:
    uri = str(tmp_path / "runs.db")
    logger = RunbaseLogger("regression", run_name="mlp", tracking_uri=uri, log_checkpoints=True)
    checkpoints = pl.callbacks.ModelCheckpoint(
        dirpath=tmp_path / "ckpt", monitor="val_loss", save_top_k=1, save_last=True
    )
    model = Regressor(lr=0.05, model={"hidden": 8})
    _trainer(tmp_path, logger, checkpoints).fit(model, *_loaders())

    client = runbase.Client(uri)
    try:
        run = client.get_run(logger.run_id)
        assert run.info.run_name == "mlp" and run.info.status == "FINISHED"
        assert logger.version == run.info.run_id and logger.name == "regression"
        assert run.data.params["lr"] == "0.05" and run.data.params["model.hidden"] == "8"
        val = client.get_metric_history(run.info.run_id, "val_loss")
        assert len(val) == EPOCHS  # one point per validation epoch
        train = client.get_metric_history(run.info.run_id, "train_loss")
        assert len(train) == EPOCHS * 6 and [m.step for m in train] == list(range(EPOCHS * 6))
        assert run.data.summaries["epoch"].last == EPOCHS - 1

        best = run.data.tags["runbase.checkpoint.best"]
        assert best == f"checkpoints/{Path(checkpoints.best_model_path).name}"
        assert float(run.data.tags["runbase.checkpoint.best_score"]) == pytest.approx(
            float(checkpoints.best_model_score)
        )
        files = {f.path for f in client.list_artifacts(run.info.run_id, "checkpoints")}
        assert files == {best, "checkpoints/last.ckpt"}
        local = client.download_artifacts(run.info.run_id, best, tmp_path / "dl")
        state = torch.load(local, map_location="cpu", weights_only=False)
        restored = Regressor(lr=0.05, model={"hidden": 8})
        restored.load_state_dict(state["state_dict"])
    finally:
        client.close()


def test_inside_an_active_run_it_logs_there_and_leaves_the_end_to_its_owner(
    tmp_path: Path,
) -> None:
    runbase.set_tracking_uri(tmp_path / "runs.db")
    with runbase.start_run(run_name="outer") as run:
        logger = RunbaseLogger()
        _trainer(tmp_path, logger, epochs=1).fit(Regressor(), *_loaders())
        assert logger.run_id == run.info.run_id
        assert runbase.get_run(run.info.run_id).info.status == "RUNNING"
        runbase.log_metric("after_fit", 1.0)
    stored = runbase.get_run(run.info.run_id)
    assert stored.info.status == "FINISHED"
    assert {"val_loss", "train_loss", "after_fit"} <= set(stored.data.summaries)


def test_a_failed_fit_marks_the_run_failed(tmp_path: Path) -> None:
    uri = str(tmp_path / "runs.db")
    logger = RunbaseLogger(tracking_uri=uri)
    with pytest.raises(RuntimeError, match="diverged"):
        _trainer(tmp_path, logger).fit(Regressor(fail_at=1), *_loaders())
    client = runbase.Client(uri)
    try:
        run = client.get_run(logger.run_id)
        assert run.info.status == "FAILED"
        assert len(client.get_metric_history(run.info.run_id, "val_loss")) == 1  # epoch 0
    finally:
        client.close()


def _trial(params: dict[str, Any]) -> None:
    model = Regressor(lr=params["lr"], model={"hidden": 4})
    trainer = _trainer(params["root"], RunbaseLogger(), RunbasePruning(), epochs=6)
    trainer.fit(model, *_loaders())


def test_pruning_callback_stops_hopeless_trials(tmp_path: Path) -> None:
    spec = {
        "name": "lightning-lr",
        "method": "grid",
        "metric": {"name": "val_loss", "goal": "minimize"},
        # Steps are the trainer's (6 batches an epoch): the first epoch is the warm-up.
        "pruner": {"type": "median", "n_startup_trials": 2, "n_warmup_steps": 6},
        "function": _trial,
        # Good learning rates first (the pruner's start-up trials), then poor ones.
        "parameters": {"lr": [0.3, 0.2, 1e-4, 1e-5], "root": str(tmp_path / "trainer")},
    }
    info = sweeps.run(
        spec, tracking_uri=str(tmp_path / "runs.db"), progress=False, out=io.StringIO()
    )
    store_reader = sweeps.SweepReader(
        runbase.Client(str(tmp_path / "runs.db")).store, info.sweep_id
    )
    ordered = sorted(store_reader.trials(), key=lambda t: t.number)
    assert [t.params["lr"] for t in ordered] == [0.3, 0.2, 1e-4, 1e-5]  # a grid runs in order
    trials = {t.params["lr"]: t for t in ordered}
    assert {trials[lr].state for lr in (0.3, 0.2)} == {"COMPLETE"}
    assert {trials[lr].state for lr in (1e-4, 1e-5)} == {"PRUNED"}
    client = runbase.Client(str(tmp_path / "runs.db"))
    for lr in (1e-4, 1e-5):  # stopped after the pruner's warm-up, well before 6 epochs
        run_id = trials[lr].run_id
        assert run_id is not None
        assert 2 <= len(client.get_metric_history(run_id, "val_loss")) < 6
    assert len(client.get_metric_history(trials[0.3].run_id or "", "val_loss")) == 6
    client.close()
