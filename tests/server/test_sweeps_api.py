"""Sweep results over HTTP (``/api/v1/sweeps``): what a sweep page draws."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx

import runbase
from liveserver import serve_in_thread, store_app
from runbase import sweeps
from runbase.store import open_store

V = "/api/v1/sweeps"


def _objective(params: dict[str, Any]) -> float | None:
    x = params["x"]
    for step in range(4):
        runbase.report(x * 10 + (4 - step), step)
        if runbase.should_prune():
            return None
    return float(x * 10)


def test_sweep_routes(tmp_path: Path) -> None:
    uri = str(tmp_path / "runbase.db")
    spec = {
        "name": "api",
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "pruner": {"type": "median", "n_startup_trials": 2, "n_warmup_steps": 1},
        "function": _objective,
        "parameters": {"x": [1, 2, 3, 4, 5, 6], "kind": ["a", "b"]},
    }
    info = sweeps.run(spec, tracking_uri=uri, progress=False, out=io.StringIO())
    sweep_id = info.sweep_id
    store = open_store(uri)
    try:
        with (
            serve_in_thread(store_app(store, tmp_path / "artifacts")) as url,
            httpx.Client(base_url=url) as http,
        ):
            listed = http.get(f"{V}/").json()["sweeps"]
            assert [s["sweep_id"] for s in listed] == [sweep_id]
            assert listed[0]["counts"]["COMPLETE"] + listed[0]["counts"]["PRUNED"] == 12
            assert listed[0]["finished"] and listed[0]["best"]["params"]["x"] == 1

            detail = http.get(f"{V}/{sweep_id}").json()
            assert detail["sweep"]["metric"] == "loss" and detail["sweep"]["method"] == "grid"
            trials = detail["trials"]
            assert len(trials) == 12
            first = trials[0]
            assert {"number", "state", "params", "value", "run_id"} <= set(first)
            assert http.get(f"{V}/{sweep_id}/trials").json()["trials"] == trials

            history = http.get(f"{V}/{sweep_id}/history").json()
            assert history["goal"] == "minimize"
            bests = [p["best"] for p in history["points"] if p["best"] is not None]
            assert bests == sorted(bests, reverse=True) and bests[-1] == 10.0

            pruned = [t["number"] for t in trials if t["state"] == "PRUNED"]
            assert pruned, "the median pruner stops the worse half"
            series = http.get(
                f"{V}/{sweep_id}/intermediate", params={"trial": [pruned[0], 0]}
            ).json()["trials"]
            by_number = {s["number"]: s for s in series}
            assert set(by_number) == {pruned[0], 0}
            assert by_number[pruned[0]]["pruned"] and not by_number[0]["pruned"]
            assert by_number[0]["steps"] == [0, 1, 2, 3]

            importance = http.get(f"{V}/{sweep_id}/importance").json()
            assert importance["evaluator"] == "ped_anova"
            assert set(importance["importances"]) <= {"x", "kind"}

            bad = http.get(f"{V}/{sweep_id}/importance", params={"evaluator": "nope"})
            assert bad.status_code == 400
            missing = http.get(f"{V}/0123456789abcdef0123456789abcdef")
            assert missing.status_code == 404
            assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
            document = http.get(f"{V}/openapi.json").json()
            assert document["servers"] == [{"url": "/api/v1/sweeps"}]
            assert "/{sweep_id}/intermediate" in document["paths"]
    finally:
        store.close()
