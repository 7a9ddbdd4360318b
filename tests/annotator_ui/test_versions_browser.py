"""Must-shows of issue 22 on the admin page, in Chromium against the real API and worker:
the versions table with readable metrics (the validation set's mAP@0.5 and avg 0.1:0.7, or
plainly that there is none), clicks and labels used, the recipe; a version's mAP-per-tIoU
plot and false-positive bars; two versions compared (differences, both curves on one plot);
and "Does annotation pay here?": the button, its refusal without a validation set, progress
while it runs, the table with paired per-video differences, the learning curve."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tests.annotator_ui.test_admin_browser import _start_worker
from tests.server.comparisons.seed import API, draw, mark_validation, seed_project
from tests.server.helpers import FAST_WORKER, run_worker

pytestmark = pytest.mark.browser

ADMIN = "document.getElementById('admin').dataset"
CARD = "document.getElementById('comparison').dataset"
PANEL = "document.getElementById('compare-panel').dataset"


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={**FAST_WORKER, "validation_min_videos": 3})


def retrain(client: Any, admin: Any, settings: Any, **body: Any) -> None:
    r = client.post(
        f"{API}/training-jobs", headers=admin.h, json={"epochs": 10, "hidden": 16, **body}
    )
    assert r.status_code == 202, r.text
    run_worker(settings)


def validation_set(client: Any, admin: Any, alice: Any, world: dict[str, Any], names) -> None:
    bounce, spin = world["classes"]["Bounce"], world["classes"]["Spin"]
    for name in names:
        vid = world["ids"][name]
        draw(client, alice, vid, bounce, 4.0, 8.0)
        if int(name[1:]) % 2:
            draw(client, alice, vid, spin, 10.0, 13.0)
        mark_validation(client, admin, vid)


def test_versions_table_plots_and_compare(
    client, app, settings, admin, alice, open_page, screenshot_dir: Path
):
    world = seed_project(client, app, admin, alice, videos=8, validation=0)
    retrain(client, admin, settings)  # 1: no validation set yet
    validation_set(client, admin, alice, world, ["v5", "v6", "v7"])
    retrain(client, admin, settings, supervision="weak")  # 2
    retrain(client, admin, settings, supervision="bg-click")  # 3 (active)
    versions = {v["id"]: v for v in client.get(f"{API}/model-versions", headers=admin.h).json()}
    assert sorted(versions) == [1, 2, 3]

    page = open_page(admin, "/admin")
    page.wait_for_function(f"() => {ADMIN}.loaded === '1'")
    row = {i: page.locator(f"#versions-table tr[data-version-id='{i}']") for i in versions}
    first = row[1].locator("td.metrics").inner_text()
    assert first.startswith("No validation set"), first
    assert "Mark videos with segments as validation." in first
    val = versions[3]["metrics"]["validation"]
    text = row[3].locator("td.metrics").inner_text()
    assert (
        f"mAP@0.5 {100 * val['mAP']['0.5']:.1f} % · avg 0.1:0.7 {100 * val['avg_0.1_0.7']:.1f} %"
        in text
    ), text
    assert "on 3 validation videos (5 segments)" in text
    assert "they also chose the best epoch, so slightly optimistic" in text
    assert "holdout." not in row[3].inner_text()  # no raw keys any more
    assert "5 labelled videos · 15 background clicks · 1 annotator" in row[3].inner_text()
    assert versions[3]["config"]["recipe"]["text"] in row[3].locator("code").inner_text()
    assert "studio + " in row[3].locator("code").inner_text()

    # Plots of version 3, by keyboard: its mAP per tIoU and its false-positive bars
    plots = row[3].get_by_role("button", name="mAP per tIoU and false positives of version 3")
    plots.focus()
    page.keyboard.press("Enter")
    details = page.locator("#versions-table tr[data-details-for='3']")
    details.wait_for()
    assert plots.get_attribute("aria-expanded") == "true"
    assert details.locator("canvas.tiou-plot").get_attribute("data-series") == "1"
    assert details.locator("canvas.tiou-plot").get_attribute("data-points") == "9"
    assert details.locator("canvas.fp-bars").get_attribute("data-bars") == "1"
    caption = details.locator("figcaption").nth(1).inner_text()
    summary = val["fp_analysis"]["summary"]
    assert f"{summary['true_positive']} true positives" in caption
    assert details.locator("figcaption").first.inner_text().count("%") == 9

    # compare 2 (weak) with 3 (bg-click), started by the row's Compare button
    row[3].get_by_role("button", name="Compare version 3 with another").press("Enter")
    page.select_option("#compare-a", "2")
    page.wait_for_function(f"() => {PANEL}.compared === '2,3'")
    weak = versions[2]["metrics"]["validation"]
    diff = 100 * (val["avg_0.1_0.7"] - weak["avg_0.1_0.7"])
    cells = page.locator("#compare-table tbody tr").filter(has_text="avg mAP 0.1:0.7").first
    texts = cells.locator("td").all_inner_texts()
    assert texts[0] == f"{100 * weak['avg_0.1_0.7']:.1f} %"
    assert texts[1] == f"{100 * val['avg_0.1_0.7']:.1f} %"
    sign = "+" if diff > 0.05 else "−" if diff < -0.05 else ""
    assert texts[2].endswith(f"{abs(diff):.1f}") and texts[2].startswith(sign or texts[2][0])
    assert page.locator("#compare-tiou").get_attribute("data-series") == "2"
    assert page.locator("#compare-fp").get_attribute("data-bars") == "2"
    paired = page.locator("#compare-paired").inner_text()
    assert "3 videos both were measured on" in paired and "better on" in paired
    page.locator("#compare-swap").click()
    page.wait_for_function(f"() => {PANEL}.compared === '3,2'")
    page.locator("#versions").screenshot(path=str(screenshot_dir / "admin-versions.png"))
    assert not page.js_errors


def test_comparison_button_progress_and_table(
    app, client, settings, admin, alice, open_page, screenshot_dir: Path, monkeypatch
):
    import model.train

    world = seed_project(client, app, admin, alice, videos=8, validation=0)
    page = open_page(admin, "/admin")
    page.wait_for_function(f"() => {CARD}.loaded === '1'")
    page.get_by_label("Epochs per training").fill("8")
    page.get_by_role("button", name="Compare supervision").click()
    status = page.locator("#pays-status")
    status.filter(has_text="No comparison").wait_for()
    assert "there is no validation set to measure the trainings on" in status.inner_text()
    assert page.locator("#pays-job").is_hidden()

    validation_set(client, admin, alice, world, ["v5", "v6", "v7"])
    real_fit = model.train.fit
    calls: list[int] = []
    held, release = threading.Event(), threading.Event()

    def gated_fit(*args: Any, on_progress: Any, **kwargs: Any) -> Any:
        calls.append(1)
        mine = len(calls)

        def report(info: dict[str, Any]) -> None:
            on_progress(info)
            if mine == 2 and info["epoch"] == 1:
                held.set()
                release.wait(120)

        return real_fit(*args, on_progress=report, **kwargs)

    monkeypatch.setattr(model.train, "fit", gated_fit)
    stop = _start_worker(app)
    try:
        page.locator("#pays-fractions").fill("50")
        page.locator("#pays-fractions").press("Enter")  # the keyboard submits the form
        status.filter(has_text="queued").wait_for()
        assert held.wait(120), "the second training never started"
        # weak done, bg-click at epoch 1 of 8, then bg-click on half the clicks: (1 + ⅛) / 3
        page.wait_for_function(f"() => {CARD}.jobProgress === '0.375'", timeout=20_000)
        assert page.locator("#pays-percent").inner_text() == "38 %"
        assert page.get_by_role("button", name="Compare supervision").is_disabled()
        assert page.locator("#pays-plan li[data-state='done']").all_inner_texts() == [
            "video labels only (weak) — clicks: none (video labels) — done"
        ]
        running = page.locator("#pays-plan li[data-state='running']").inner_text()
        assert running.startswith("background clicks (bg-click)") and "epoch 1 / 8" in running
        assert page.locator("#pays-table tbody tr").count() == 1  # weak's row is there already
        release.set()
        page.wait_for_function(f"() => {CARD}.jobStatus === 'succeeded'", timeout=120_000)
    finally:
        release.set()
        stop()
    (out,) = client.get(f"{API}/comparisons", headers=admin.h).json()
    result = out["result"]
    rows = page.locator("#pays-table tbody tr")
    assert rows.count() == 3
    bg = page.locator("#pays-table tr[data-key='bg-click']").locator("td").all_inner_texts()
    run = next(r for r in result["runs"] if r["key"] == "bg-click")
    assert bg[0] == f"{run['background_clicks']} background" == "15 background"
    assert bg[2] == f"{100 * run['avg_0.1_0.7']:.1f} %"
    paired = result["paired"]["bg-click"]["avg_0.1_0.7"]
    assert f"(better {paired['better']} · worse {paired['worse']} · tied {paired['tied']})" in bg[3]
    assert page.locator("#learning-curve").get_attribute("data-series") == "2"
    assert page.locator("#learning-curve").get_attribute("data-points") == "6"  # 0, 7, 15 clicks
    assert "0 clicks" in page.locator("#learning-caption").inner_text()
    assert page.locator("#pays-tiou").get_attribute("data-series") == "2"
    page.locator("#pays-videos-details summary").click()
    assert page.locator("#pays-videos tbody tr").count() == 3
    first = page.locator("#pays-videos tbody tr").first.locator("td").all_inner_texts()
    weak_v5 = next(r for r in result["runs"] if r["key"] == "weak")["per_video"]["v5"]
    assert first[0] == f"{100 * weak_v5['avg_0.1_0.7']:.1f} %"
    assert "succeeded" in page.locator("#pays-message").inner_text()
    page.locator("#comparison").screenshot(path=str(screenshot_dir / "admin-comparison.png"))
    assert not page.js_errors
