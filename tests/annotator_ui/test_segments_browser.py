"""Segments on the annotate page in Chromium: draw (keys and drag), adjust (edge drag snaps
to frames), change class, delete, undo, accept predictions, keyboard only; they survive a
reload; export → import in the page gives the same file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.annotator_ui.helpers import ROOT, poll, seek, wait_annotate_ready
from tests.server.helpers import upload
from tests.server.suggestions.seed import add_version

pytestmark = pytest.mark.browser

API = "/api/v1"
GUTTER, PAD_RIGHT = 104, 8  # timeline.js
FPS = 25.0


@pytest.fixture
def setup(client, admin, alice, clip_bytes):
    video = upload(client, alice, clip_bytes).json()  # 4 s, 25 fps, 100 frames
    classes = [
        client.post(f"{API}/classes", headers=admin.h, json={"name": n}).json()
        for n in ("Bounce", "Spin")
    ]
    return video, {c["name"]: c["id"] for c in classes}


def segments(client, actor, video_id) -> list[dict[str, Any]]:
    r = client.get(f"{API}/videos/{video_id}/segments", headers=actor.h)
    assert r.status_code == 200, r.text
    return r.json()


def edges(client, actor, video_id) -> list[tuple[int, float, float, str]]:
    return [
        (s["class_id"], round(s["start_s"], 6), round(s["end_s"], 6), s["source"])
        for s in segments(client, actor, video_id)
    ]


def wait_count(page: Any, n: int) -> None:
    page.wait_for_function(f"() => {ROOT}.segments === '{n}'")


def open_ready(open_page: Any, actor: Any, video_id: int) -> Any:
    page = open_page(actor, f"/videos/{video_id}")
    wait_annotate_ready(page)
    page.wait_for_function(f"() => {ROOT}.layers === '1'")
    return page


def until(page: Any, fn: Any, timeout_s: float = 10.0) -> Any:
    for _ in range(int(timeout_s * 10)):
        value = fn()
        if value:
            return value
        page.wait_for_timeout(100)
    raise AssertionError("condition not met in time")


def on_lane(page: Any, expected: list[tuple[float, float]]) -> list[dict[str, Any]] | None:
    """The segments drawn on the timeline's segment lane, once their edges are ``expected``."""
    drawn = json.loads(page.locator("#timeline").get_attribute("data-my-segments") or "[]")
    return drawn if [(d["start_s"], d["end_s"]) for d in drawn] == expected else None


def on_frame_edges(*times: float) -> bool:
    return all(abs(t * FPS - round(t * FPS)) < 1e-6 for t in times)


def test_keyboard_only_draw_change_class_adjust_delete_undo_and_reload(
    client, alice, setup, open_page
):
    video, cls = setup
    vid = video["id"]
    page = open_ready(open_page, alice, vid)
    wait_count(page, 0)
    kb = page.keyboard

    # I at frame 25 (1.0 s), O at frame 50 (2.0 s): the segment covers frames 25..50
    seek(page, 1.0 + 0.5 / FPS)
    kb.press("i")
    seek(page, 2.0 + 0.5 / FPS)
    kb.press("o")
    page.wait_for_function(f"() => {ROOT}.armed === 'segment'")
    kb.press("1")  # class 1: Bounce
    wait_count(page, 1)
    until(page, lambda: edges(client, alice, vid) == [(cls["Bounce"], 1.0, 2.04, "drawn")])

    # E selects it, C then 2 makes it Spin
    seek(page, 1.5)
    kb.press("e")
    page.wait_for_selector("#segment-list button.segment-item[aria-pressed='true']")
    kb.press("c")
    kb.press("2")
    until(page, lambda: edges(client, alice, vid) == [(cls["Spin"], 1.0, 2.04, "drawn")])
    # Shift+O / Shift+I move its edges to the playhead's frame (end of / start of)
    seek(page, 3.0 + 0.5 / FPS)
    kb.press("Shift+O")
    until(page, lambda: edges(client, alice, vid) == [(cls["Spin"], 1.0, 3.04, "drawn")])
    seek(page, 0.52 + 0.5 / FPS)  # inside frame 13
    kb.press("Shift+I")
    until(page, lambda: edges(client, alice, vid) == [(cls["Spin"], 0.52, 3.04, "drawn")])
    # Delete removes it; Z brings it back, then undoes the edits one by one, then the draw
    kb.press("Delete")
    wait_count(page, 0)
    until(page, lambda: segments(client, alice, vid) == [])
    for expected in (
        [(cls["Spin"], 0.52, 3.04, "drawn")],
        [(cls["Spin"], 1.0, 3.04, "drawn")],
        [(cls["Spin"], 1.0, 2.04, "drawn")],
        [(cls["Bounce"], 1.0, 2.04, "drawn")],
        [],
    ):
        kb.press("z")
        until(page, lambda expected=expected: edges(client, alice, vid) == expected)
    wait_count(page, 0)

    # Z also covers clicks, in the order things were done: a segment, then a click
    seek(page, 0.2 + 0.5 / FPS)
    kb.press("i")
    seek(page, 0.6 + 0.5 / FPS)
    kb.press("o")
    kb.press("Enter")  # the class chosen in the panel: the first, Bounce
    wait_count(page, 1)
    kb.press("b")
    page.wait_for_function(f"() => {ROOT}.clicks === '1' && {ROOT}.pending === '0'")
    kb.press("z")
    page.wait_for_function(f"() => {ROOT}.clicks === '0'")
    # the undo's own status line comes after its API round trip: wait for it, or it can land
    # after O's message below (seen on a fresh-clone run)
    poll(lambda: "removed" in page.locator("#status").inner_text(), page=page)
    assert edges(client, alice, vid) == [(cls["Bounce"], 0.2, 0.64, "drawn")]
    # Esc after I cancels the mark; O alone explains what to do
    kb.press("i")
    kb.press("Escape")
    kb.press("o")
    assert "Press I at the segment's first frame" in page.locator("#status").inner_text()

    # it survives a reload: listed and drawn on the timeline's segment lane
    page.reload()
    wait_annotate_ready(page)
    wait_count(page, 1)
    drawn = until(page, lambda: on_lane(page, [(0.2, 0.64)]))
    assert [(d["start_s"], d["end_s"], d["class_id"]) for d in drawn] == [
        (0.2, 0.64, cls["Bounce"])
    ]
    item = page.locator("#segment-list li").first
    assert item.locator("select").input_value() == str(cls["Bounce"])
    assert "Bounce 0:00.20–0:00.64" in (
        item.locator("button").first.get_attribute("aria-label") or ""
    )
    assert not page.js_errors


def x_of(page: Any, t: float, duration: float) -> float:
    """Page x of time t (the whole video in view)."""
    box = page.locator("#timeline").bounding_box()
    width = box["width"]
    return box["x"] + GUTTER + t / duration * (width - GUTTER - PAD_RIGHT)


def lane_y(page: Any) -> float:
    box = page.locator("#timeline").bounding_box()
    lane = json.loads(page.locator("#timeline").get_attribute("data-segment-lane"))
    return box["y"] + (lane["y0"] + lane["y1"]) / 2


def drag(page: Any, x0: float, x1: float, y: float) -> None:
    page.mouse.move(x0, y)
    page.mouse.down()
    for k in range(1, 9):
        page.mouse.move(x0 + (x1 - x0) * k / 8, y)
    page.mouse.up()


def test_drag_draws_and_edge_drag_snaps_to_frames_then_mouse_edits(client, alice, setup, open_page):
    video, cls = setup
    vid, duration = video["id"], video["duration_s"]
    page = open_ready(open_page, alice, vid)
    wait_count(page, 0)
    page.select_option("#segment-class", str(cls["Spin"]))
    y = lane_y(page)
    # times a tenth of a frame past a boundary: each snaps to that boundary
    drag(page, x_of(page, 1.004, duration), x_of(page, 2.524, duration), y)
    wait_count(page, 1)
    ((c, a, b, source),) = until(page, lambda: edges(client, alice, vid))
    assert (c, source) == (cls["Spin"], "drawn")
    assert on_frame_edges(a, b), (a, b)
    assert abs(a - 1.0) <= 1 / FPS and abs(b - 2.52) <= 1 / FPS, (a, b)

    # drag the end edge, then the start edge: both land on frame boundaries
    until(page, lambda: on_lane(page, [(a, b)]))
    drag(page, x_of(page, b, duration), x_of(page, 3.212, duration), y)
    until(page, lambda: edges(client, alice, vid)[0][2] != b)
    ((_, a2, b2, _),) = edges(client, alice, vid)
    assert a2 == a and on_frame_edges(b2) and abs(b2 - 3.2) <= 1 / FPS, (a2, b2)
    until(page, lambda: on_lane(page, [(a2, b2)]))
    drag(page, x_of(page, a2, duration), x_of(page, 0.612, duration), y)
    until(page, lambda: edges(client, alice, vid)[0][1] != a2)
    ((_, a3, b3, _),) = edges(client, alice, vid)
    assert b3 == b2 and on_frame_edges(a3) and abs(a3 - 0.6) <= 1 / FPS, (a3, b3)
    drawn = until(page, lambda: on_lane(page, [(a3, b3)]))  # once the page has the answer
    assert [(d["start_s"], d["end_s"]) for d in drawn] == [(a3, b3)]
    assert (
        abs(
            drawn[0]["x0"]
            - (x_of(page, a3, duration) - page.locator("#timeline").bounding_box()["x"])
        )
        < 1.5
    )

    # a click on the segment selects it; the list's select changes its class
    page.mouse.click(x_of(page, 2.0, duration), y)
    page.wait_for_selector("#segment-list button.segment-item[aria-pressed='true']")
    page.select_option("#segment-list select", str(cls["Bounce"]))
    until(page, lambda: edges(client, alice, vid)[0][0] == cls["Bounce"])
    # the ✕ deletes, the Undo button restores
    page.click("#segment-list .segment-delete")
    wait_count(page, 0)
    page.click("#undo")
    wait_count(page, 1)
    assert edges(client, alice, vid) == [(cls["Bounce"], a3, b3, "drawn")]
    assert not page.js_errors


def test_accept_predictions_by_key_then_adjust(
    app, client, alice, setup, open_page, screenshot_dir: Path
):
    video, cls = setup
    vid = video["id"]
    version = add_version(
        app,
        active=True,
        segments=[
            (vid, cls["Bounce"], 0.52, 1.48, 0.9),
            (vid, cls["Spin"], 2.0, 3.0, 0.4),
            (vid, cls["Spin"], 3.12, 3.8, 0.7),
        ],
    )
    page = open_ready(open_page, alice, vid)
    page.wait_for_function(f"() => {ROOT}.predictions === '{version}'")
    kb = page.keyboard
    seek(page, 1.0)
    kb.press("p")  # the predicted segment under the playhead
    wait_count(page, 1)
    (seg,) = segments(client, alice, vid)
    assert (seg["class_id"], seg["start_s"], seg["end_s"]) == (cls["Bounce"], 0.52, 1.48)
    assert seg["source"] == "prediction" and seg["model_version_id"] == version
    assert seg["prediction_score"] == 0.9
    assert f"model v{version} · 0.90" in page.locator("#segment-list li").first.inner_text()
    # accepted, it is selected: Shift+O moves its end like a drawn one's
    seek(page, 1.8 + 0.5 / FPS)
    kb.press("Shift+O")
    until(page, lambda: segments(client, alice, vid)[0]["end_s"] == 1.84)
    assert segments(client, alice, vid)[0]["predicted_end_s"] == 1.48

    # Shift+P: every predicted segment of a class above a score (a small form, by keyboard)
    kb.press("Shift+P")
    page.wait_for_selector("#accept-dialog[open]")
    kb.press("Shift+Tab")  # from the score field to the class
    kb.press("ArrowDown")  # Bounce → Spin
    assert page.locator("#accept-class").input_value() == str(cls["Spin"])
    kb.press("Tab")
    kb.type("0.5")
    assert "1 predicted segment of this class" in page.locator("#accept-count").inner_text()
    kb.press("Enter")
    wait_count(page, 2)
    assert [(s["class_id"], s["start_s"], s["end_s"]) for s in segments(client, alice, vid)] == [
        (cls["Bounce"], 0.52, 1.84),
        (cls["Spin"], 3.12, 3.8),
    ]
    page.locator(".annotate-grid").screenshot(path=str(screenshot_dir / "annotate-segments.png"))
    # Z undoes the accept, then the edge
    kb.press("z")
    wait_count(page, 1)
    kb.press("z")
    until(page, lambda: segments(client, alice, vid)[0]["end_s"] == 1.48)
    # P where nothing is predicted says so
    seek(page, 0.1)
    kb.press("p")
    until(page, lambda: "predicts no segment" in page.locator("#status").inner_text())
    assert not page.js_errors


def test_export_then_import_in_the_page_gives_the_same_file(
    app, client, alice, setup, open_page, tmp_path: Path
):
    video, cls = setup
    vid = video["id"]
    for c, a, b in [("Bounce", 0.4, 1.2), ("Spin", 2.0, 3.96)]:
        r = client.post(
            f"{API}/videos/{vid}/segments",
            headers=alice.h,
            json={"class_id": cls[c], "start_s": a, "end_s": b},
        )
        assert r.status_code == 201, r.text
    add_version(app, active=True, segments=[(vid, cls["Bounce"], 3.0, 3.5, 0.6)])
    assert (
        client.post(
            f"{API}/videos/{vid}/segments/accept", headers=alice.h, json={"at_s": 3.2}
        ).status_code
        == 201
    )
    page = open_ready(open_page, alice, vid)
    wait_count(page, 3)
    page.click("#segments-io-summary")
    with page.expect_download() as info:
        page.click("#segments-export")
    path = tmp_path / "segments.json"
    info.value.save_as(path)
    exported = json.loads(path.read_text())
    assert len(exported["database"][video["name"]]["annotations"]) == 3
    # everything deleted, then the file imported in the page: the same segments again
    for s in segments(client, alice, vid):
        assert client.delete(f"{API}/segments/{s['id']}", headers=alice.h).status_code == 204
    page.reload()
    wait_annotate_ready(page)
    wait_count(page, 0)
    page.click("#segments-io-summary")
    page.set_input_files("#segments-import", str(path))
    wait_count(page, 3)
    assert "3 of 3 segments imported" in page.locator("#status").inner_text()
    again = client.get(f"{API}/export/segments?video_id={vid}", headers=alice.h).json()
    assert again == exported
    assert not page.js_errors


def test_admin_marks_the_video_as_validation(client, admin, alice, setup, open_page):
    video, _ = setup
    page = open_ready(open_page, admin, video["id"])
    page.wait_for_function(f"() => {ROOT}.validation === '0'")
    page.check("#validation-toggle")
    page.wait_for_function(f"() => {ROOT}.validation === '1'")
    assert client.get(f"{API}/videos/{video['id']}", headers=alice.h).json()["is_validation"]
    theirs = open_ready(open_page, alice, video["id"])
    theirs.wait_for_function(f"() => {ROOT}.validation === '1'")
    assert theirs.locator("#validation-badge").is_visible()
    assert theirs.locator("#validation-control").is_hidden()
    page.uncheck("#validation-toggle")
    page.wait_for_function(f"() => {ROOT}.validation === '0'")
    assert not client.get(f"{API}/videos/{video['id']}", headers=alice.h).json()["is_validation"]


def test_admin_marks_validation_videos_in_the_video_list(client, admin, alice, setup, open_page):
    video, _ = setup
    page = open_page(admin, "/videos")
    box = page.locator(f"input.validation-toggle[data-video-id='{video['id']}']")
    assert not box.is_checked()
    box.focus()
    page.keyboard.press("Space")  # by keyboard
    page.wait_for_function(
        "() => document.getElementById('validation-status').textContent.includes('validation')"
    )
    assert client.get(f"{API}/videos/{video['id']}", headers=alice.h).json()["is_validation"]
    page.reload()
    assert page.locator(f"input.validation-toggle[data-video-id='{video['id']}']").is_checked()
    theirs = open_page(alice, "/videos")
    row = theirs.locator(f"tr[data-video-id='{video['id']}'] td[data-col='validation']")
    assert row.inner_text().strip() == "validation"
    assert theirs.locator("input.validation-toggle").count() == 0
    page.locator(f"input.validation-toggle[data-video-id='{video['id']}']").uncheck()
    page.wait_for_function(
        "() => document.getElementById('validation-status').textContent.includes('training')"
    )
    assert not client.get(f"{API}/videos/{video['id']}", headers=alice.h).json()["is_validation"]
    assert not page.js_errors and not theirs.js_errors
