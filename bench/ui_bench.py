"""The web UI in headless Chromium: time to first rows of the runs table over 100,000 runs, and
time to render a compare chart of 100 runs × 10,000 steps.

    .venv/bin/python bench/ui_bench.py [--quick] [--runs N] [--repeats N] [--output PATH]

Each figure is the time from the start of navigation (the browser's ``performance.now()``,
whose origin is the navigation) until the rows, or the drawn chart, are in the page: HTML,
script, API calls, rendering, all of it. The first load (cold browser cache) and the median
over the repeats (fresh browser context each time, so only the HTTP cache is shared) are both
reported. The store is a SQLite file served by ``runbase server`` (one worker); the 100,000
runs (20 params and 10 metric summaries each) are written straight into its tables, as the
store would write them, because logging them through the API would take minutes; the compare
runs are logged through the store API. Figures go into the UI section of ``bench/RESULTS.md``
(between the ``ui-bench`` markers), which ``run.py`` keeps. MLflow's UI is not measured here.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import sqlalchemy as sa

import runbase
from runbase.store import MetricColumns, open_store
from runbase.store.sql import _schema as t

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "RESULTS.md"
START, END = "<!-- ui-bench:start -->", "<!-- ui-bench:end -->"
CHROMIUM = os.environ.get("RUNBASE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
TARGET_MS = 1000.0


def fill_table_store(db: Path, runs: int, params: int, metrics: int) -> str:
    """An experiment of ``runs`` runs, written in bulk into the store's own tables."""
    store = open_store(f"sqlite:///{db}")
    exp = store.create_experiment("table-bench")
    store.close()
    engine = sa.create_engine(f"sqlite:///{db}")
    rng = np.random.default_rng(0)
    now = int(time.time() * 1000) - runs * 1000
    with engine.begin() as conn:
        key_ids = []
        for m in range(metrics):
            result = conn.execute(sa.insert(t.metric_keys).values(key=f"m{m}"))
            key_ids.append(int(result.inserted_primary_key[0]))  # type: ignore[index]
        first = (
            int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.runs.c.id), 0))).scalar_one())
            + 1
        )
        block = 5000
        for start in range(0, runs, block):
            ids = range(first + start, first + min(start + block, runs))
            conn.execute(
                sa.insert(t.runs),
                [
                    {
                        "id": pk,
                        "run_uuid": uuid.uuid4().hex,
                        "experiment_id": int(exp),
                        "name": f"run-{pk}",
                        "user_id": "bench",
                        "status": "FINISHED",
                        "start_time": now + pk * 1000,
                        "end_time": now + pk * 1000 + 500,
                        "lifecycle_stage": "active",
                        "artifact_uri": f"mlflow-artifacts:/{exp}/{pk}/artifacts",
                    }
                    for pk in ids
                ],
            )
            conn.execute(
                sa.insert(t.run_params),
                [
                    {"run_id": pk, "key": f"p{p}", "value": str(int(rng.integers(0, 50)))}
                    for pk in ids
                    for p in range(params)
                ],
            )
            values = rng.random((len(ids), metrics))
            conn.execute(
                sa.insert(t.metric_summaries),
                [
                    {
                        "run_id": pk,
                        "key_id": key_ids[m],
                        "last_value": float(values[i, m]),
                        "last_is_nan": False,
                        "last_step": 99,
                        "last_timestamp": now,
                        "min_value": float(values[i, m]) / 2,
                        "max_value": float(values[i, m]) * 2,
                        "count": 100,
                    }
                    for i, pk in enumerate(ids)
                    for m in range(metrics)
                ],
            )
    engine.dispose()
    return exp


def fill_compare_store(db: Path, runs: int, steps: int) -> list[str]:
    client = runbase.Client(f"sqlite:///{db}")
    exp = client.create_experiment("compare-bench")
    ids = []
    x = np.arange(steps, dtype=np.int64)
    for r in range(runs):
        run = client.create_run(exp, run_name=f"trial-{r:03d}").info.run_id
        values = np.exp(-x / (1000 + 40 * r)) + 0.01 * np.sin(x / 7 + r)
        values[(r * 97) % steps] += 3  # a spike per run, which min/max buckets keep
        client.store.log_columns(run, {"loss": MetricColumns(x, x + 1000, values)})
        client.log_params(run, {"lr": 10 ** -(1 + r % 4), "batch": 16 * (1 + r % 3)})
        client.set_terminated(run)
        ids.append(run)
    client.close()
    return ids


def start_server(db: Path, workdir: Path, port: int) -> subprocess.Popen[bytes]:
    runbase_cli = str(Path(sys.executable).parent / "runbase")
    command = [runbase_cli, "server", "--backend-store-uri", f"sqlite:///{db}"]
    command += ["--artifacts-destination", str(workdir / "artifacts"), "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).text == "OK":
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("runbase server did not start")
        time.sleep(0.05)


def measure(browser: Any, url: str, ready: str, repeats: int) -> list[float]:
    """ms from navigation start until ``ready`` (a JS expression) holds, once per repeat."""
    times = []
    for _ in range(repeats):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(url, wait_until="commit")
        page.wait_for_function(ready, polling="raf", timeout=60_000)
        times.append(float(page.evaluate("() => performance.now()")))
        context.close()
    return times


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="10,000 runs, 20 × 2,000, 2 repeats")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--compare-runs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path, help="default: bench/RESULTS.md (full runs only)")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.compare_runs, args.steps, args.repeats = 10_000, 20, 2_000, 2
    from playwright.sync_api import sync_playwright

    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="runbase-ui-bench-") as tmp:
        work = Path(tmp)
        db = work / "bench.db"
        clock = time.perf_counter()
        exp = fill_table_store(db, args.runs, 20, 10)
        ids = fill_compare_store(db, args.compare_runs, args.steps)
        print(f"ui-bench: stores filled in {time.perf_counter() - clock:.1f} s", file=sys.stderr)
        port = _free_port()
        server = start_server(db, work, port)
        base = f"http://127.0.0.1:{port}"
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                cols = "&".join(
                    f"col={quote(c)}"
                    for c in ("metric:last:m0", "metric:min:m1", "metric:max:m2", "param:last:p0")
                )
                table = f"{base}/#/experiments/{exp}?order={quote('metrics.m0 DESC')}&{cols}"
                filtered = (
                    f"{table}&filter={quote('metrics.m1 > 0.5 and params.p0 = ' + repr('7'))}"
                )
                rows = "() => document.querySelectorAll('.tbody .row').length > 0"
                compare = f"{base}/#/compare?runs={','.join(ids)}&metrics=loss"
                drawn = (
                    '() => { const c = document.querySelector(\'.chart-cell[data-metric="loss"] '
                    ".chart-canvas[data-drawn]'); return c && JSON.parse(c.dataset.series).length"
                    f" === {len(ids)}; }}"
                )
                results = {
                    "table": measure(browser, table, rows, args.repeats),
                    "filtered": measure(browser, filtered, rows, args.repeats),
                    "compare": measure(browser, compare, drawn, args.repeats),
                }
                browser.close()
        finally:
            server.terminate()
            server.wait(10)
    report = render(args, results, started)
    print(report)
    full = not args.quick and args.runs >= 100_000
    output = args.output or (RESULTS if full else BENCH / "out" / "RESULTS-ui-partial.md")
    write_section(output, report)
    print(f"wrote {output}", file=sys.stderr)
    return 0


def render(args: argparse.Namespace, results: dict[str, list[float]], started: datetime) -> str:
    def row(label: str, times: list[float]) -> str:
        median = statistics.median(times)
        verdict = "pass" if median <= TARGET_MS else "**miss**"
        return f"| {label} | {times[0]:,.0f} ms | {median:,.0f} ms | ≤ 1 s | {verdict} |"

    command = shlex.join([Path(sys.executable).name, *sys.orig_argv[1:]])
    lines = [
        START,
        "## Web UI in Chromium",
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC; command: `{command}` (`make bench-ui`)",
        f"- Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"headless Debian Chromium; `runbase server`, one worker, SQLite",
        "- Time from navigation start to the rows (or the drawn chart) in the page: HTML, script, "
        "API calls and rendering. First load with a cold cache, then the median over "
        f"{args.repeats} loads in fresh browser contexts. MLflow's UI is not measured.",
        "",
        "| figure | first load | median | target | runbase vs target |",
        "|---|---|---|---|---|",
        row(
            f"runs table, {args.runs:,} runs (20 params, 10 metrics each), sorted by a metric, "
            "4 columns: first rows shown",
            results["table"],
        ),
        row(
            f"runs table, {args.runs:,} runs, filtered (metric and param) and sorted: first rows",
            results["filtered"],
        ),
        row(
            f"compare chart, {args.compare_runs} runs × {args.steps:,} steps "
            "(min/max-bucketed): drawn",
            results["compare"],
        ),
        "",
        "Raw times (ms): "
        + "; ".join(f"{k} {', '.join(f'{v:.0f}' for v in vs)}" for k, vs in results.items()),
        END,
    ]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.is_file() else ""
    start, end = text.find(START), text.find(END)
    if start >= 0 and end > start:
        text = text[:start] + section + text[end + len(END) :]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section + "\n"
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
