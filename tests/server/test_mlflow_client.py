"""The real MLflow client (``mlflow==3.17.2``) against a live runbase server.

Each snippet runs in one helper process that has imported ``mlflow`` with its tracking URI set
to the server (see ``live.MlflowClientProcess``); what a snippet stores in ``result`` comes back
as JSON. HTTP retries are off there, so a 5xx fails the test at once instead of after minutes.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from server.live import MlflowClientProcess, SnippetError

Unique = Callable[[str], str]


def test_fluent_logging_round_trip(mlflow_client: MlflowClientProcess, unique: Unique) -> None:
    result = mlflow_client.run(
        """
mlflow.set_experiment(name)
with mlflow.start_run(run_name="first") as run:
    mlflow.log_param("lr", 0.01)
    mlflow.log_params({"model.encoder.depth": 4, "batch_size": 24})
    for epoch in range(5):
        mlflow.log_metric("train_loss", 1.0 / (epoch + 1), step=epoch)
    mlflow.log_metrics({"val_dice": 0.8, "val_loss": float("nan")}, step=4)
    mlflow.set_tag("stage", "dev")
    mlflow.set_tags({"a": 1, "b": "two"})
client = MlflowClient()
client.log_batch(
    run.info.run_id,
    metrics=[mlflow.entities.Metric("batch_m", float(i), 1000 + i, i) for i in range(2500)],
    params=[mlflow.entities.Param(f"p{i}", str(i)) for i in range(150)],
)
got = client.get_run(run.info.run_id)
history = client.get_metric_history(run.info.run_id, "train_loss")
result = {
    "experiment": mlflow.get_experiment_by_name(name).experiment_id,
    "info": [got.info.run_name, got.info.status, got.info.artifact_uri],
    "metrics": {k: repr(v) for k, v in got.data.metrics.items()},
    "params": len(got.data.params),
    "lr": got.data.params["lr"],
    "tags": {k: got.data.tags[k] for k in ("stage", "a", "b", "mlflow.runName")},
    "history": [(m.step, m.value) for m in history],
    "batch_history": len(client.get_metric_history(run.info.run_id, "batch_m")),
}
""",
        name=unique("fluent"),
    )
    exp = result["experiment"]
    name, status, uri = result["info"]
    assert (name, status) == ("first", "FINISHED")
    assert uri.startswith(f"mlflow-artifacts:/{exp}/") and uri.endswith("/artifacts")
    assert result["metrics"] == {
        "train_loss": "0.2",
        "val_dice": "0.8",
        "val_loss": "nan",
        "batch_m": "2499.0",
    }
    assert result["params"] == 3 + 150 and result["lr"] == "0.01"
    assert result["tags"] == {"stage": "dev", "a": "1", "b": "two", "mlflow.runName": "first"}
    assert result["history"] == [[s, 1.0 / (s + 1)] for s in range(5)]
    assert result["batch_history"] == 2500


def test_async_logging(mlflow_client: MlflowClientProcess, unique: Unique) -> None:
    result = mlflow_client.run(
        """
mlflow.set_experiment(name)
with mlflow.start_run() as run:
    for step in range(50):
        mlflow.log_metric("loss", float(step), step=step, synchronous=False)
    mlflow.log_param("p", "v", synchronous=False)
    mlflow.set_tag("t", "v", synchronous=False)
    mlflow.log_metrics({f"m{i}": float(i) for i in range(20)}, step=0, synchronous=False)
    mlflow.flush_async_logging()
client = MlflowClient()
got = client.get_run(run.info.run_id)
result = {
    "steps": [m.step for m in client.get_metric_history(run.info.run_id, "loss")],
    "metrics": len(got.data.metrics),
    "param": got.data.params.get("p"),
    "tag": got.data.tags.get("t"),
}
""",
        name=unique("async"),
    )
    assert result == {"steps": list(range(50)), "metrics": 21, "param": "v", "tag": "v"}


def test_search_runs_filters_order_and_pages(
    mlflow_client: MlflowClientProcess, unique: Unique
) -> None:
    result = mlflow_client.run(
        """
exp_id = mlflow.set_experiment(name).experiment_id
for i, (bs, score) in enumerate([("16", 0.6), ("24", 0.8), ("24", 0.9), ("32", 0.7), ("24", 0.5)]):
    with mlflow.start_run(run_name=f"r{i}"):
        mlflow.log_params({"batch_size": bs})
        mlflow.log_metric("val_map", score)
client = MlflowClient()
pages, token = [], None
while True:
    page = client.search_runs(
        [exp_id],
        filter_string="params.batch_size = '24' and metrics.val_map > 0.55",
        order_by=["metrics.val_map DESC"],
        max_results=1,
        page_token=token,
    )
    pages.append([r.info.run_name for r in page])
    token = page.token
    if not token:
        break
frame = mlflow.search_runs(experiment_names=[name], filter_string="metrics.val_map >= 0.7")
by_tag = client.search_runs([exp_id], filter_string="tags.`mlflow.runName` = 'r3'")
by_attr = client.search_runs([exp_id], filter_string="attributes.status = 'FINISHED'")
result = {
    "pages": pages,
    "frame": sorted(frame["tags.mlflow.runName"]),
    "columns": sorted(c for c in frame.columns if c.startswith(("metrics.", "params."))),
    "by_tag": [r.info.run_name for r in by_tag],
    "by_attr": len(by_attr),
}
""",
        name=unique("search"),
    )
    assert result["pages"] == [["r2"], ["r1"]]
    assert result["frame"] == ["r1", "r2", "r3"]
    assert result["columns"] == ["metrics.val_map", "params.batch_size"]
    assert result["by_tag"] == ["r3"]
    assert result["by_attr"] == 5


def test_artifacts_round_trip(mlflow_client: MlflowClientProcess, unique: Unique) -> None:
    result = mlflow_client.run(
        """
import os, tempfile
import numpy as np
import matplotlib.pyplot as plt
mlflow.set_experiment(name)
work = tempfile.mkdtemp()
with open(os.path.join(work, "report.txt"), "w") as f:
    f.write("report")
os.makedirs(os.path.join(work, "tree", "deep"))
with open(os.path.join(work, "tree", "deep", "c.bin"), "wb") as f:
    f.write(bytes(range(256)))
with mlflow.start_run() as run:
    mlflow.log_artifact(os.path.join(work, "report.txt"))
    mlflow.log_artifact(os.path.join(work, "report.txt"), artifact_path="copies")
    mlflow.log_artifacts(os.path.join(work, "tree"), artifact_path="tree")
    mlflow.log_text("hello", "notes/hello.txt")
    mlflow.log_dict({"lr": 0.1}, "config.json")
    figure, axis = plt.subplots()
    axis.plot([1, 2, 3])
    mlflow.log_figure(figure, "plots/curve.png")
    image = (np.random.rand(8, 8, 3) * 255).astype("uint8")
    for step in (0, 5):
        mlflow.log_image(image, key="val/overlay", step=step)
    mlflow.log_image(image, artifact_file="images/fixed.png")
    mlflow.flush_async_logging()
client = MlflowClient()
run_id = run.info.run_id
listing = lambda path=None: sorted((f.path, f.is_dir) for f in client.list_artifacts(run_id, path))
local = mlflow.artifacts.download_artifacts(
    run_id=run_id, artifact_path="tree", dst_path=work + "/dl"
)
whole = client.download_artifacts(run_id, "", work + "/all")
result = {
    "root": listing(),
    "tree": listing("tree/deep"),
    "images": [p for p, _ in listing("images")],
    "downloaded": open(os.path.join(local, "deep", "c.bin"), "rb").read() == bytes(range(256)),
    "text": mlflow.artifacts.load_text(f"runs:/{run_id}/notes/hello.txt"),
    "dict": mlflow.artifacts.load_dict(f"runs:/{run_id}/config.json"),
    "whole": sorted(
        os.path.relpath(os.path.join(d, f), whole) for d, _, fs in os.walk(whole) for f in fs
    ),
    "logged_images_tag": client.get_run(run_id).data.tags.get("mlflow.loggedImages"),
}
""",
        name=unique("artifacts"),
    )
    assert result["root"] == [
        ["config.json", False],
        ["copies", True],
        ["images", True],
        ["notes", True],
        ["plots", True],
        ["report.txt", False],
        ["tree", True],
    ]
    assert result["tree"] == [["tree/deep/c.bin", False]]
    images = result["images"]
    assert "images/fixed.png" in images
    # Two files (PNG + compressed WebP) per logged step, keys with '/' as '~'.
    stepped = [p for p in images if p.startswith("images/val~overlay+step+")]
    assert len(stepped) == 4 and {p.split("+")[2] for p in stepped} == {"0", "5"}
    assert result["downloaded"] is True
    assert result["text"] == "hello"
    assert result["dict"] == {"lr": 0.1}
    assert "tree/deep/c.bin" in result["whole"] and "plots/curve.png" in result["whole"]
    assert result["logged_images_tag"] == "True"


def test_log_input_dataset(mlflow_client: MlflowClientProcess, unique: Unique) -> None:
    result = mlflow_client.run(
        """
import pandas as pd
exp_id = mlflow.set_experiment(name).experiment_id
frame = pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]})
dataset = mlflow.data.from_pandas(frame, source="/data/digits.csv", name="digits", targets="y")
with mlflow.start_run() as run:
    mlflow.log_input(dataset, context="training", tags={"fold": "1"})
got = MlflowClient().get_run(run.info.run_id)
item = got.inputs.dataset_inputs[0]
found = MlflowClient().search_runs(
    [exp_id], filter_string="datasets.name = 'digits' and datasets.context = 'training'"
)
result = {
    "name": item.dataset.name,
    "digest": item.dataset.digest == dataset.digest,
    "source_type": item.dataset.source_type,
    "has_schema": "mlflow_colspec" in item.dataset.schema,
    "profile": item.dataset.profile,
    "tags": sorted((t.key, t.value) for t in item.tags),
    "found": [r.info.run_id for r in found] == [run.info.run_id],
}
""",
        name=unique("dataset"),
    )
    assert result["name"] == "digits" and result["digest"] is True
    assert result["source_type"] == "local" and result["has_schema"] is True
    assert '"num_rows": 3' in result["profile"]
    assert result["tags"] == [["fold", "1"], ["mlflow.data.context", "training"]]
    assert result["found"] is True


def test_nested_runs_delete_and_restore(mlflow_client: MlflowClientProcess, unique: Unique) -> None:
    result = mlflow_client.run(
        """
from mlflow.entities import ViewType
exp_id = mlflow.set_experiment(name).experiment_id
with mlflow.start_run(run_name="parent") as parent:
    with mlflow.start_run(run_name="child", nested=True) as child:
        pass
client = MlflowClient()
child_run = client.get_run(child.info.run_id)
client.delete_run(child.info.run_id)
deleted = client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
active = client.search_runs([exp_id])
stage = client.get_run(child.info.run_id).info.lifecycle_stage
client.restore_run(child.info.run_id)
result = {
    "parent_tag": child_run.data.tags.get("mlflow.parentRunId") == parent.info.run_id,
    "deleted": [r.info.run_name for r in deleted],
    "active": [r.info.run_name for r in active],
    "stage": stage,
    "restored": client.get_run(child.info.run_id).info.lifecycle_stage,
}
""",
        name=unique("nested"),
    )
    assert result == {
        "parent_tag": True,
        "deleted": ["child"],
        "active": ["parent"],
        "stage": "deleted",
        "restored": "active",
    }


def test_failed_run_status(mlflow_client: MlflowClientProcess, unique: Unique) -> None:
    result = mlflow_client.run(
        """
mlflow.set_experiment(name)
try:
    with mlflow.start_run() as run:
        raise ValueError("training blew up")
except ValueError:
    pass
info = MlflowClient().get_run(run.info.run_id).info
result = [info.status, info.end_time is not None]
""",
        name=unique("failed"),
    )
    assert result == ["FAILED", True]


@pytest.mark.parametrize(
    ("snippet", "error_code"),
    [
        ("MlflowClient().get_run('0' * 32)", "RESOURCE_DOES_NOT_EXIST"),
        ("MlflowClient().get_experiment('987654')", "RESOURCE_DOES_NOT_EXIST"),
        (
            "MlflowClient().create_experiment(name)\nMlflowClient().create_experiment(name)",
            "RESOURCE_ALREADY_EXISTS",
        ),
        (
            "mlflow.set_experiment(name)\n"
            "with mlflow.start_run():\n"
            "    mlflow.log_param('a', 1)\n"
            "    mlflow.log_param('a', 2)",
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "MlflowClient().search_runs(['0'], filter_string='metrics.a > 1 OR metrics.b > 1')",
            "INVALID_PARAMETER_VALUE",
        ),
    ],
    ids=["unknown-run", "unknown-experiment", "duplicate-experiment", "param-change", "bad-filter"],
)
def test_error_codes(
    mlflow_client: MlflowClientProcess, unique: Unique, snippet: str, error_code: str
) -> None:
    with pytest.raises(SnippetError) as caught:
        mlflow_client.run(snippet, name=unique("errors"))
    assert caught.value.type in ("MlflowException", "RestException")
    assert caught.value.error_code == error_code


def test_deleted_experiment_cannot_be_set(
    mlflow_client: MlflowClientProcess, unique: Unique
) -> None:
    with pytest.raises(SnippetError, match="deleted"):
        mlflow_client.run(
            """
client = MlflowClient()
client.delete_experiment(client.create_experiment(name))
mlflow.set_experiment(name)
""",
            name=unique("deleted"),
        )


def test_experiments_and_run_updates(mlflow_client: MlflowClientProcess, unique: Unique) -> None:
    prefix = unique("manage")
    result = mlflow_client.run(
        """
client = MlflowClient()
ids = [client.create_experiment(f"{prefix}-{i}", tags={"i": str(i)}) for i in range(3)]
client.rename_experiment(ids[0], f"{prefix}-renamed")
client.set_experiment_tag(ids[1], "note", "hi")
found = client.search_experiments(filter_string=f"name LIKE '{prefix}%'", order_by=["name ASC"])
tagged = client.search_experiments(filter_string=f"name LIKE '{prefix}%' AND tags.note = 'hi'")
run = client.create_run(ids[2], run_name="before")
client.update_run(run.info.run_id, name="after")
client.set_terminated(run.info.run_id, status="KILLED")
got = client.get_run(run.info.run_id)
result = {
    "names": [e.name for e in found],
    "tagged": [e.experiment_id for e in tagged] == [ids[1]],
    "run": [got.info.run_name, got.data.tags["mlflow.runName"], got.info.status],
}
""",
        prefix=prefix,
    )
    assert result["names"] == [f"{prefix}-1", f"{prefix}-2", f"{prefix}-renamed"]
    assert result["tagged"] is True
    assert result["run"] == ["after", "after", "KILLED"]


def test_system_metrics(mlflow_client: MlflowClientProcess, unique: Unique) -> None:
    result = mlflow_client.run(
        """
import time
mlflow.set_experiment(name)
with mlflow.start_run(log_system_metrics=True) as run:
    time.sleep(1.5)
result = sorted(MlflowClient().get_run(run.info.run_id).data.metrics)
""",
        name=unique("system"),
    )
    assert "system/cpu_utilization_percentage" in result
    assert "system/system_memory_usage_megabytes" in result
