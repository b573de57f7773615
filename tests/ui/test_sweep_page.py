"""The sweeps list and a sweep's page in headless Chromium, against a real TPE sweep with
median pruning logged to a live server (``seed._seed_sweep``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from ui.pagetools import painted
from ui.seed import SWEEP_TRIALS, Seeded


def _sweep(seeded: Seeded) -> dict[str, Any]:
    answer = httpx.get(f"{seeded.url}/api/v1/sweeps/{seeded.sweep_id}", timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_sweeps_list_links_to_the_sweep(page: Any, seeded: Seeded, screenshots: Path) -> None:
    page.goto(f"{seeded.url}/#/sweeps")
    row = page.locator(f"tr[data-sweep-id='{seeded.sweep_id}']")
    row.wait_for()
    text = row.inner_text()
    assert "mlp-tpe" in text and "tpe" in text and "val_loss" in text and "finished" in text
    detail = _sweep(seeded)
    for state, count in detail["sweep"]["counts"].items():
        if count:
            assert row.locator(f".chip[data-state='{state}']").inner_text() == (
                f"{count} {state.lower()}"
            )
    page.screenshot(path=screenshots / "sweeps.png")
    row.get_by_role("link", name="mlp-tpe").click()
    page.wait_for_url(re.compile(rf"#/sweeps/{seeded.sweep_id}$"))
    page.locator(".sweep-page").wait_for()


def test_sweep_page_shows_trials_history_pruning_and_importance(
    page: Any, seeded: Seeded, screenshots: Path
) -> None:
    detail = _sweep(seeded)
    trials = detail["trials"]
    states = {t["number"]: t["state"] for t in trials}
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    pruned = sorted(n for n, s in states.items() if s == "PRUNED")
    assert len(trials) == SWEEP_TRIALS and complete and pruned, states
    best = min(complete, key=lambda t: t["value"])
    assert detail["sweep"]["best"]["number"] == best["number"]

    page.goto(f"{seeded.url}/#/sweeps/{seeded.sweep_id}")
    page.locator(".sweep-page[data-finished='true']").wait_for()

    # Trials table: one row per trial with its state; the state filter narrows it.
    rows = page.locator("table.trials-table tbody tr")
    assert rows.count() == SWEEP_TRIALS
    shown = rows.evaluate_all("rs => rs.map(r => [Number(r.dataset.trial), r.dataset.state])")
    assert dict(shown) == states
    assert page.locator("table.trials-table tr.best").get_attribute("data-trial") == str(
        best["number"]
    )

    # The best trial, with its value and params.
    summary = page.locator(".best-trial")
    assert summary.get_attribute("data-trial") == str(best["number"])
    assert f"trial #{best['number']}" in summary.inner_text()
    assert f"lr={best['params']['lr']}" in summary.inner_text()

    # Optimisation history and intermediate values, pruned trials marked.
    page.wait_for_function(
        "() => document.querySelectorAll('.sweep-page .chart-canvas[data-drawn]').length >= 2"
    )
    history = page.locator(".sweep-history .chart-canvas")
    assert json.loads(history.get_attribute("data-series")) == [
        "complete",
        "pruned",
        "best so far",
    ]
    intermediate = page.locator(".sweep-intermediate .chart-canvas")
    labels = json.loads(intermediate.get_attribute("data-series"))
    expected = [f"#{n}{' pruned' if s == 'PRUNED' else ''}" for n, s in sorted(states.items())]
    assert labels == expected
    assert [label for label in labels if label.endswith("pruned")] == [
        f"#{n} pruned" for n in pruned
    ]

    # Parallel coordinates over the params that vary and the metric, the best trial on top.
    coords = page.locator(".sweep-coords .parallel-coords")
    axes = json.loads(coords.get_attribute("data-axes"))
    assert axes[-1] == "val_loss" and set(axes[:-1]) <= {"activation", "layers", "log10(lr)"}
    assert "log10(lr)" in axes  # searched on a log scale, drawn on one
    assert coords.get_attribute("data-lines") == str(len(complete))
    assert coords.get_attribute("data-best") == f"#{best['number']}"
    assert painted(coords.locator("canvas"))

    # Parameter importance: one bar per param, shares adding up to the whole.
    bars = page.locator(".sweep-importance .importance-bar")
    bars.first.wait_for()
    params = bars.evaluate_all("bs => bs.map(b => b.dataset.param)")
    assert set(params) <= {"activation", "layers", "lr"} and params
    widths = bars.evaluate_all("bs => bs.map(b => parseFloat(b.style.width))")
    assert abs(sum(widths) - 100) < 1
    page.screenshot(path=screenshots / "sweep.png", full_page=True)

    page.locator("select.trial-state-filter").select_option("PRUNED")
    page.wait_for_function(
        "n => document.querySelectorAll('table.trials-table tbody tr').length === n",
        arg=len(pruned),
    )

    # From the best trial's run and back to its sweep.
    summary.get_by_role("link", name="open run").click()
    page.wait_for_url(re.compile(rf"#/runs/{best['run_id']}"))
    link = page.locator(".sweep-link")
    assert f"trial #{best['number']} of sweep" in link.inner_text()
    link.get_by_role("link").click()
    page.wait_for_url(re.compile(rf"#/sweeps/{seeded.sweep_id}$"))
