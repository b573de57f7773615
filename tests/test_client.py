"""The explicit-id Client: fast metric forms, pages, deletion, and the writer's error path."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from runbase import Client
from runbase.entities import Metric, Param, RunTag
from runbase.errors import InvalidInputError, NotFoundError


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(str(tmp_path / "c.db"))


def test_metric_forms_agree(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    for step in range(50):
        client.log_metric(run_id, "loss", 1 / (step + 1), step=step)
    history = client.get_metric_history(run_id, "loss")
    steps, stamps, values = client.get_metric_arrays(run_id, "loss")
    assert [m.step for m in history] == steps.tolist() == list(range(50))
    assert [m.value for m in history] == values.tolist()
    assert [m.timestamp for m in history] == stamps.tolist()
    frame = client.get_metric_histories([run_id], ["loss", "absent"])
    assert list(frame.columns) == ["run_id", "key", "step", "timestamp", "value"]
    assert len(frame) == 50


def test_log_metric_series_bulk(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    values = np.random.default_rng(1).normal(size=100_000)
    client.log_metric_series(run_id, "signal", values)
    steps, _, got = client.get_metric_arrays(run_id, "signal")
    np.testing.assert_array_equal(got, values)
    assert steps[-1] == 99_999
    summary = client.get_run(run_id).data.summaries["signal"]
    assert summary.count == 100_000 and summary.max == values.max()


def test_short_series_blocks_are_queued_with_logged_points(client: Client, tmp_path: Path) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "loss", 5.0, step=0)
    steps = np.arange(1, 1001)
    values = steps * 0.5
    client.log_metric_series(run_id, "loss", values, steps=steps)
    steps += 1000  # the caller reuses its arrays: what was queued is a copy
    values[:] = -1.0
    client.log_metric(run_id, "loss", 7.0, step=5000)
    reader = Client(str(tmp_path / "c.db"))
    deadline = time.monotonic() + 3  # stored in the background, within the flush interval
    while reader.store.get_run(run_id).data.summaries.get("loss") is None:
        assert time.monotonic() < deadline, "the queued block was not stored within 3 s"
        time.sleep(0.05)
    got_steps, _, got = client.get_metric_arrays(run_id, "loss")
    assert got_steps.tolist() == [0, *range(1, 1001), 5000]
    assert got.tolist() == [5.0, *(np.arange(1, 1001) * 0.5).tolist(), 7.0]
    reader.close()


def test_queued_points_stored_when_the_program_exits_without_close(tmp_path: Path) -> None:
    db = tmp_path / "exit.db"
    program = f"""
import runbase
client = runbase.Client({str(db)!r}, flush_interval=60)
run_id = client.create_run("0").info.run_id
for step in range(500):
    client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
client.log_metric_series(run_id, "acc", [0.1, 0.2, 0.3])
print(run_id)
"""  # no close, no flush, and a flush interval the program never reaches
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    run_id = done.stdout.strip()
    reader = Client(str(db))
    assert reader.get_metric_arrays(run_id, "loss")[0].tolist() == list(range(500))
    assert reader.get_metric_arrays(run_id, "acc")[2].tolist() == [0.1, 0.2, 0.3]
    reader.close()


def test_queued_series_rejected_at_next_call(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_metric_series(run_id, "m", [1.0, 2.0])
    client.store.delete_run(run_id)
    with pytest.raises(InvalidInputError, match=r"2 metric points for run .* were rejected"):
        client.flush()
    with pytest.raises(InvalidInputError):
        client.log_metric_series(run_id, "bad key!", [1.0])
    with pytest.raises(InvalidInputError, match="one length"):
        client.log_metric_series(run_id, "m", [1.0, 2.0], steps=[1])


def test_log_batch_like_mlflow(client: Client) -> None:
    run_id = client.create_run("0", run_name="batch").info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric("a", 1.0, 10, 0), Metric("a", 2.0, 11, 1)],
        params=[Param("p", "1")],
        tags=[RunTag("t", "x")],
    )
    run = client.get_run(run_id)
    assert (run.data.metrics, run.data.params, run.data.tags["t"]) == ({"a": 2.0}, {"p": "1"}, "x")


def test_search_pages_through_client(client: Client) -> None:
    exp = client.create_experiment("paged")
    for _ in range(5):
        client.create_run(exp)
    first = client.search_runs([exp], max_results=2)
    assert len(first) == 2 and first.token
    rest = client.search_runs([exp], max_results=10, page_token=first.token)
    assert len(rest) == 3 and rest.token is None


def test_delete_restore(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    client.restore_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "active"
    with pytest.raises(NotFoundError):
        client.delete_run("f" * 32)


def test_writer_error_surfaces_at_next_call(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "m", 1.0)
    client.store.delete_run(run_id)  # behind the client's back: the queued point can't be stored
    with pytest.raises(InvalidInputError, match=r"1 metric points for run .* were rejected"):
        client.flush()
    client.flush()  # the error is reported once


def test_background_flush_within_a_second(client: Client, tmp_path: Path) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "m", 1.0)
    reader = Client(str(tmp_path / "c.db"))
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if reader.store.get_run(run_id).data.metrics.get("m") == 1.0:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the point was not stored by the background writer within 3 s")


def test_many_threads_logging(client: Client) -> None:
    run_id = client.create_run("0").info.run_id

    def work(n: int) -> None:
        for step in range(2000):
            client.log_metric(run_id, f"t{n}", step, step=step)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summaries = client.get_run(run_id).data.summaries
    assert [summaries[f"t{n}"].count for n in range(4)] == [2000] * 4


def test_flatten_nested_params(client: Client) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_params(run_id, {"model": {"encoder": {"name": "resnet34", "depth": 5}}, "lr": 3e-4})
    assert client.get_run(run_id).data.params == {
        "lr": "0.0003",
        "model.encoder.depth": "5",
        "model.encoder.name": "resnet34",
    }


def test_logged_points_come_back_exactly(client: Client) -> None:
    """The writer's packing keeps every value bit, int64 steps and big timestamps exact."""
    run_id = client.create_run("0").info.run_id
    points = [
        (2**63 - 1, 2**60 + 1, math.nan),
        (-(2**63), 1, math.inf),
        (2**53 + 1, 2, -math.inf),
        (7, 3, -0.0),
        (8, 4, 5e-324),
    ]
    for step, stamp, value in points:
        client.log_metric(run_id, "edge", value, timestamp=stamp, step=step)
    for step in range(5000):  # more than one batch, converted by the logging thread
        client.log_metric(run_id, "many", step / 7, step=step)
    steps, stamps, values = client.get_metric_arrays(run_id, "edge")
    expected = sorted(points, key=lambda p: (p[0], p[1]))
    assert steps.tolist() == [p[0] for p in expected]
    assert stamps.tolist() == [p[1] for p in expected]
    assert (
        values.view(np.int64).tolist() == np.array([p[2] for p in expected]).view(np.int64).tolist()
    )
    steps, _, values = client.get_metric_arrays(run_id, "many")
    assert steps.tolist() == list(range(5000))
    assert values.tolist() == [s / 7 for s in range(5000)]
