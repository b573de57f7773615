"""Helpers for the server tests: a live ``runbase server`` process, MLflow REST calls, and the
real MLflow client running in a helper process."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

RUNBASE = str(Path(sys.executable).parent / "runbase")
MLFLOW_PREFIX = "/api/2.0/mlflow"
ARTIFACTS_PREFIX = "/api/2.0/mlflow-artifacts/artifacts"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    url: str
    artifacts: Path
    log: Path
    process: subprocess.Popen[bytes]


@contextmanager
def run_server(db_uri: str, workdir: Path, *args: str) -> Iterator[LiveServer]:
    """Start ``runbase server`` on a free loopback port, wait for /health, stop it after."""
    port = _free_port()
    artifacts = workdir / "artifacts"
    log = workdir / f"server-{port}.log"
    command = [RUNBASE, "server", "--backend-store-uri", db_uri]
    command += ["--artifacts-destination", str(artifacts), "--port", str(port), *args]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    server = LiveServer(f"http://127.0.0.1:{port}", artifacts, log, process)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"runbase server exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{server.url}/health", timeout=1).text == "OK":
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"runbase server did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class MlflowApi:
    """Calls to the MLflow REST API of a live server, as the MLflow client makes them."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def post(self, endpoint: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.http.post(f"{MLFLOW_PREFIX}/{endpoint}", json=body, **kwargs)

    def get(self, endpoint: str, **params: Any) -> httpx.Response:
        return self.http.get(f"{MLFLOW_PREFIX}/{endpoint}", params=params)

    def send(self, method: str, endpoint: str, body: Any = None) -> httpx.Response:
        """A call as the MLflow client makes it: a GET with query parameters, anything else
        (PATCH and DELETE too) with a JSON body."""
        if method == "GET":
            return self.get(endpoint, **(body or {}))
        return self.http.request(method, f"{MLFLOW_PREFIX}/{endpoint}", json=body)

    def ok(self, method: str, endpoint: str, body: Any = None) -> Any:
        response = self.send(method, endpoint, body)
        assert response.status_code == 200, response.text
        return response.json()

    def error(self, response: httpx.Response, status: int, code: str) -> str:
        assert response.status_code == status, response.text
        body = response.json()
        assert body["error_code"] == code, body
        return str(body["message"])

    def experiment(self, name: str) -> str:
        return str(self.ok("POST", "experiments/create", {"name": name})["experiment_id"])

    def run(self, experiment_id: str, **fields: Any) -> str:
        body = {"experiment_id": experiment_id, "start_time": 1000, **fields}
        return str(self.ok("POST", "runs/create", body)["run"]["info"]["run_id"])


# -- the real MLflow client, in a helper process --------------------------------------------------
_HELPER = r"""
import json, os, sys, traceback
protocol = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)  # whatever MLflow prints goes to the log, not into the protocol
sys.stdout = sys.stderr
import mlflow
from mlflow import MlflowClient
protocol.write("ready\n")
protocol.flush()
for line in sys.stdin:
    request = json.loads(line)
    namespace = {"mlflow": mlflow, "MlflowClient": MlflowClient, **request["params"]}
    try:
        exec(request["code"], namespace)
        answer = {"ok": True, "result": namespace.get("result")}
    except BaseException as exc:
        answer = {
            "ok": False,
            "type": type(exc).__name__,
            "error_code": getattr(exc, "error_code", None),
            "message": str(exc),
            "traceback": traceback.format_exc(),
        }
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
    protocol.write(json.dumps(answer, default=repr) + "\n")
    protocol.flush()
"""


class SnippetError(Exception):
    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(f"{answer['type']}: {answer['message']}\n{answer['traceback']}")
        self.type = answer["type"]
        self.error_code = answer["error_code"]
        self.message = answer["message"]


class MlflowClientProcess:
    """One Python process with ``mlflow`` imported, pointed at a live server; ``run`` executes a
    snippet there and returns what it left in ``result`` (JSON-able)."""

    def __init__(self, tracking_uri: str, workdir: Path) -> None:
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",  # a 5xx must fail the test, not be retried
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL": "0.2",
            "MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING": "1",
            "GIT_PYTHON_REFRESH": "quiet",
            "MPLBACKEND": "Agg",
            "PYTHONWARNINGS": "ignore",
        }
        self.log = workdir / "mlflow-client.log"
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-c", _HELPER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            cwd=workdir,
            env=env,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        assert self._next_line(120) == "ready", self.log.read_text()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put("")

    def _next_line(self, timeout: float) -> str:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"the MLflow client hung:\n{self.log.read_text()}") from None

    def run(self, code: str, timeout: float = 120, **params: Any) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"code": code, "params": params}) + "\n")
        self.process.stdin.flush()
        line = self._next_line(timeout)
        if not line:
            raise RuntimeError(f"the MLflow client died:\n{self.log.read_text()}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise SnippetError(answer)
        return answer["result"]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(10)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self._log_file.close()
