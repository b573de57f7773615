"""Classification reports: the figures match scikit-learn's, and one call logs them all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

import runbase
from runbase.errors import InvalidInputError
from runbase.evaluation import classification_report


@pytest.fixture
def tracking(tmp_path: Path) -> Iterator[Path]:
    runbase.set_tracking_uri(tmp_path / "runs.db")
    yield tmp_path
    runbase.end_run()


def _random_labels(seed: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k, n)
    noisy = rng.random(n) < 0.35
    y_pred = np.where(noisy, rng.integers(0, k, n), y_true)
    return y_true, y_pred


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_figures_match_scikit_learn(seed: int) -> None:
    y_true, y_pred = _random_labels(seed, 500, 7)
    y_pred[y_pred == 6] = 5  # class 6 is never predicted: its precision divides by zero
    report = classification_report(y_true, y_pred)
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    assert report.labels == list(range(7))
    for i, name in enumerate(report.names):
        got = report.per_class[name]
        assert (got.precision, got.recall, got.f1, got.support) == pytest.approx(
            (p[i], r[i], f[i], s[i])
        )
    for average, got in (("macro", report.macro), ("weighted", report.weighted)):
        want = skm.precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        assert (got.precision, got.recall, got.f1) == pytest.approx(want[:3])
    assert report.accuracy == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert (report.confusion == skm.confusion_matrix(y_true, y_pred)).all()
    assert report.per_class["6"].precision == 0.0


def test_explicit_labels_and_names() -> None:
    y_true = ["cat", "dog", "dog", "bird", "cat", "fish"]
    y_pred = ["cat", "cat", "dog", "bird", "dog", "cat"]
    labels = ["dog", "cat", "bird"]  # fish is left out, in this order
    report = classification_report(y_true, y_pred, labels=labels, class_names={"dog": "Dog"})
    assert report.names == ["Dog", "cat", "bird"]
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    got = [report.per_class[n] for n in report.names]
    assert [g.precision for g in got] == pytest.approx(list(p))
    assert [g.recall for g in got] == pytest.approx(list(r))
    assert [g.f1 for g in got] == pytest.approx(list(f))
    assert [g.support for g in got] == list(s)
    assert (report.confusion == skm.confusion_matrix(y_true, y_pred, labels=labels)).all()
    text = report.text()
    assert "macro avg" in text and "weighted avg" in text and "Dog" in text


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="same length"):
        classification_report([0, 1, 1], [0, 1])
    with pytest.raises(InvalidInputError, match="at least one sample"):
        classification_report([], [])
    with pytest.raises(InvalidInputError, match="1-D"):
        classification_report(np.eye(3), np.eye(3))
    with pytest.raises(InvalidInputError, match="each of the 2 classes"):
        classification_report([0, 1], [1, 0], class_names=["a"])
    with pytest.raises(InvalidInputError, match="distinct"):
        classification_report([0, 1], [1, 0], labels=[0, 0])


def test_one_call_logs_metrics_artifacts_and_figure(tracking: Path) -> None:
    y_true, y_pred = _random_labels(3, 300, 3)
    names = ["road", "car/truck", "sky"]  # '/' cannot split a metric key
    with runbase.start_run() as run:
        report = runbase.log_classification_report(
            y_true,
            y_pred,
            class_names=names,
            class_weights=[1.0, 2.5, 0.5],
            step=7,
            prefix="val/",
        )
    stored = runbase.get_run(run.info.run_id)
    summaries = stored.data.summaries
    assert summaries["val/car_truck/f1"].last == pytest.approx(report.per_class["car/truck"].f1)
    assert summaries["val/car_truck/f1"].last_step == 7
    assert summaries["val/road/support"].last == float((y_true == 0).sum())
    assert summaries["val/macro/recall"].last == pytest.approx(report.macro.recall)
    assert summaries["val/weighted/precision"].last == pytest.approx(report.weighted.precision)
    assert summaries["val/accuracy"].last == pytest.approx(report.accuracy)
    assert len([k for k in summaries if k.startswith("val/")]) == 5 * 4 + 1
    assert stored.data.params["val/class_weight.car_truck"] == "2.5"
    assert json.loads(stored.data.tags["runbase.evaluations"]) == [
        "evaluation/val_confusion_matrix.json"
    ]

    client = runbase.Client(runbase.get_tracking_uri())
    files = {f.path for f in client.list_artifacts(run.info.run_id, "evaluation")}
    assert files == {
        "evaluation/val_classification_report.txt",
        "evaluation/val_confusion_matrix.json",
        "evaluation/val_confusion_matrix.png",
    }
    folder = Path(client.download_artifacts(run.info.run_id, "evaluation", tracking / "out"))
    saved = json.loads((folder / "val_confusion_matrix.json").read_text())
    assert saved["matrix"] == report.confusion.tolist() and saved["names"] == names
    assert all(abs(sum(row) - 1) < 1e-5 for row in saved["normalized"])
    assert (folder / "val_confusion_matrix.png").read_bytes().startswith(b"\x89PNG")
    assert "car/truck" in (folder / "val_classification_report.txt").read_text()
    client.close()


def test_figure_can_be_left_out(tracking: Path) -> None:
    with runbase.start_run() as run:
        runbase.log_classification_report([0, 1, 1], [0, 1, 0], figure=False, artifact_path="")
        runbase.log_classification_report([0, 1, 1], [0, 1, 1], figure=False, artifact_path="")
        runbase.log_classification_report([0, 1], [1, 1], figure=False, prefix="test_")
    tags = runbase.get_run(run.info.run_id).data.tags
    assert json.loads(tags["runbase.evaluations"]) == [  # each report once, the latest content
        "confusion_matrix.json",
        "evaluation/test_confusion_matrix.json",
    ]
    client = runbase.Client(runbase.get_tracking_uri())
    files = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert files == {"classification_report.txt", "confusion_matrix.json", "evaluation"}
    client.close()
