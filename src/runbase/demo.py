"""``runbase demo``: a real sweep on a real dataset, then the UI.

scikit-learn's handwritten digits (1,797 8×8 images, shipped with scikit-learn), a small neural
network (``MLPClassifier``, trained epoch by epoch), and a TPE sweep with median pruning over
its size, activation, learning rate, batch size and weight decay, two agents in parallel. Each
trial logs what a real project logs: a nested config as dotted params, per-epoch train/val loss
and accuracy and the overfitting gap, per-class precision/recall/F1 with macro and weighted
averages, a confusion matrix (figure and data), misclassified digits as images by step, the
dataset fingerprint as an input, and its weights. The best model is then logged as a model of
its run, registered as ``digits-mlp`` and given the alias ``champion``, and loaded back through
the registry to check it.

Weights travel as ``.npz`` arrays plus a JSON description: loading them runs no code.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

import numpy as np
import numpy.typing as npt

import runbase
from runbase.errors import RunbaseError

__all__ = ["DemoResult", "demo_spec", "load_model", "predict", "run_demo", "train_trial"]

EXPERIMENT: Final = "digits"
MODEL_NAME: Final = "digits-mlp"
ALIAS: Final = "champion"
_IMAGE_EVERY: Final = 5
_HINT: Final = "runbase demo needs scikit-learn and matplotlib: pip install 'runbase[demo]'"


def _sklearn() -> Any:
    try:
        import matplotlib
        import sklearn
    except ModuleNotFoundError as exc:
        raise RunbaseError(_HINT) from exc
    matplotlib.use("Agg")
    return sklearn


def demo_spec(trials: int = 24, epochs: int = 30, parallel: int = 2) -> dict[str, Any]:
    """The demo's sweep spec, as a dict (it could as well be a YAML file)."""
    return {
        "name": f"digits-tpe-{time.strftime('%Y%m%d-%H%M%S')}",
        "experiment": EXPERIMENT,
        "method": "tpe",
        "sampler_options": {"n_startup_trials": max(2, min(8, trials // 3))},
        "metric": {"name": "val_accuracy", "goal": "maximize"},
        "pruner": {
            "type": "median",
            "n_startup_trials": max(1, min(6, trials // 4)),
            "n_warmup_steps": max(1, epochs // 5),
        },
        "max_trials": trials,
        "seed": 0,
        "parallel": parallel,
        "heartbeat_timeout": 30,
        "function": "runbase.demo:train_trial",
        "parameters": {
            "model": {
                "architecture": "mlp",
                "hidden": {"type": "int", "low": 16, "high": 128, "step": 16},
                "activation": ["relu", "tanh"],
            },
            "optimizer": {
                "name": "adam",
                "lr": {"type": "float", "low": 1e-4, "high": 3e-2, "log": True},
                "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
            },
            "data": {"batch_size": [32, 64, 128], "val_fraction": 0.25},
            "epochs": epochs,
            "seed": 0,
        },
    }


def _data(val_fraction: float = 0.25) -> tuple[npt.NDArray[Any], ...]:
    _sklearn()
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    parts: list[npt.NDArray[Any]] = train_test_split(
        digits.data / 16.0,
        digits.target,
        test_size=val_fraction,
        random_state=0,
        stratify=digits.target,
    )
    return tuple(parts)


def train_trial(config: dict[str, Any]) -> float | None:
    """One trial: train the network epoch by epoch, logging everything; stop early when the
    sweep's pruner says so. Runs with the trial's run active."""
    _sklearn()
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import log_loss
    from sklearn.neural_network import MLPClassifier

    x_train, x_val, y_train, y_val = _data(config["data"]["val_fraction"])
    classes = np.arange(10)
    model = MLPClassifier(
        hidden_layer_sizes=(config["model"]["hidden"],),
        activation=config["model"]["activation"],
        learning_rate_init=config["optimizer"]["lr"],
        alpha=config["optimizer"]["weight_decay"],
        batch_size=config["data"]["batch_size"],
        random_state=config["seed"],
    )
    runbase.log_input(runbase.data.dataset(x_train, name="digits-train"), context="training")
    runbase.log_input(runbase.data.dataset(x_val, name="digits-val"), context="validation")
    best = {"val_accuracy": -1.0, "epoch": -1}
    start = time.perf_counter()
    val_accuracy = 0.0
    for epoch in range(config["epochs"]):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(x_train, y_train, classes=classes)
        train_proba, val_proba = model.predict_proba(x_train), model.predict_proba(x_val)
        train_loss = float(log_loss(y_train, train_proba, labels=classes))
        val_loss = float(log_loss(y_val, val_proba, labels=classes))
        val_pred = val_proba.argmax(axis=1)
        val_accuracy = float((val_pred == y_val).mean())
        runbase.log_metrics(
            {
                "train_loss": train_loss,
                "val_loss": val_loss,
                "train_accuracy": float((train_proba.argmax(axis=1) == y_train).mean()),
                "val_accuracy": val_accuracy,
                "overfit_gap": val_loss - train_loss,
                "learning_rate": config["optimizer"]["lr"],
                "epoch_time_s": time.perf_counter() - t0,
            },
            step=epoch,
        )
        if val_accuracy > best["val_accuracy"]:
            best = {"val_accuracy": val_accuracy, "epoch": epoch}
        if epoch % _IMAGE_EVERY == 0 or epoch == config["epochs"] - 1:
            _log_misclassified(x_val, y_val, val_pred, epoch)
        if runbase.should_prune():  # val_accuracy is the sweep's metric: already reported
            runbase.set_tag("pruned_at_epoch", epoch)
            return None
    runbase.log_metrics(
        {
            "best_val_accuracy": best["val_accuracy"],
            "best_epoch": best["epoch"],
            "training_time_s": time.perf_counter() - start,
        }
    )
    runbase.log_classification_report(
        y_val, model.predict(x_val), labels=range(10), class_names=[f"class_{c}" for c in range(10)]
    )
    _log_weights(model)
    return val_accuracy


def _log_misclassified(
    x_val: npt.NDArray[Any], y_val: npt.NDArray[Any], pred: npt.NDArray[Any], epoch: int
) -> None:
    wrong = np.flatnonzero(pred != y_val)[:16]
    if wrong.size:
        tiles = x_val[wrong].reshape(-1, 8, 8)
        runbase.log_image(np.hstack(list(tiles)), key="misclassified", step=epoch)


def _save_weights(model: Any, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {f"coef_{i}": c for i, c in enumerate(model.coefs_)}
    arrays |= {f"intercept_{i}": b for i, b in enumerate(model.intercepts_)}
    np.savez(folder / "weights.npz", **arrays)
    description = {
        "format": "runbase-mlp-npz/1",
        "layers": len(model.coefs_),
        "activation": model.activation,
        "output": "softmax",
        "classes": [int(c) for c in model.classes_],
        "input": "8x8 digit images flattened, scaled to [0, 1]",
    }
    (folder / "model.json").write_text(json.dumps(description, indent=2))


def _log_weights(model: Any) -> None:
    with tempfile.TemporaryDirectory(prefix="runbase-demo-") as tmp:
        _save_weights(model, Path(tmp, "model"))
        runbase.log_artifacts(str(Path(tmp, "model")), "model")


# -- the model, back from the registry -------------------------------------------------------------
def load_model(folder: str | Path) -> dict[str, Any]:
    """Weights and description saved by the demo (no pickle: arrays and JSON)."""
    folder = Path(folder)
    description: dict[str, Any] = json.loads((folder / "model.json").read_text())
    with np.load(folder / "weights.npz", allow_pickle=False) as data:
        layers = description["layers"]
        description["coefs"] = [data[f"coef_{i}"] for i in range(layers)]
        description["intercepts"] = [data[f"intercept_{i}"] for i in range(layers)]
    return description


def predict(model: dict[str, Any], x: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Class predictions of a loaded model: the network's forward pass in numpy."""
    activation = model["activation"]
    h = np.asarray(x, dtype=np.float64)
    for i, (w, b) in enumerate(zip(model["coefs"], model["intercepts"], strict=True)):
        h = h @ w + b
        if i < len(model["coefs"]) - 1:
            h = _activate(activation, h)
    classes: npt.NDArray[Any] = np.asarray(model["classes"])
    predicted: npt.NDArray[Any] = classes[h.argmax(axis=1)]
    return predicted


def _activate(name: str, z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    if name == "relu":
        return np.maximum(z, 0)
    if name == "tanh":
        return np.tanh(z)
    if name == "logistic":
        return 1 / (1 + np.exp(-z))
    return z


# -- the demo --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DemoResult:
    tracking_uri: str
    sweep_id: str
    counts: dict[str, int]
    best_value: float | None
    best_run_id: str | None
    best_params: dict[str, Any]
    model_uri: str | None
    model_version: int | None
    champion_accuracy: float | None
    seconds: float

    def text(self) -> str:
        c = self.counts
        lines = [
            "",
            f"Demo done in {self.seconds:.0f} s: sweep {self.sweep_id} ran {c['COMPLETE']} "
            f"complete, {c['PRUNED']} pruned, {c['FAIL']} failed trials.",
        ]
        if self.best_value is not None:
            lines.append(f"Best val_accuracy {self.best_value:.4f} (run {self.best_run_id}).")
        if self.model_uri is not None:
            lines.append(
                f"Registered {self.model_uri} → version {self.model_version}, alias "
                f"{ALIAS}; loaded back through the registry: val accuracy "
                f"{self.champion_accuracy:.4f}."
            )
        lines += [
            f"Store: {self.tracking_uri}",
            f"Try:   runbase sweep status {self.sweep_id}",
            "       runbase runs list -e digits -o 'metrics.val_accuracy DESC' "
            "-c metrics.val_accuracy",
        ]
        return "\n".join(lines)


def run_demo(
    tracking_uri: str,
    *,
    trials: int = 24,
    epochs: int = 30,
    parallel: int = 2,
    out: TextIO | None = None,
    progress: bool = True,
) -> DemoResult:
    """Run the demo sweep against ``tracking_uri``, register its best model, check it."""
    from runbase.client import Client
    from runbase.sweeps import _coordinator, _optuna

    _sklearn()
    out = out if out is not None else sys.stdout
    _optuna.quiet_logging()
    started = time.perf_counter()
    info = _coordinator.run(
        demo_spec(trials, epochs, parallel),
        tracking_uri=tracking_uri,
        parallel=parallel,
        progress=progress,
        out=out,
    )
    client = Client(tracking_uri)
    model_uri = version = accuracy = None
    best = info.best
    try:
        if best is not None and best.run_id is not None:
            version, model_uri, accuracy = _register(client, info.sweep_id, best.run_id, best)
    finally:
        client.close()
    return DemoResult(
        tracking_uri=tracking_uri,
        sweep_id=info.sweep_id,
        counts=dict(info.counts),
        best_value=None if best is None else best.value,
        best_run_id=None if best is None else best.run_id,
        best_params={} if best is None else dict(best.params),
        model_uri=model_uri,
        model_version=version,
        champion_accuracy=accuracy,
        seconds=time.perf_counter() - started,
    )


def _register(client: Any, sweep_id: str, run_id: str, best: Any) -> tuple[int, str, float]:
    """Log the best trial's weights as a model of its run, register it, alias it, load it
    back by alias and measure it."""
    with tempfile.TemporaryDirectory(prefix="runbase-demo-") as tmp:
        folder = Path(client.download_artifacts(run_id, "model", tmp))
        logged = client.log_model(
            run_id,
            folder,
            MODEL_NAME,
            model_type="mlp-npz",
            params=dict(best.params),
        )
    version = client.register_model(
        f"models:/{logged.model_id}",
        MODEL_NAME,
        tags={"sweep": sweep_id, "val_accuracy": best.value},
        description="Best trial of the runbase demo sweep",
    )
    client.set_registered_model_alias(MODEL_NAME, ALIAS, version.version)
    client.set_tags(sweep_id, {"runbase.sweep.champion": f"models:/{MODEL_NAME}@{ALIAS}"})
    champion = client.get_model_version_by_alias(MODEL_NAME, ALIAS)
    location = client.get_model_version_download_uri(MODEL_NAME, champion.version)
    with tempfile.TemporaryDirectory(prefix="runbase-demo-") as tmp:
        from runbase.artifacts import get_artifact_repository

        local = get_artifact_repository(location).download_artifacts("", tmp)
        model = load_model(local)
    _, x_val, _, y_val = _data()
    accuracy = float((predict(model, x_val) == y_val).mean())
    return version.version, f"models:/{MODEL_NAME}@{ALIAS}", accuracy
