"""System metrics sampled in the background while a run is active (``log_system_metrics``)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psutil
import pytest

import runbase
from runbase.errors import InvalidInputError


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("RUNBASE_ENABLE_SYSTEM_METRICS_LOGGING", "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNBASE_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.05")
    runbase.set_tracking_uri(tmp_path / "runs.db")
    return tmp_path


def _samplers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("runbase-system-metrics")]


def test_samples_while_the_run_is_active(tracking: Path) -> None:
    key = "system/cpu_utilization_percentage"
    with runbase.start_run(log_system_metrics=True) as run:
        assert len(_samplers()) == 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = runbase.get_run(run.info.run_id).data.summaries.get(key)
            if found is not None and found.count >= 3:
                break
            time.sleep(0.05)
    assert _samplers() == []  # stopped with the run
    data = runbase.get_run(run.info.run_id).data.summaries
    cpu = data[key]
    assert cpu.count >= 3 and cpu.min is not None and cpu.max is not None
    assert cpu.min >= 0 and cpu.max <= 100 * (psutil.cpu_count() or 1)
    client = runbase.Client(runbase.get_tracking_uri())
    history = client.get_metric_history(run.info.run_id, "system/system_memory_usage_megabytes")
    client.close()
    assert [m.step for m in history] == list(range(len(history)))
    total_mb = psutil.virtual_memory().total / 2**20
    assert all(0 < m.value <= total_mb for m in history)
    assert 0 < data["system/process_memory_rss_megabytes"].last < total_mb
    for key in ("system_memory_usage_percentage", "disk_usage_percentage",
                "network_receive_megabytes"):  # fmt: skip
        assert f"system/{key}" in data
    count = cpu.count
    time.sleep(0.3)
    assert (
        runbase.get_run(run.info.run_id).data.summaries["system/cpu_utilization_percentage"].count
        == count
    )  # nothing after the end


def test_off_by_default_and_on_by_environment(
    tracking: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with runbase.start_run() as quiet:
        time.sleep(0.2)
    assert not any(
        k.startswith("system/") for k in runbase.get_run(quiet.info.run_id).data.summaries
    )
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")  # MLflow's switch works
    with runbase.start_run() as sampled:
        assert len(_samplers()) == 1
        time.sleep(0.3)
    assert (
        "system/cpu_utilization_percentage" in runbase.get_run(sampled.info.run_id).data.summaries
    )
    with runbase.start_run(log_system_metrics=False):
        assert _samplers() == []


def test_a_bad_interval_is_a_clear_error(tracking: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNBASE_SYSTEM_METRICS_SAMPLING_INTERVAL", "often")
    with pytest.raises(InvalidInputError, match="RUNBASE_SYSTEM_METRICS_SAMPLING_INTERVAL"):
        runbase.start_run(log_system_metrics=True)
    runbase.end_run()
