"""``runbase ui``: the UI and its API over a local store, artifacts of embedded runs included."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from click.testing import CliRunner

import runbase
from runbase.cli import main

RUNBASE = str(Path(sys.executable).parent / "runbase")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_help_names_the_options() -> None:
    result = CliRunner().invoke(main, ["ui", "--help"])
    assert result.exit_code == 0
    for option in ("--no-browser", "--port", "--tracking-uri", "--artifacts-destination", "--page"):
        assert option in result.output


def test_ui_serves_a_local_store_with_its_artifacts(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    client = runbase.Client(str(db))
    exp = client.create_experiment("local")
    run = client.create_run(exp, run_name="embedded").info.run_id
    client.log_image(run, np.zeros((2, 2, 3), dtype=np.uint8), key="pred", step=4)
    client.log_metric(run, "loss", 0.5, step=1)
    client.set_terminated(run)
    client.close()
    port = _free_port()
    log = tmp_path / "ui.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(RUNBASE, "ui", "--no-browser", "--port", str(port), "--tracking-uri", str(db)),
                *("--page", "/sweeps/abc"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).text == "OK":
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert httpx.get(f"{url}/").status_code in (200, 503)  # 503: the explanation page
        summaries = httpx.get(f"{url}/api/v1/ui/experiments").json()["experiments"]
        assert {s["experiment"]["name"]: s["run_count"] for s in summaries}["local"] == 1
        images = httpx.get(f"{url}/api/v1/ui/runs/{run}/images").json()["images"]
        assert images[0]["key"] == "pred" and images[0]["steps"][0]["step"] == 4
        path = images[0]["steps"][0]["path"]
        png = httpx.get(f"{url}/api/v1/ui/runs/{run}/artifact", params={"path": path})
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    finally:
        process.terminate()
        process.wait(10)
    assert "runbase UI on" in log.read_text()
    assert f"Opening {url}/#/sweeps/abc" in log.read_text()
