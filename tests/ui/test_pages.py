"""The web UI in headless Chromium against a live server filled with real runs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import runbase
from ui.pagetools import painted
from ui.seed import EPOCHS, EVAL_CLASSES, EVAL_PRED, EVAL_TRUE, IMAGE_STEPS, XSS_NAME, Seeded


def _rows(page: Any) -> list[str]:
    return list(page.eval_on_selector_all(".tbody .row", "rs => rs.map(r => r.dataset.runId)"))


def _wait_rows(page: Any, count: int) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('.tbody .row').length === n", arg=count, timeout=15_000
    )


def test_experiments_list_shows_run_counts(page: Any, seeded: Seeded, screenshots: Path) -> None:
    page.goto(seeded.url + "/")
    row = page.locator(f"tr[data-experiment-id='{seeded.experiment_id}']")
    row.wait_for()
    assert row.locator(".run-count").inner_text() == "6"  # parent, 3 children, running, html
    other = page.locator(f"tr[data-experiment-id='{seeded.other_experiment_id}']")
    assert other.locator(".run-count").inner_text() == "2"
    assert "ago" in row.inner_text() or "just now" in row.inner_text()
    page.screenshot(path=screenshots / "experiments.png")
    row.get_by_role("link", name="segmentation").click()
    page.wait_for_url(re.compile(rf"#/experiments/{seeded.experiment_id}"))


def test_runs_table_groups_filters_sorts_and_completes(
    page: Any, seeded: Seeded, screenshots: Path
) -> None:
    page.goto(f"{seeded.url}/#/experiments/{seeded.experiment_id}")
    _wait_rows(page, 3)  # grouped: the sweep parent, the running run, the HTML-named run
    parent = page.locator(f".row[data-run-id='{seeded.parent_id}']")
    parent.locator(".expander").click()
    _wait_rows(page, 6)
    assert set(seeded.child_ids) <= set(_rows(page))
    page.screenshot(path=screenshots / "runs-table.png")

    box = page.locator(".filter-input")
    box.fill("params.optimizer = 'adam'")
    box.press("Enter")
    page.wait_for_url(re.compile(r"filter=params\.optimizer"))
    _wait_rows(page, 2)
    assert set(_rows(page)) == set(seeded.child_ids[1:])

    header = page.locator(".cell.head[data-column='metric:last:val_loss']")
    header.click()
    page.wait_for_url(re.compile(r"order=metrics\.val_loss(\+|%20)DESC"))
    page.wait_for_function(
        "id => document.querySelector('.tbody .row')?.dataset.runId === id",
        arg=seeded.child_ids[2],  # lr 0.001 ends with the highest val_loss
    )
    header.click()
    page.wait_for_url(re.compile(r"ASC"))
    page.wait_for_function(
        "id => document.querySelector('.tbody .row')?.dataset.runId === id",
        arg=seeded.child_ids[1],
    )

    # A column for the minimum of train_loss, sorted on the server.
    page.get_by_role("button", name=re.compile(r"Columns")).click()
    page.locator("input[data-column='metric:min:train_loss']").check()
    page.get_by_role("button", name="Done").click()
    min_header = page.locator(".cell.head[data-column='metric:min:train_loss']")
    min_header.wait_for()
    assert "train_loss (min)" in min_header.inner_text()
    assert "col=metric%3Amin%3Atrain_loss" in page.url

    # Completion of keys, then a syntax error shown under the box with its caret.
    box.fill("")
    box.type("params.opt")
    suggestion = page.locator(".suggestions li", has_text="optimizer")
    suggestion.wait_for()
    box.press("Tab")
    assert box.input_value() == "params.optimizer "
    box.fill("metrics.val_loss > ")
    box.press("Enter")
    error = page.locator(".filter-error")
    error.wait_for()
    assert "needs a number" in error.inner_text()
    caret = page.locator(".filter-caret").inner_text()
    assert caret.splitlines()[0] == "metrics.val_loss >"
    assert caret.splitlines()[1] == " " * len("metrics.val_loss >") + "^"
    page.screenshot(path=screenshots / "runs-filter-error.png")


def test_run_page_params_charts_images_artifacts(
    page: Any, seeded: Seeded, screenshots: Path
) -> None:
    run_id = seeded.child_ids[0]
    page.goto(f"{seeded.url}/#/runs/{run_id}")
    page.locator(".run-name").wait_for()
    assert page.locator(".run-name").inner_text() == seeded.child_names[0]
    assert page.locator(".parent-link").inner_text().endswith("sweep-unet")
    params = page.locator("table.kv").first
    assert "optimizer" in params.inner_text() and "sgd" in params.inner_text()
    page.locator(".params-search").fill("batch")
    assert params.locator("tr").count() == 1
    assert "batch_size" in params.inner_text()
    assert "training" in page.locator("table.datasets").inner_text()
    page.locator(".params-search").fill("")
    page.screenshot(path=screenshots / "run-overview.png", full_page=True)

    page.get_by_role("tab", name=re.compile("Charts")).click()
    charts = page.locator(".chart-canvas[data-drawn]")
    page.wait_for_function(
        "() => document.querySelectorAll('.chart-canvas[data-drawn]').length >= 3"
    )
    titles = charts.evaluate_all("cs => cs.map(c => c.dataset.title)")
    assert {t.split(" ·")[0] for t in titles} == {"train_loss", "val_dice", "val_loss"}
    page.locator("label.toggle", has_text="log scale").locator("input").check()
    page.locator("select").first.select_option("time")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.chart-canvas')].every(c => c.dataset.drawn)"
    )
    page.screenshot(path=screenshots / "run-charts.png", full_page=True)

    page.get_by_role("tab", name=re.compile("System")).click()
    page.locator(
        ".chart-canvas[data-title='system/cpu_utilization_percentage'][data-drawn]"
    ).wait_for()

    page.get_by_role("tab", name="Images").click()
    slider = page.locator(".step-slider")
    slider.wait_for()
    label = page.locator(".step-label")
    image = page.locator(".step-image")
    assert label.inner_text().startswith(f"step {IMAGE_STEPS[-1]}")
    last_src = image.get_attribute("src")
    slider.focus()
    slider.press("Home")
    assert label.inner_text().startswith(f"step {IMAGE_STEPS[0]}")
    slider.press("ArrowRight")
    assert label.inner_text().startswith(f"step {IMAGE_STEPS[1]}")
    assert image.get_attribute("data-step") == str(IMAGE_STEPS[1])
    assert image.get_attribute("src") != last_src
    page.wait_for_function(
        "() => { const i = document.querySelector('.step-image');"
        " return i.complete && i.naturalWidth === 32; }"
    )
    page.screenshot(path=screenshots / "run-images.png")

    page.get_by_role("tab", name="Artifacts").click()
    page.locator(".file-entry[data-path='config.json']").click()
    preview = page.locator(".preview-text")
    preview.wait_for()
    assert json.loads(preview.inner_text())["layers"] == [64, 128]
    page.locator(".file-entry[data-path='config.yaml']").click()
    page.wait_for_function(
        "() => document.querySelector('.preview-text')?.textContent.includes('optimizer: sgd')"
    )
    download = page.get_by_role("link", name="Download").get_attribute("href")
    assert download is not None and "download=1" in download
    page.locator(".file-entry[data-path='figures']").click()
    page.locator(".file-entry[data-path='figures/confusion_matrix.png']").click()
    page.wait_for_function(
        "() => { const i = document.querySelector('.preview-image');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    page.screenshot(path=screenshots / "run-artifacts.png")


def test_run_page_models_of_the_best_run(page: Any, seeded: Seeded, screenshots: Path) -> None:
    page.goto(f"{seeded.url}/#/runs/{seeded.best_child}?tab=models")
    logged = page.locator("table.logged-models")
    logged.wait_for()
    assert "unet-best" in logged.inner_text()
    versions = page.locator("table.versions-table").inner_text()
    assert "segmenter" in versions and "v1" in versions and "@champion" in versions
    page.screenshot(path=screenshots / "run-models.png")


def test_compare_three_runs(page: Any, seeded: Seeded, screenshots: Path) -> None:
    page.goto(f"{seeded.url}/#/experiments/{seeded.experiment_id}")
    page.locator(f".row[data-run-id='{seeded.parent_id}'] .expander").click()
    _wait_rows(page, 6)
    for run_id in seeded.child_ids:
        page.locator(f".row[data-run-id='{run_id}'] input[type=checkbox]").check()
        page.wait_for_url(re.compile(run_id))
    page.locator(".compare-button").click()
    page.wait_for_url(re.compile(r"#/compare\?runs="))

    names = seeded.child_names
    page.wait_for_function(
        "() => document.querySelectorAll('.compare-page .chart-canvas[data-drawn]').length >= 3"
    )
    for metric in ("train_loss", "val_dice", "val_loss"):
        chart = page.locator(f".compare-page .chart-cell[data-metric='{metric}'] .chart-canvas")
        assert json.loads(chart.get_attribute("data-series")) == names
    legend = page.locator(".compare-page .u-legend").first.inner_text()
    assert all(name in legend for name in names)

    coords = page.locator(".parallel-coords")
    axes = json.loads(coords.get_attribute("data-axes"))
    assert axes == ["batch_size", "lr", "optimizer", "train_loss (min)"]
    assert coords.get_attribute("data-lines") == "3"
    assert coords.get_attribute("data-best") == names[0]  # lowest train_loss: lr 0.1
    assert painted(coords.locator("canvas"))

    page.locator("select.best-metric").select_option("val_loss")
    page.wait_for_function(
        "name => document.querySelector('.parallel-coords')?.dataset.best === name",
        arg=names[seeded.child_ids.index(seeded.best_child)],
    )
    assert json.loads(coords.get_attribute("data-axes"))[-1] == "val_loss (min)"
    assert page.locator(".scatter").get_attribute("data-points") == "3"

    diff = page.locator("table.params-diff tbody tr")
    assert diff.evaluate_all("rs => rs.map(r => r.dataset.param)") == [
        "batch_size",
        "lr",
        "optimizer",
    ]
    page.locator("input.only-diff").uncheck()
    page.wait_for_function(
        "() => document.querySelectorAll('table.params-diff tbody tr').length === 5"
    )
    page.locator("input.only-diff").check()
    page.screenshot(path=screenshots / "compare.png", full_page=True)

    # Zooming asks the server for the window again, re-bucketed.
    chart = page.locator(".compare-page .chart-cell[data-metric='train_loss'] .u-over")
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    with page.expect_request(
        lambda r: (
            r.url.endswith("/api/v1/ui/series")
            and '"start":' in (r.post_data or "")
            and '"start":null' not in (r.post_data or "")
        )
    ) as zoomed:
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
    body = json.loads(zoomed.value.post_data)
    assert 0 < body["start"] < body["end"] < 3000


def test_models_page(page: Any, seeded: Seeded, screenshots: Path) -> None:
    page.goto(f"{seeded.url}/#/models")
    card = page.locator(".model-card[data-model='segmenter']")
    card.wait_for()
    text = card.inner_text()
    assert "@champion → v1" in text and "UNet segmenter" in text
    assert card.locator("table.versions-table tbody tr").count() == 2
    card.get_by_role("link", name=seeded.best_child[:8]).first.click()
    page.wait_for_url(re.compile(rf"#/runs/{seeded.best_child}"))
    page.goto(f"{seeded.url}/#/models")
    card.wait_for()
    page.screenshot(path=screenshots / "models.png")


def test_no_user_string_is_inserted_as_html(page: Any, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/#/experiments/{seeded.experiment_id}?flat=1")
    page.locator(f".row[data-run-id='{seeded.xss_id}']").wait_for()
    page.goto(f"{seeded.url}/#/runs/{seeded.xss_id}")
    page.locator(".run-name").wait_for()
    assert page.locator(".run-name").inner_text() == XSS_NAME
    assert "<script>window.__xss=2</script>" in page.locator("table.kv").first.inner_text()
    page.goto(f"{seeded.url}/#/compare?runs={seeded.xss_id},{seeded.child_ids[0]}")
    page.locator(".params-diff").wait_for()
    injected = page.evaluate(
        "() => document.querySelectorAll("
        "'img[src=\"x\"], b[onmouseover], script:not([src])').length"
    )
    assert injected == 0
    assert page.evaluate("() => window.__xss") is None


def test_running_run_updates_live(page: Any, seeded: Seeded, tmp_path: Path) -> None:
    page.goto(f"{seeded.url}/#/runs/{seeded.running_id}")
    page.locator(".live").wait_for()
    points = page.locator("table.summaries tbody tr", has_text="train_loss").locator("td").nth(5)
    assert points.inner_text() == "50"
    client = runbase.Client(seeded.url, spool_dir=tmp_path)
    client.log_metric_series(
        seeded.running_id, "train_loss", np.linspace(0.5, 0.4, EPOCHS), steps=np.arange(50, 70)
    )
    client.flush()
    page.wait_for_function(
        "() => [...document.querySelectorAll('table.summaries tbody tr')]"
        ".some(r => r.textContent.includes('train_loss') && r.children[5].textContent === '70')",
        timeout=15_000,
    )
    client.set_terminated(seeded.running_id)
    client.close()
    page.wait_for_function("() => !document.querySelector('.live')", timeout=15_000)


def test_missing_route_shows_a_page(page: Any, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/#/no/such/page")
    assert "Not found" in page.locator("main").inner_text()
    assert httpx.get(f"{seeded.url}/").headers["content-security-policy"].startswith("default-src")


def test_run_page_evaluation_tab(page: Any, seeded: Seeded, screenshots: Path) -> None:
    page.goto(f"{seeded.url}/#/runs/{seeded.evaluated_id}?tab=evaluation")
    panel = page.locator(".evaluation[data-path='evaluation/val_confusion_matrix.json']")
    panel.wait_for()
    assert panel.locator(".accuracy").inner_text() == "0.7"  # 7 of the 10 samples
    rows = panel.locator("table.per-class tbody tr")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.class)") == [
        *EVAL_CLASSES,
        "macro avg",
        "weighted avg",
    ]
    road = panel.locator("table.per-class tr[data-class='road'] td")
    assert [road.nth(i).inner_text() for i in range(1, 5)] == ["0.6667", "0.6667", "0.6667", "3"]
    cells = panel.locator("table.confusion tbody tr")
    counts = cells.evaluate_all(
        "rs => rs.map(r => [...r.querySelectorAll('td')].map(c => c.textContent))"
    )
    expected = np.zeros((3, 3), dtype=int)
    for t, p in zip(EVAL_TRUE, EVAL_PRED, strict=True):
        expected[t, p] += 1
    assert counts == [[str(v) for v in row] for row in expected.tolist()]
    assert "<b>car</b>" in panel.locator("table.confusion thead").inner_text()  # as text
    assert panel.locator("table.confusion b").count() == 0
    page.screenshot(path=screenshots / "run-evaluation.png", full_page=True)
    panel.locator("input.normalize").check()
    page.wait_for_function(
        "() => document.querySelector('table.confusion tbody td').textContent === '0.75'"
    )
