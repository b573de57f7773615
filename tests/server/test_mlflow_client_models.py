"""The real MLflow client (``mlflow==3.17.2``) logging, registering and loading models through a
live runbase server: MLflow 3 logged models, the registry and ``models:/`` URIs.

Runs in the same helper process as ``test_mlflow_client`` (see ``live.MlflowClientProcess``); a
loaded model must predict exactly what the logged one does.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from server.live import MlflowClientProcess, SnippetError

Unique = Callable[[str], str]

# A small torch model and its input; `log_model` needs the input example for its pt2 format.
_TORCH_MODEL = """
import torch
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).eval()
X = torch.randn(6, 4)
def same(loaded):
    with torch.no_grad():
        return bool(torch.equal(model(X), loaded(X)))
"""


def test_pytorch_log_and_load(mlflow_client: MlflowClientProcess, unique: Unique) -> None:
    result = mlflow_client.run(
        _TORCH_MODEL
        + """
exp_id = mlflow.set_experiment(name).experiment_id
with mlflow.start_run() as run:
    info = mlflow.pytorch.log_model(model, name="model", input_example=X.numpy())
client = MlflowClient()
logged = client.get_logged_model(info.model_id)
got = client.get_run(run.info.run_id)
found = mlflow.search_logged_models(experiment_ids=[exp_id], output_format="list")
result = {
    "model_id": info.model_id,
    "uri": info.model_uri,
    "status": str(logged.status),
    "location": logged.artifact_location,
    "source_run": logged.source_run_id == run.info.run_id,
    "outputs": [(o.model_id, o.step) for o in got.outputs.model_outputs],
    "found": [m.model_id for m in found],
    "files": sorted(f.path for f in client.list_logged_model_artifacts(info.model_id)),
    "by_run": same(mlflow.pytorch.load_model(f"runs:/{run.info.run_id}/model")),
    "by_id": same(mlflow.pytorch.load_model(f"models:/{info.model_id}")),
}
""",
        name=unique("torch"),
    )
    model_id = result["model_id"]
    assert result["uri"] == f"models:/{model_id}"
    assert result["status"] == "READY"
    assert result["location"].endswith(f"/models/{model_id}/artifacts")
    assert result["location"].startswith("mlflow-artifacts:/")
    assert result["source_run"] is True
    assert result["outputs"] == [[model_id, 0]]
    assert result["found"] == [model_id]
    assert {"MLmodel", "data", "requirements.txt", "input_example.json"} <= set(result["files"])
    assert result["by_run"] is True and result["by_id"] is True


def test_registry_workflow(mlflow_client: MlflowClientProcess, unique: Unique) -> None:
    result = mlflow_client.run(
        _TORCH_MODEL
        + """
mlflow.set_experiment(name)
with mlflow.start_run() as run:
    info = mlflow.pytorch.log_model(model, name="model", input_example=X.numpy())
client = MlflowClient()
version = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
client.set_registered_model_alias(name, "champion", version.version)
by_alias = mlflow.pytorch.load_model(f"models:/{name}@champion")
by_number = mlflow.pytorch.load_model(f"models:/{name}/1")
client.transition_model_version_stage(name, version.version, "Production")
by_stage = mlflow.pytorch.load_model(f"models:/{name}/Production")
registered = client.search_registered_models(filter_string=f"name = '{name}'")
versions = client.search_model_versions(f"name = '{name}'")
result = {
    "version": [version.version, version.status, version.source, version.run_id],
    "model_id": info.model_id,
    "loaded": [same(by_alias), same(by_number), same(by_stage)],
    "registered": [
        (m.name, m.aliases, [(v.version, v.current_stage) for v in m.latest_versions])
        for m in registered
    ],
    "versions": [(v.version, list(v.aliases), v.current_stage) for v in versions],
    "download_uri": client.get_model_version_download_uri(name, version.version),
    "location": client.get_logged_model(info.model_id).artifact_location,
    "by_alias": client.get_model_version_by_alias(name, "champion").version,
    "run_id": run.info.run_id,
}
client.delete_registered_model_alias(name, "champion")
client.delete_model_version(name, version.version)
result["after_delete"] = [v.version for v in client.search_model_versions(f"name = '{name}'")]
client.delete_registered_model(name)
try:
    client.get_registered_model(name)
except mlflow.exceptions.MlflowException as exc:
    result["gone"] = exc.error_code
""",
        name=unique("registry"),
    )
    model_id = result["model_id"]
    assert result["version"] == ["1", "READY", f"models:/{model_id}", result["run_id"]]
    assert result["loaded"] == [True, True, True]
    name = result["registered"][0][0]
    assert result["registered"] == [[name, {"champion": "1"}, [["1", "Production"]]]]
    assert result["versions"] == [["1", ["champion"], "Production"]]
    assert result["download_uri"] == result["location"]
    assert result["by_alias"] == "1"
    assert result["after_delete"] == []
    assert result["gone"] == "RESOURCE_DOES_NOT_EXIST"


def test_sklearn_pyfunc_and_model_metrics(
    mlflow_client: MlflowClientProcess, unique: Unique
) -> None:
    result = mlflow_client.run(
        """
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
exp_id = mlflow.set_experiment(name).experiment_id
X = np.random.RandomState(0).rand(30, 3)
y = (X[:, 0] > 0.5).astype(int)
clf = LogisticRegression().fit(X, y)
val = mlflow.data.from_pandas(pd.DataFrame(X, columns=["a", "b", "c"]), name="val")
ids = {}
with mlflow.start_run() as run:
    for model_name, score in (("first", 0.7), ("second", 0.9)):
        info = mlflow.sklearn.log_model(
            clf, name=model_name, params={"C": "1.0"}, pip_requirements=["scikit-learn"]
        )
        mlflow.log_metric("acc", score, model_id=info.model_id, dataset=val, step=1)
        ids[model_name] = info.model_id
mlflow.log_model_params({"extra": "yes"}, model_id=ids["first"])
client = MlflowClient()
first = client.get_logged_model(ids["first"])
best = mlflow.search_logged_models(
    experiment_ids=[exp_id],
    filter_string="metrics.acc > 0.5",
    datasets=[{"dataset_name": "val"}],
    order_by=[{"field_name": "metrics.acc", "ascending": False, "dataset_name": "val"}],
    output_format="list",
)
loaded = mlflow.pyfunc.load_model(f"models:/{ids['second']}")
client.set_logged_model_tags(ids["first"], {"stage": "dev"})
client.delete_logged_model_tag(ids["first"], "stage")
client.delete_logged_model(ids["second"])
result = {
    "same": bool((loaded.predict(X) == clf.predict(X)).all()),
    "params": first.params,
    "metrics": [(m.key, m.value, m.step, m.dataset_name, m.run_id) for m in first.metrics],
    "best": [m.name for m in best],
    "run_metrics": client.get_run(run.info.run_id).data.metrics,
    "tags": sorted(client.get_logged_model(ids["first"]).tags),
    "left": [m.name for m in mlflow.search_logged_models(
        experiment_ids=[exp_id], output_format="list"
    )],
    "run_id": run.info.run_id,
}
""",
        name=unique("sklearn"),
    )
    assert result["same"] is True
    assert result["params"] == {"C": "1.0", "extra": "yes"}
    assert result["metrics"] == [["acc", 0.7, 1, "val", result["run_id"]]]
    assert result["best"] == ["second", "first"]
    assert result["run_metrics"] == {"acc": 0.9}
    assert "stage" not in result["tags"]
    assert result["left"] == ["first"]


def test_unknown_models_raise(mlflow_client: MlflowClientProcess, unique: Unique) -> None:
    for snippet in (
        "MlflowClient().get_logged_model('m-' + '0' * 32)",
        "MlflowClient().get_registered_model(name)",
        "MlflowClient().get_model_version(name, '1')",
    ):
        with pytest.raises(SnippetError) as caught:
            mlflow_client.run(snippet, name=unique("missing"))
        assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
