"""Classification evaluation in one call: per-class precision, recall, F1 and support, macro and
weighted averages, accuracy and a confusion matrix, logged as metrics and artifacts.

::

    report = runbase.log_classification_report(y_true, y_pred, class_names=["cat", "dog"])
    report.per_class["cat"].f1, report.macro.recall, report.confusion

Computed with numpy alone (the same figures as scikit-learn's ``precision_recall_fscore_support``
with ``zero_division=0``), so it needs no extra install; the confusion-matrix figure needs
matplotlib and is skipped without it unless asked for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from runbase.errors import InvalidInputError

__all__ = [
    "ClassMetrics",
    "ClassificationReport",
    "classification_report",
    "log_classification_report",
]

#: A run's tag listing its reports' ``confusion_matrix.json`` files (a JSON list of paths).
EVALUATIONS_TAG: Final = "runbase.evaluations"
_UNSAFE: Final = re.compile(r"[^\w.\- :]")
_COLUMNS: Final = ("precision", "recall", "f1-score", "support")


@dataclass(frozen=True)
class ClassMetrics:
    """Precision, recall and F1 of one class (or an average) and how many true samples it has."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ClassificationReport:
    """The evaluation of predicted classes against true ones.

    ``confusion[i, j]`` counts samples of class ``labels[i]`` predicted as ``labels[j]``.
    """

    labels: list[Any]
    names: list[str]
    per_class: dict[str, ClassMetrics]
    macro: ClassMetrics
    weighted: ClassMetrics
    accuracy: float
    confusion: npt.NDArray[np.int64]

    def metrics(self, prefix: str = "") -> dict[str, float]:
        """Flat metric names and values: ``<class>/precision`` ... ``macro/f1``, ``accuracy``."""
        out: dict[str, float] = {}
        groups = [(_metric_name(name), m) for name, m in self.per_class.items()]
        for group, m in [*groups, ("macro", self.macro), ("weighted", self.weighted)]:
            out[f"{prefix}{group}/precision"] = m.precision
            out[f"{prefix}{group}/recall"] = m.recall
            out[f"{prefix}{group}/f1"] = m.f1
            out[f"{prefix}{group}/support"] = float(m.support)
        out[f"{prefix}accuracy"] = self.accuracy
        return out

    def text(self, digits: int = 4) -> str:
        """A fixed-width table, laid out like scikit-learn's ``classification_report``."""
        width = max([len(n) for n in self.names] + [len("weighted avg")])
        head = " " * width + "".join(f"{c:>{max(digits + 4, 10)}}" for c in _COLUMNS)
        col = max(digits + 4, 10)

        def line(name: str, m: ClassMetrics) -> str:
            values = "".join(f"{v:>{col}.{digits}f}" for v in (m.precision, m.recall, m.f1))
            return f"{name:>{width}}{values}{m.support:>{col}}"

        rows = [head, ""]
        rows += [line(name, m) for name, m in self.per_class.items()]
        total = self.macro.support
        accuracy = f"{self.accuracy:>{col}.{digits}f}"
        rows += ["", f"{'accuracy':>{width}}{' ' * (2 * col)}{accuracy}{total:>{col}}"]
        rows += [line("macro avg", self.macro), line("weighted avg", self.weighted)]
        return "\n".join(rows) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-ready values (what ``confusion_matrix.json`` holds)."""
        sums = self.confusion.sum(axis=1, keepdims=True)
        normalized = np.divide(
            self.confusion, sums, out=np.zeros(self.confusion.shape), where=sums > 0
        )
        return {
            "labels": [_plain(x) for x in self.labels],
            "names": self.names,
            "matrix": self.confusion.tolist(),
            "normalized": normalized.round(6).tolist(),
            "per_class": {n: vars(m) for n, m in self.per_class.items()},
            "macro": vars(self.macro),
            "weighted": vars(self.weighted),
            "accuracy": self.accuracy,
        }


def classification_report(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    labels: Sequence[Any] | None = None,
    class_names: Sequence[str] | Mapping[Any, str] | None = None,
) -> ClassificationReport:
    """Evaluate predictions. ``labels`` fixes the classes and their order (default: every label
    seen in either array, sorted); ``class_names`` names them, by position or by label."""
    true = _labels_array(y_true, "y_true")
    pred = _labels_array(y_pred, "y_pred")
    if true.shape != pred.shape:
        raise InvalidInputError(
            f"y_true and y_pred must have the same length: {true.shape[0]} and {pred.shape[0]}"
        )
    if true.size == 0:
        raise InvalidInputError("A classification report needs at least one sample")
    classes = list(np.unique(np.concatenate([true, pred]))) if labels is None else list(labels)
    if not classes or len(set(map(_plain, classes))) != len(classes):
        raise InvalidInputError("labels must be a non-empty list of distinct classes")
    names = _names(classes, class_names)

    index = {_plain(c): i for i, c in enumerate(classes)}
    true_i = np.array([index.get(_plain(x), -1) for x in true])
    pred_i = np.array([index.get(_plain(x), -1) for x in pred])
    k = len(classes)
    kept = (true_i >= 0) & (pred_i >= 0)
    confusion = np.bincount(true_i[kept] * k + pred_i[kept], minlength=k * k).reshape(k, k)
    # Samples whose true class is listed count in its support even when predicted off-list.
    support = np.bincount(true_i[true_i >= 0], minlength=k)
    hits = np.diag(confusion).astype(np.float64)
    predicted = np.bincount(pred_i[pred_i >= 0], minlength=k).astype(np.float64)
    precision = _ratio(hits, predicted)
    recall = _ratio(hits, support.astype(np.float64))
    f1 = _ratio(2 * precision * recall, precision + recall)

    per_class = {
        names[i]: ClassMetrics(float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
        for i in range(k)
    }
    total = int(support.sum())
    weights = support / total if total else np.zeros(k)
    macro = ClassMetrics(float(precision.mean()), float(recall.mean()), float(f1.mean()), total)
    weighted = ClassMetrics(
        float(precision @ weights), float(recall @ weights), float(f1 @ weights), total
    )
    accuracy = float((true == pred).mean())
    return ClassificationReport(classes, names, per_class, macro, weighted, accuracy, confusion)


def log_classification_report(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    labels: Sequence[Any] | None = None,
    class_names: Sequence[str] | Mapping[Any, str] | None = None,
    class_weights: Sequence[float] | Mapping[Any, float] | None = None,
    step: int | None = None,
    prefix: str = "",
    artifact_path: str = "evaluation",
    figure: bool | None = None,
    run_id: str | None = None,
) -> ClassificationReport:
    """Evaluate predictions and log it all to the active run (or ``run_id``).

    Metrics (at ``step``): ``<prefix><class>/precision|recall|f1|support`` for every class,
    the same for ``macro`` and ``weighted``, and ``<prefix>accuracy``. Artifacts under
    ``artifact_path``: ``classification_report.txt``, ``confusion_matrix.json`` (counts,
    row-normalised, labels) and ``confusion_matrix.png`` — drawn when matplotlib is installed,
    or always with ``figure=True`` (an error without it), never with ``figure=False``.
    ``class_weights`` (the training's, by position or by label) are logged as params
    ``<prefix>class_weight.<class>``. The run's tag ``runbase.evaluations`` lists the JSON
    files, which the UI's Evaluation tab draws. Returns the report.
    """
    from runbase import _fluent

    report = classification_report(y_true, y_pred, labels=labels, class_names=class_names)
    client = _fluent.current_client()
    run = run_id or _fluent.active_run_id() or _fluent.start_run().info.run_id
    if class_weights is not None:
        weights = _by_class(report, class_weights, "class_weights")
        client.log_params(
            run, {f"{prefix}class_weight.{_metric_name(n)}": w for n, w in weights.items()}
        )
    for key, value in report.metrics(prefix).items():
        client.log_metric(run, key, value, step=step)
    folder = f"{artifact_path.strip('/')}/" if artifact_path.strip("/") else ""
    name = f"{folder}{prefix.replace('/', '_')}"
    client.log_text(run, report.text(), f"{name}classification_report.txt")
    data_file = f"{name}confusion_matrix.json"
    client.log_dict(run, report.to_dict(), data_file)
    # The UI finds a run's reports through this tag and draws each as a panel.
    listed = json.loads(client.get_run(run).data.tags.get(EVALUATIONS_TAG, "[]"))
    if data_file not in listed:
        client.set_tag(run, EVALUATIONS_TAG, json.dumps([*listed, data_file]))
    drawn = _confusion_figure(report, required=figure is True) if figure is not False else None
    if drawn is not None:
        client.log_figure(run, drawn, f"{name}confusion_matrix.png")
    return report


# -- helpers -------------------------------------------------------------------------------------
def _labels_array(values: npt.ArrayLike, what: str) -> npt.NDArray[Any]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidInputError(
            f"{what} must be one label per sample (a 1-D array), not shape {array.shape}; "
            "for scores or one-hot rows pass their argmax"
        )
    return array


def _names(classes: list[Any], given: Sequence[str] | Mapping[Any, str] | None) -> list[str]:
    if given is None:
        names = [str(_plain(c)) for c in classes]
    elif isinstance(given, Mapping):
        names = [str(given.get(c, given.get(_plain(c), _plain(c)))) for c in classes]
    else:
        if isinstance(given, str) or len(given) != len(classes):
            raise InvalidInputError(
                f"class_names must name each of the {len(classes)} classes, in order"
            )
        names = [str(n) for n in given]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"class names must be distinct: {names}")
    return names


def _by_class(
    report: ClassificationReport, values: Sequence[float] | Mapping[Any, float], what: str
) -> dict[str, float]:
    if isinstance(values, Mapping):
        found = {}
        for label, name in zip(report.labels, report.names, strict=True):
            for key in (label, _plain(label), name):
                if key in values:
                    found[name] = float(values[key])
                    break
        return found
    if len(values) != len(report.labels):
        raise InvalidInputError(f"{what} must give one value per class ({len(report.labels)})")
    return {name: float(v) for name, v in zip(report.names, values, strict=True)}


def _ratio(num: npt.NDArray[np.float64], den: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``num / den``, 0 where ``den`` is 0 (scikit-learn's ``zero_division=0``)."""
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, so ``np.int64(3)`` and ``3`` match."""
    return value.item() if isinstance(value, np.generic) else value


def _metric_name(name: str) -> str:
    """A class name as one metric-key segment: no '/', nothing a key may not hold."""
    return _UNSAFE.sub("_", name) or "_"


def _confusion_figure(report: ClassificationReport, *, required: bool) -> Any:
    try:  # a bare Figure: no pyplot, so the caller's backend and open figures are untouched
        from matplotlib.figure import Figure
    except ImportError:
        if required:
            raise InvalidInputError(
                "The confusion-matrix figure needs matplotlib: pip install matplotlib"
            ) from None
        return None
    k = len(report.labels)
    size = min(max(4.0, 0.45 * k + 2), 16.0)
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    ax.imshow(report.confusion, cmap="Blues")
    ax.set(xlabel="predicted", ylabel="true", xticks=range(k), yticks=range(k))
    ax.set_xticklabels(report.names, rotation=90 if k > 8 else 0)
    ax.set_yticklabels(report.names)
    if k <= 30:
        peak = report.confusion.max() or 1
        for (i, j), count in np.ndenumerate(report.confusion):
            color = "white" if count > peak / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)
    fig.tight_layout()
    return fig
