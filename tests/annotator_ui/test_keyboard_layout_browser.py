"""Keyboard-complete annotation and the layouts: action clicks from the keyboard, timeline
pan by keyboard, the page at 1280×720 and on a 768-px-wide touch tablet."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tests.annotator_ui.helpers import ROOT, current_time, poll, seek, wait_annotate_ready
from tests.annotator_ui.test_predictions_browser import _setup
from tests.server.helpers import upload

pytestmark = pytest.mark.browser

GUTTER, PAD_RIGHT = 104, 8  # timeline.js layout


def _classes(client: Any, admin: Any) -> list[dict[str, Any]]:
    return [
        client.post("/api/v1/classes", json={"name": n}, headers=admin.h).json()
        for n in ("Bounce", "Spin")
    ]


def _clicks(client: Any, actor: Any, video_id: int) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/videos/{video_id}/clicks", headers=actor.h)
    assert r.status_code == 200
    return list(r.json())


def _view(page: Any) -> tuple[float, float]:
    a, b = page.locator("#timeline").get_attribute("data-view").split(",")
    return float(a), float(b)


def test_a_then_class_number_is_an_action_click_at_the_playhead(
    client, admin, alice, clip_bytes, open_page
):
    bounce, spin = _classes(client, admin)
    video = upload(client, alice, clip_bytes).json()
    fps = video["fps"]
    page = open_page(alice, f"/videos/{video['id']}")
    wait_annotate_ready(page)
    t = seek(page, 2.34)

    page.keyboard.press("a")
    page.wait_for_function(f"() => {ROOT}.armed === 'action'")
    assert "press the class number 1–2" in page.locator("#status").inner_text()
    page.keyboard.press("2")
    page.wait_for_function(f"() => {ROOT}.clicks === '1' && {ROOT}.pending === '0'")
    (click,) = _clicks(client, alice, video["id"])
    assert click["kind"] == "action" and click["class_id"] == spin["id"]
    assert abs(click["t_s"] - t) <= 1 / fps and click["frame_index"] == math.floor(t * fps + 1e-6)
    assert click["while_playing"] is False
    # the number went to the action click, not to the video labels
    labels = client.get(f"/api/v1/videos/{video['id']}/labels", headers=alice.h).json()["labels"]
    assert all(not mine["class_ids"] for mine in labels)
    assert "action Spin" in page.locator("#click-list li").first.inner_text()

    # Esc cancels; the next number toggles a label as usual
    seek(page, 3.0)
    page.keyboard.press("a")
    page.wait_for_function(f"() => {ROOT}.armed === 'action'")
    page.keyboard.press("Escape")
    page.wait_for_function(f"() => {ROOT}.armed === undefined")
    page.keyboard.press("1")
    poll(
        lambda: (
            client.get(f"/api/v1/videos/{video['id']}/labels", headers=alice.h).json()["labels"]
            == [{"annotator_id": alice.id, "annotator_name": "alice", "class_ids": [bounce["id"]]}]
        ),
        page=page,
    )
    assert len(_clicks(client, alice, video["id"])) == 1
    assert not page.js_errors


def test_keyboard_pan_moves_the_timeline_view(client, alice, clip_bytes, open_page):
    video = upload(client, alice, clip_bytes).json()
    page = open_page(alice, f"/videos/{video['id']}")
    wait_annotate_ready(page)
    seek(page, 2.0)
    page.keyboard.press("+")
    page.keyboard.press("+")  # a quarter of the 4 s video, around the playhead
    page.wait_for_function(
        "() => document.getElementById('timeline').dataset.view === '1.500,2.500'"
    )
    t0, t1 = _view(page)
    page.keyboard.press(".")
    page.wait_for_function(
        "() => document.getElementById('timeline').dataset.view === '1.750,2.750'"
    )
    page.keyboard.press(",")
    page.keyboard.press(",")
    page.wait_for_function(
        "() => document.getElementById('timeline').dataset.view === '1.250,2.250'"
    )
    for _ in range(8):  # clamped at the start, the width kept
        page.keyboard.press(",")
    page.wait_for_function(
        "() => document.getElementById('timeline').dataset.view === '0.000,1.000'"
    )
    assert (t1 - t0) == pytest.approx(1.0)
    assert current_time(page) == pytest.approx(2.0, abs=1e-3)  # panning does not seek
    page.locator("#pan-right").click()  # the same from a button
    page.wait_for_function(
        "() => document.getElementById('timeline').dataset.view === '0.250,1.250'"
    )
    assert not page.js_errors


def _fits(page: Any, width: int, height: int | None) -> None:
    """No sideways scrolling; the video, the Background button and the timeline are on
    screen (above the fold when ``height`` is given)."""
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    for sel in ("#video", "#bg-click", "#timeline", "#play"):
        box = page.locator(sel).bounding_box()
        assert box is not None and box["width"] > 0, sel
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (sel, box)
        if height is not None:
            assert box["y"] >= 0 and box["y"] + box["height"] <= height, (sel, box)


def _annotated_page(app: Any, client: Any, admin: Any, alice: Any, clip_bytes: bytes) -> int:
    """A video with clicks, labels and an active model version's predictions and curves:
    the timeline at its tallest (prediction lanes and the curve)."""
    return int(_setup(app, client, admin, alice, clip_bytes)["video"]["id"])


def test_layout_at_1280x720(app, client, admin, alice, clip_bytes, open_page, screenshot_dir: Path):
    vid = _annotated_page(app, client, admin, alice, clip_bytes)
    page = open_page(alice, f"/videos/{vid}", width=1280, height=720)
    wait_annotate_ready(page)
    page.wait_for_function(f"() => {ROOT}.layers === '1'")
    assert page.locator("#timeline").get_attribute("data-prediction-lanes") == "2"
    seek(page, 1.6)
    _fits(page, 1280, 720)
    sidebar = page.locator("aside.sidebar").bounding_box()
    player = page.locator("section.player").bounding_box()
    assert sidebar is not None and player is not None
    assert sidebar["x"] >= player["x"] + player["width"]  # side by side
    page.screenshot(path=str(screenshot_dir / "annotate-1280x720.png"))
    assert not page.js_errors


def test_tablet_768_tap_seeks_and_button_clicks_background(
    app, client, admin, alice, clip_bytes, open_page, screenshot_dir: Path
):
    vid = _annotated_page(app, client, admin, alice, clip_bytes)
    page = open_page(alice, f"/videos/{vid}", width=768, height=1024, touch=True)
    wait_annotate_ready(page)
    page.wait_for_function(f"() => {ROOT}.layers === '1'")
    _fits(page, 768, 1024)
    for sel in ("#bg-click", "#play", "#undo"):  # finger-sized targets
        box = page.locator(sel).bounding_box()
        assert box is not None and box["height"] >= 44, (sel, box)

    # a tap on the timeline seeks to the time under the finger
    canvas = page.locator("#timeline").bounding_box()
    assert canvas is not None
    w = canvas["width"] - GUTTER - PAD_RIGHT
    page.touchscreen.tap(canvas["x"] + GUTTER + 0.75 * w, canvas["y"] + 60)
    poll(lambda: abs(current_time(page) - 3.0) < 4 / 25, page=page)
    # the Background button clicks at the playhead
    page.locator("#bg-click").tap()
    page.wait_for_function(f"() => {ROOT}.clicks === '4' && {ROOT}.pending === '0'")
    new = [c for c in _clicks(client, alice, vid) if c["t_s"] not in (0.4, 2.9, 3.8)]
    assert len(new) == 1 and new[0]["kind"] == "background"
    assert abs(new[0]["t_s"] - current_time(page)) <= 1 / 25
    seek(page, 1.6)
    page.screenshot(path=str(screenshot_dir / "annotate-768x1024.png"), full_page=True)
    assert not page.js_errors
