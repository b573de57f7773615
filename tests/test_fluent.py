"""The module-level API, used as an MLflow user would use it."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import runbase
from runbase.errors import InvalidInputError


@pytest.fixture(autouse=True)
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNBASE_TRACKING_URI", raising=False)
    db = tmp_path / "store.db"
    runbase.set_tracking_uri(db)
    yield db
    while runbase.active_run() is not None:
        runbase.end_run()


def test_quickstart_flow() -> None:
    runbase.set_experiment("quickstart")
    with runbase.start_run(run_name="baseline", tags={"team": "vision"}) as run:
        runbase.log_params({"lr": 0.001, "model": {"encoder": {"depth": 4}}, "arch": "unet"})
        for epoch in range(5):
            runbase.log_metrics({"train_loss": 1 / (epoch + 1), "val_dice": epoch / 10}, step=epoch)
        runbase.set_tag("stage", "dev")
    got = runbase.get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and got.info.end_time is not None
    assert got.info.run_name == "baseline"
    assert got.data.params == {"lr": "0.001", "model.encoder.depth": "4", "arch": "unet"}
    assert got.data.metrics == {"train_loss": 0.2, "val_dice": 0.4}
    assert got.data.tags["team"] == "vision" and got.data.tags["stage"] == "dev"
    assert got.data.tags["mlflow.source.type"] == "LOCAL"
    history = runbase.Client(runbase.get_tracking_uri()).get_metric_history(
        run.info.run_id, "train_loss"
    )
    assert [m.step for m in history] == [0, 1, 2, 3, 4]


def test_generated_run_name_and_default_experiment() -> None:
    with runbase.start_run() as run:
        pass
    assert run.info.experiment_id == "0"
    assert run.info.run_name.count("-") == 2


def test_exception_marks_run_failed() -> None:
    def train() -> str:
        with runbase.start_run() as run:
            runbase.log_metric("loss", 1.0)
            _ = 1 / 0
        return run.info.run_id

    with pytest.raises(ZeroDivisionError):
        train()
    run = runbase.get_run(runbase.last_active_run_id() or "")
    got = runbase.get_run(run.info.run_id)
    assert got.info.status == "FAILED"
    assert got.data.metrics == {"loss": 1.0}  # pending points are stored before the run ends


def test_nested_runs_and_parent_tag() -> None:
    with runbase.start_run() as parent:
        with pytest.raises(InvalidInputError, match="already active"):
            runbase.start_run()
        with runbase.start_run(nested=True) as child:
            assert runbase.active_run().info.run_id == child.info.run_id  # type: ignore[union-attr]
        assert runbase.active_run().info.run_id == parent.info.run_id  # type: ignore[union-attr]
    assert runbase.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert runbase.active_run() is None


def test_resume_run_by_id() -> None:
    with runbase.start_run() as run:
        runbase.log_metric("m", 1.0, step=0)
    with runbase.start_run(run_id=run.info.run_id):
        runbase.log_metric("m", 2.0, step=1)
    got = runbase.get_run(run.info.run_id)
    assert got.data.metrics["m"] == 2.0 and got.info.status == "FINISHED"


def test_param_change_fails_at_the_call() -> None:
    with runbase.start_run():
        runbase.log_param("lr", 0.1)
        with pytest.raises(InvalidInputError, match="Changing param values"):
            runbase.log_param("lr", 0.2)


def test_bad_metric_value_fails_at_the_call() -> None:
    with runbase.start_run():
        with pytest.raises(InvalidInputError, match="must be a number"):
            runbase.log_metric("loss", "high")  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="may only contain"):
            runbase.log_metric("bad key!", 1.0)
        runbase.log_metric("numpy", np.float32(0.5))
        runbase.log_metric("nan", math.nan)


def test_log_metrics_checks_each_value_and_the_step() -> None:
    with runbase.start_run() as run:
        with pytest.raises(InvalidInputError, match="must be a number"):
            runbase.log_metrics({"loss": "high"})  # type: ignore[dict-item]
        with pytest.raises(InvalidInputError, match="must be an integer"):
            runbase.log_metrics({"loss": 1.0}, step=1.5)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="may only contain"):
            runbase.log_metrics({"bad key!": 1.0})
        runbase.log_metrics({"loss": 2, "acc": np.float32(0.5)}, step=np.int64(3), timestamp=7)
        runbase.log_metrics({"loss": 1.0, "lr": 0.1}, step=2**40)
    client = runbase.Client(runbase.get_tracking_uri())
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(3, 2.0), (2**40, 1.0)]
    assert history[0].timestamp == 7


def test_search_runs_dataframe() -> None:
    runbase.set_experiment("search")
    for bs, score in (("16", 0.6), ("24", 0.8), ("24", 0.5)):
        with runbase.start_run():
            runbase.log_params({"batch_size": bs})
            runbase.log_metric("val_map", score)
    df = runbase.search_runs(filter_string="params.batch_size = '24' and metrics.val_map > 0.7")
    assert isinstance(df, pd.DataFrame)
    assert list(df["metrics.val_map"]) == [0.8]
    assert {"run_id", "status", "start_time", "params.batch_size", "tags.mlflow.runName"} <= set(
        df.columns
    )
    ordered = runbase.search_runs(experiment_names=["search"], order_by=["metrics.val_map ASC"])
    assert list(ordered["metrics.val_map"]) == [0.5, 0.6, 0.8]
    runs = runbase.search_runs(experiment_names=["search"], output_format="list")
    assert len(runs) == 3
    empty = runbase.search_runs(filter_string="metrics.val_map > 5")
    assert len(empty) == 0


def test_artifacts_text_dict_figure_image(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    source = tmp_path / "notes.txt"
    source.write_text("hello")
    with runbase.start_run() as run:
        runbase.log_artifact(source, "docs")
        runbase.log_text("some text", "report/summary.txt")
        runbase.log_dict({"a": [1, 2]}, "config.json")
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3])
        runbase.log_figure(fig, "plots/curve.png")
        plt.close(fig)
        for step in (0, 5):
            runbase.log_image(
                np.full((4, 4, 3), step * 10, dtype=np.uint8), key="pred/overlay", step=step
            )
        with pytest.raises(InvalidInputError, match=r"\.\."):
            runbase.log_text("x", "../escape.txt")
    client = runbase.Client(runbase.get_tracking_uri())
    top = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert {"docs", "report", "config.json", "plots", "images"} <= top
    images = [f.path for f in client.list_artifacts(run.info.run_id, "images")]
    assert len(images) == 2 and all(p.startswith("images/pred~overlay+step+") for p in images)
    local = Path(client.download_artifacts(run.info.run_id, "report", tmp_path / "dl"))
    assert (local / "summary.txt").read_text() == "some text"
    assert runbase.get_run(run.info.run_id).data.tags["mlflow.loggedImages"] == "True"


def test_log_input_fingerprint() -> None:
    frame = pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]})
    with runbase.start_run() as run:
        ds = runbase.log_input(frame, context="training")
    inputs = runbase.get_run(run.info.run_id).inputs.dataset_inputs
    assert [(i.dataset.digest, i.context) for i in inputs] == [(ds.digest, "training")]
    found = runbase.search_runs(filter_string=f"datasets.digest = '{ds.digest}'")
    assert list(found["run_id"]) == [run.info.run_id]


@contextmanager
def _child(db: Path, body: str) -> Iterator[subprocess.Popen[str]]:
    """A Python process that starts a run, prints its id, then runs ``body``; killed after."""
    script = "\n".join(
        [
            "import sys, time, runbase",
            f"runbase.set_tracking_uri({str(db)!r})",
            "run = runbase.start_run()",
            "print(run.info.run_id, flush=True)",
            body,
        ]
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env
    ) as proc:
        try:
            yield proc
        finally:
            proc.kill()


def test_normal_exit_flushes_and_finishes(tracking: Path) -> None:
    with _child(tracking, "for i in range(1000): runbase.log_metric('x', i, step=i)") as proc:
        run_id = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert proc.wait(timeout=60) == 0
    run = runbase.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.summaries["x"].count == 1000


def test_sigterm_flushes_and_marks_killed(tracking: Path) -> None:
    body = (
        "for i in range(500): runbase.log_metric('x', i, step=i)\n"
        "print('logged', flush=True)\ntime.sleep(60)"
    )
    with _child(tracking, body) as proc:
        run_id = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert proc.stdout.readline().strip() == "logged"  # type: ignore[union-attr]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == -signal.SIGTERM
    run = runbase.get_run(run_id)
    assert run.info.status == "KILLED"
    assert run.data.summaries["x"].count == 500


def test_sigkill_loses_at_most_the_flush_window(tracking: Path) -> None:
    body = (
        "for i in range(300): runbase.log_metric('x', i, step=i)\n"
        "time.sleep(2.5)\nprint('waited', flush=True)\ntime.sleep(60)"
    )
    with _child(tracking, body) as proc:
        run_id = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert proc.stdout.readline().strip() == "waited"  # type: ignore[union-attr]
        proc.kill()
        proc.wait(timeout=30)
    assert runbase.get_run(run_id).data.summaries["x"].count == 300
