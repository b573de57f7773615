"""Real runs for the UI tests, logged through the runbase client to a live server.

A parent run with three children (params, per-step and per-epoch metrics with a spike,
system metrics, images by step, artifacts, a dataset input), a run still RUNNING, a run whose
name and values are HTML, a second experiment, a logged model and a registered model with an
alias, and a real runbase sweep (TPE with median pruning) in a third experiment. ``Seeded``
keeps the ids the tests look for.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import runbase
from runbase import sweeps

XSS_NAME = "<img src=x onerror=window.__xss=1>"
SPIKE_STEP = 1234
STEPS = 3000
EPOCHS = 20
IMAGE_STEPS = (0, 5, 10, 15)
PARAMS = (
    {"lr": 0.1, "batch_size": 16, "optimizer": "sgd", "model": {"arch": "unet", "depth": 4}},
    {"lr": 0.01, "batch_size": 32, "optimizer": "adam", "model": {"arch": "unet", "depth": 4}},
    {"lr": 0.001, "batch_size": 64, "optimizer": "adam", "model": {"arch": "unet", "depth": 4}},
)


@dataclass
class Seeded:
    url: str
    experiment_id: str
    other_experiment_id: str
    parent_id: str
    child_ids: list[str] = field(default_factory=list)
    child_names: list[str] = field(default_factory=list)
    running_id: str = ""
    xss_id: str = ""
    best_child: str = ""
    sweep_id: str = ""
    evaluated_id: str = ""  # has a classification report


def _image(step: int) -> np.ndarray:
    """A small picture that differs by step (a bar moving right)."""
    img = np.zeros((24, 32, 3), dtype=np.uint8)
    img[:, :, 2] = 90
    x = (step * 2) % 28
    img[4:20, x : x + 4, 0] = 255
    return img


SWEEP_TRIALS = 14
SWEEP_EPOCHS = 6


def _sweep_trial(params: dict[str, Any]) -> float | None:
    """A made-up training curve: the further lr is from 3e-3, the worse; tanh costs a little."""
    floor = (math.log10(params["lr"]) + 2.5) ** 2 + 0.05 * params["layers"]
    floor += 0.3 if params["activation"] == "tanh" else 0.0
    loss = floor
    for epoch in range(SWEEP_EPOCHS):
        loss = floor + 2.0 / (epoch + 1)
        runbase.log_metric("val_loss", loss, step=epoch)  # reported to the pruner too
        if runbase.should_prune():
            return None
    return loss


def _seed_sweep(url: str) -> str:
    spec = {
        "name": "mlp-tpe",
        "experiment": "tuning",
        "method": "tpe",
        "seed": 7,
        "max_trials": SWEEP_TRIALS,
        "metric": {"name": "val_loss", "goal": "minimize"},
        "pruner": {"type": "median", "n_startup_trials": 3, "n_warmup_steps": 1},
        "function": _sweep_trial,
        "parameters": {
            "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
            "layers": {"type": "int", "low": 1, "high": 4},
            "activation": ["relu", "tanh"],
        },
    }
    return sweeps.run(spec, tracking_uri=url, progress=False, out=io.StringIO()).sweep_id


EVAL_CLASSES = ("background", "road", "<b>car</b>")
EVAL_TRUE = (0, 0, 0, 0, 1, 1, 1, 2, 2, 2)
EVAL_PRED = (0, 0, 0, 1, 1, 1, 2, 2, 2, 0)


def _seed_evaluation(url: str, run_id: str) -> None:
    """A classification report on ``run_id``, logged through the fluent verb."""
    before = runbase.get_tracking_uri()
    runbase.set_tracking_uri(url)
    try:
        runbase.log_classification_report(
            EVAL_TRUE, EVAL_PRED, class_names=EVAL_CLASSES, prefix="val/", run_id=run_id
        )
    finally:
        runbase.set_tracking_uri(before)


def seed(url: str, spool_dir: Path) -> Seeded:
    client = runbase.Client(url, spool_dir=spool_dir)
    exp = client.create_experiment("segmentation")
    other = client.create_experiment("classification")
    parent = client.create_run(exp, run_name="sweep-unet").info.run_id
    client.log_params(parent, {"sweep.space": "lr x batch_size", "sweep.trials": 3})
    seeded = Seeded(url, exp, other, parent)
    data = np.arange(1000, dtype=np.float64).reshape(100, 10)
    finals = []
    for i, params in enumerate(PARAMS):
        name = f"unet-lr{params['lr']}"
        run = client.create_run(exp, run_name=name, tags={"mlflow.parentRunId": parent}).info.run_id
        seeded.child_ids.append(run)
        seeded.child_names.append(name)
        client.log_params(run, params)
        client.set_tags(run, {"team": "vision", "stage": "sweep"})
        steps = np.arange(STEPS)
        loss = 2.0 * np.exp(-steps / (600.0 * (i + 1))) + 0.05 * (i + 1)
        loss[SPIKE_STEP] = 9.0 + i  # one spike that bucketing must keep
        client.log_metric_series(run, "train_loss", loss, steps=steps)
        epochs = np.arange(EPOCHS)
        val = 1.5 * np.exp(-epochs / (4.0 + 3 * i)) + 0.1 * i
        client.log_metric_series(run, "val_loss", val, steps=epochs)
        client.log_metric_series(run, "val_dice", 1.0 - val / 2, steps=epochs)
        client.log_metric_series(run, "system/cpu_utilization_percentage", 50 + 10 * np.sin(epochs))
        finals.append(float(val.min()))
        for step in IMAGE_STEPS:
            client.log_image(run, _image(step), key="predictions/overlay", step=step)
        client.log_dict(run, {"lr": params["lr"], "layers": [64, 128]}, "config.json")
        client.log_dict(run, {"optimizer": params["optimizer"]}, "config.yaml")
        client.log_text(run, f"trained {name}\nfinal val_loss {val[-1]:.4f}\n", "notes/summary.txt")
        client.log_image(run, _image(3), artifact_file="figures/confusion_matrix.png")
        client.log_input(run, data, context="training")
        client.set_terminated(run)
    seeded.best_child = seeded.child_ids[int(np.argmin(finals))]
    client.set_terminated(parent)

    running = client.create_run(exp, run_name="still-running").info.run_id
    client.log_metric_series(running, "train_loss", np.linspace(1, 0.5, 50))
    client.flush()
    seeded.running_id = running

    xss = client.create_run(exp, run_name=XSS_NAME).info.run_id
    seeded.xss_id = xss
    client.log_params(xss, {"html": "<script>window.__xss=2</script>", "lr": 0.5})
    client.set_tags(xss, {"note": "<b onmouseover=window.__xss=3>bold</b>"})
    client.log_metric(xss, "train_loss", 1.0, step=0)
    client.set_terminated(xss)

    for j in range(2):
        run = client.create_run(other, run_name=f"digits-{j}").info.run_id
        client.log_params(run, {"hidden": 32 * (j + 1)})
        client.log_metric(run, "val_accuracy", 0.9 + j / 100, step=0)
        client.set_terminated(run)
        seeded.evaluated_id = seeded.evaluated_id or run
    client.close()
    _seed_evaluation(url, seeded.evaluated_id)

    best = seeded.best_child
    with httpx.Client(base_url=f"{url}/api/2.0/mlflow", timeout=30) as http:

        def post(path: str, body: dict[str, object]) -> dict[str, object]:
            response = http.post(path, json=body)
            assert response.status_code == 200, response.text
            return dict(response.json())

        post("/logged-models", {"experiment_id": exp, "name": "unet-best", "source_run_id": best})
        post("/registered-models/create", {"name": "segmenter", "description": "UNet segmenter"})
        post(
            "/model-versions/create",
            {"name": "segmenter", "source": f"runs:/{best}/model", "run_id": best},
        )
        post(
            "/model-versions/create",
            {
                "name": "segmenter",
                "source": f"runs:/{seeded.child_ids[0]}/model",
                "run_id": seeded.child_ids[0],
            },
        )
        post("/registered-models/alias", {"name": "segmenter", "alias": "champion", "version": "1"})
    seeded.sweep_id = _seed_sweep(url)
    return seeded
