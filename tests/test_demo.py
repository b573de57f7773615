"""``runbase demo``: the main job of a first-time user, cut short by flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from runbase.client import Client
from runbase.demo import ALIAS, MODEL_NAME, load_model


def test_demo_runs_a_sweep_and_registers_the_champion(tmp_path: Path) -> None:
    uri = str(tmp_path / "runbase.db")
    command = [sys.executable, "-m", "runbase", "demo", "--tracking-uri", uri, "--no-ui"]
    command += ["--trials", "4", "--epochs", "3", "--parallel", "2"]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=180, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Registered models:/digits-mlp@champion" in done.stdout
    assert f"runbase ui --tracking-uri {uri}" in done.stdout

    client = Client(uri)
    try:
        experiment = client.get_experiment_by_name("digits")
        assert experiment is not None
        runs = client.search_runs([experiment.experiment_id])
        parent = next(r for r in runs if r.data.tags.get("runbase.sweep.role") == "parent")
        trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        assert len(trials) == 4
        assert parent.data.tags["runbase.sweep.champion"] == f"models:/{MODEL_NAME}@{ALIAS}"
        best = client.get_run(parent.data.tags["runbase.sweep.best_run_id"])
        data = best.data
        assert {"train_loss", "val_loss", "val_accuracy", "macro/f1", "class_3/recall"} <= set(
            data.metrics
        )
        assert data.params["model.architecture"] == "mlp"
        assert {i.dataset.name for i in best.inputs.dataset_inputs} == {
            "digits-train",
            "digits-val",
        }
        files = {f.path for f in client.list_artifacts(best.info.run_id)}
        assert {"evaluation", "model", "images"} <= files
        evaluation = {f.path for f in client.list_artifacts(best.info.run_id, "evaluation")}
        assert {"evaluation/confusion_matrix.png", "evaluation/confusion_matrix.json"} <= evaluation
        version = client.get_model_version_by_alias(MODEL_NAME, ALIAS)
        assert version.run_id == best.info.run_id
        folder = client.download_artifacts(best.info.run_id, "model", tmp_path / "dl")
        assert load_model(folder)["layers"] == 2
    finally:
        client.close()
