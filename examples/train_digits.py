"""Train a small neural network on scikit-learn's handwritten digits and log it with runbase.

A tiny grid over hidden size and learning rate (4 runs, nested under one parent run), each
logging what a real project logs: a nested config flattened to dotted params, per-epoch train/val
loss and accuracy, the overfitting gap, per-class precision/recall/F1 with macro and weighted
averages, a confusion matrix (figure and data), misclassified digits as images by epoch, the
dataset fingerprint as an input, and the best epoch's summary.

    python examples/train_digits.py [--tracking-uri runbase.db] [--epochs 30]

Then: ``runbase runs list -e digits --order-by "metrics.val_accuracy DESC" -c metrics.val_accuracy``
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import confusion_matrix, log_loss, precision_recall_fscore_support
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

import runbase
from runbase.data import dataset


def train_one(config: dict, data: tuple, epochs: int) -> float:
    x_train, x_val, y_train, y_val = data
    classes = np.arange(10)
    model = MLPClassifier(
        hidden_layer_sizes=(config["model"]["hidden"],),
        learning_rate_init=config["optimizer"]["lr"],
        batch_size=config["data"]["batch_size"],
        alpha=config["optimizer"]["weight_decay"],
        random_state=config["seed"],
    )
    runbase.log_params(config)
    runbase.log_input(dataset(x_train, name="digits-train"), context="training")
    runbase.log_input(dataset(x_val, name="digits-val"), context="validation")
    best = {"val_accuracy": -1.0, "epoch": -1}
    start = time.perf_counter()
    for epoch in range(epochs):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(x_train, y_train, classes=classes)
        train_proba, val_proba = model.predict_proba(x_train), model.predict_proba(x_val)
        train_loss = log_loss(y_train, train_proba, labels=classes)
        val_loss = log_loss(y_val, val_proba, labels=classes)
        val_pred = val_proba.argmax(axis=1)
        metrics = {
            "train_loss": train_loss,
            "val_loss": val_loss,
            "train_accuracy": float((train_proba.argmax(axis=1) == y_train).mean()),
            "val_accuracy": float((val_pred == y_val).mean()),
            "overfit_gap": val_loss - train_loss,
            "learning_rate": config["optimizer"]["lr"],
            "epoch_time_s": time.perf_counter() - t0,
        }
        runbase.log_metrics(metrics, step=epoch)
        if metrics["val_accuracy"] > best["val_accuracy"]:
            best = {"val_accuracy": metrics["val_accuracy"], "epoch": epoch}
        if epoch % 10 == 0 or epoch == epochs - 1:
            wrong = np.flatnonzero(val_pred != y_val)[:16]
            if wrong.size:
                tiles = x_val[wrong].reshape(-1, 8, 8) / 16.0
                runbase.log_image(np.hstack(list(tiles)), key="misclassified", step=epoch)
    runbase.log_metrics(
        {
            "best_val_accuracy": best["val_accuracy"],
            "best_epoch": best["epoch"],
            "training_time_s": time.perf_counter() - start,
        }
    )
    _log_classification_report(y_val, model.predict(x_val))
    return best["val_accuracy"]


def _log_classification_report(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, zero_division=0
    )
    per_class = {}
    for cls in range(10):
        per_class |= {
            f"class_{cls}/precision": precision[cls],
            f"class_{cls}/recall": recall[cls],
            f"class_{cls}/f1": f1[cls],
            f"class_{cls}/support": support[cls],
        }
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, average=average, zero_division=0
        )
        per_class |= {f"{average}/precision": p, f"{average}/recall": r, f"{average}/f1": f}
    runbase.log_metrics({k: float(v) for k, v in per_class.items()})
    matrix = confusion_matrix(y_true, y_pred, labels=range(10))
    runbase.log_dict(
        {"labels": list(range(10)), "matrix": matrix.tolist()}, "confusion_matrix.json"
    )
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(matrix, cmap="Blues")
    ax.set(xlabel="predicted", ylabel="true", xticks=range(10), yticks=range(10))
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=7)
    runbase.log_figure(fig, "confusion_matrix.png")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tracking-uri", default=None, help="default: RUNBASE_TRACKING_URI or ./runbase.db"
    )
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    if args.tracking_uri:
        runbase.set_tracking_uri(args.tracking_uri)
    digits = load_digits()
    data = train_test_split(
        digits.data / 16.0, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    runbase.set_experiment("digits")
    grid = list(itertools.product([32, 64], [0.001, 0.01]))
    with runbase.start_run(run_name=f"digits-grid-{time.strftime('%Y%m%d-%H%M%S')}") as parent:
        runbase.log_params({"grid.hidden": "32,64", "grid.lr": "0.001,0.01"})
        results = {}
        for hidden, lr in grid:
            config = {
                "model": {"architecture": "mlp", "hidden": hidden},
                "optimizer": {"name": "adam", "lr": lr, "weight_decay": 1e-4},
                "data": {"batch_size": 64, "val_fraction": 0.25},
                "seed": 0,
            }
            name = f"mlp_h{hidden}_lr{lr}_{time.strftime('%H%M%S')}"
            with runbase.start_run(run_name=name, nested=True) as run:
                results[run.info.run_id] = train_one(config, data, args.epochs)
                print(f"{name}: best val accuracy {results[run.info.run_id]:.4f}")
        best_run = max(results, key=results.__getitem__)
        runbase.set_tags({"best_run_id": best_run})
        runbase.log_metric("best_val_accuracy", results[best_run])
    print(f"\nParent run {parent.info.run_id}; best child {best_run} ({results[best_run]:.4f}).")
    print(f"Store: {runbase.get_tracking_uri()}")
    print('Try: runbase runs list -e digits -o "metrics.val_accuracy DESC" -c metrics.val_accuracy')


if __name__ == "__main__":
    main()
