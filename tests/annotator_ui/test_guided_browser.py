"""Guided annotation in Chromium: suggestion markers where the API puts them, S / Shift+S
jump to each, B there stores a click and the marker leaves; the admin's review page keeps
and deletes flagged clicks; the quality table shows what the API says."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from tests.annotator_ui.helpers import ROOT, current_time, poll, seek, wait_annotate_ready
from tests.server.helpers import upload
from tests.server.suggestions.seed import add_version

pytestmark = pytest.mark.browser

GUTTER, PAD_RIGHT = 104, 8  # timeline.js layout
SUGGESTION_RGB = (0x70, 0x48, 0xE8)  # timeline.js SUGGESTION_COLOR
SUGGESTED = [
    (0.8, 0.62, "segment_border"),
    (2.0, 0.9, "low_confidence"),
    (3.2, 0.4, "unlabelled_activation"),
]

_PIXELS = """(points) => {
    const c = document.getElementById('timeline');
    const ctx = c.getContext('2d');
    const k = c.width / c.clientWidth;
    return points.map(([x, y]) =>
        Array.from(ctx.getImageData(Math.floor(x * k), Math.floor(y * k), 1, 1).data));
}"""


def _drawn(page: Any) -> list[dict[str, Any]]:
    return json.loads(page.locator("#timeline").get_attribute("data-suggestions") or "[]")


def _suggestion_world(app: Any, client: Any, admin: Any, clip_bytes: bytes) -> dict[str, Any]:
    classes = [
        client.post("/api/v1/classes", json={"name": n}, headers=admin.h).json()["id"]
        for n in ("Bounce", "Spin")
    ]
    video = upload(client, admin, clip_bytes, title="Bouncing ball (demo clip)").json()
    vid = video["id"]
    version = add_version(
        app,
        active=True,
        segments=[(vid, classes[0], 1.0, 2.5, 0.92), (vid, classes[1], 2.9, 3.6, 0.35)],
        suggestions=[(vid, t, sc, why, classes[0]) for t, sc, why in SUGGESTED],
    )
    return {"video": video, "classes": classes, "version": version}


def test_suggestions_drawn_jumped_to_and_answered(
    app, client, admin, alice, clip_bytes, open_page, screenshot_dir: Path
):
    world = _suggestion_world(app, client, admin, clip_bytes)
    vid = world["video"]["id"]
    api = client.get(f"/api/v1/videos/{vid}/suggestions", headers=alice.h).json()
    assert [s["t_s"] for s in api["suggestions"]] == [0.8, 2.0, 3.2]
    ids = {s["t_s"]: s["id"] for s in api["suggestions"]}

    page = open_page(alice, f"/videos/{vid}")
    wait_annotate_ready(page)
    page.wait_for_function(f"() => {ROOT}.suggestions === '3' && {ROOT}.layers === '1'")
    drawn = _drawn(page)
    width = page.evaluate("() => document.getElementById('timeline').clientWidth")
    duration = world["video"]["duration_s"]
    assert sorted(d["id"] for d in drawn) == sorted(ids.values())
    for d in drawn:  # where the API puts them (whole video in view)
        want = GUTTER + d["t_s"] / duration * (width - GUTTER - PAD_RIGHT)
        assert abs(d["x"] - want) < 1.0, (d, want)
    # hollow: the ring has the suggestion colour, the centre is the lane's white
    ring = page.evaluate(_PIXELS, [[d["x"], d["y"] - 6] for d in drawn])
    centre = page.evaluate(_PIXELS, [[d["x"], d["y"]] for d in drawn])
    for px in ring:
        assert all(abs(px[i] - SUGGESTION_RGB[i]) <= 40 for i in range(3)), px
    for px in centre:
        assert all(v >= 250 for v in px[:3]), px
    page.locator("#timeline").screenshot(path=str(screenshot_dir / "timeline-suggestions.png"))

    def at(t: float) -> None:
        sid = ids[t]
        page.wait_for_function(f"() => {ROOT}.currentSuggestion === '{sid}'")
        poll(lambda: abs(current_time(page) - t) < 1e-3, page=page)

    page.locator("#timeline").click(position={"x": 2, "y": 2})  # focus the page, no seek
    page.keyboard.press("Shift+S")  # from the start: the previous one wraps to the last
    at(3.2)
    page.keyboard.press("Shift+S")  # passes 3.2
    at(2.0)
    page.keyboard.press("s")  # passes 2.0; the next after 2.0 (3.2 is gone) wraps to 0.8
    at(0.8)
    # the passed ones leave the timeline once their pass is stored (an API round trip: under
    # load it can land after the jump; CI saw the marker of 2.0 still drawn at this line)
    poll(lambda: [d["id"] for d in _drawn(page)] == [ids[0.8]], page=page)
    page.keyboard.press("b")
    page.wait_for_function(f"() => {ROOT}.suggestions === '0' && {ROOT}.pending === '0'")
    assert _drawn(page) == []  # the marker left (and the lane with it)
    clicks = client.get(f"/api/v1/videos/{vid}/clicks", headers=alice.h).json()
    assert [round(c["t_s"], 3) for c in clicks] == [0.8]

    def answers_stored() -> dict[str, Any] | None:
        r = client.get(f"/api/v1/videos/{vid}/suggestions", headers=alice.h).json()
        return r if (r["answered"], r["passed"]) == (1, 2) else None

    after = poll(answers_stored, page=page)
    assert after["suggestions"] == []
    # another annotator still has the two passed ones (the click closed 0.8 for everyone)
    bob = client.post("/api/v1/users", json={"name": "bob", "role": "annotator"}, headers=admin.h)
    bob_h = {"Authorization": f"Bearer {bob.json()['token']}"}
    theirs = client.get(f"/api/v1/videos/{vid}/suggestions", headers=bob_h).json()
    assert [s["t_s"] for s in theirs["suggestions"]] == [2.0, 3.2]
    # after a reload nothing comes back for alice
    page.reload()
    wait_annotate_ready(page)
    page.wait_for_function(f"() => {ROOT}.layers === '1'")
    assert page.evaluate(f"() => {ROOT}.suggestions") == "0"
    assert page.js_errors == []


def _flag_world(app: Any, client: Any, admin: Any, alice: Any, bob: Any, clip_bytes: bytes):
    world = _suggestion_world(app, client, admin, clip_bytes)
    vid = world["video"]["id"]
    made = []
    for actor, t in ((alice, 1.5), (bob, 2.2), (alice, 0.4)):  # 0.4: outside, not flagged
        r = client.post(
            f"/api/v1/videos/{vid}/clicks",
            json={"t_s": t, "client_key": f"f{t}"},
            headers=actor.h,
        )
        made.append(r.json())
    return world, made


def test_review_page_keeps_and_deletes_flagged_clicks(
    app, client, admin, alice, bob, clip_bytes, open_page, screenshot_dir: Path
):
    world, (a_in, b_in, _) = _flag_world(app, client, admin, alice, bob, clip_bytes)
    page = open_page(admin, "/admin/review")
    page.wait_for_function("() => document.getElementById('review').dataset.loaded === '1'")
    rows = page.locator("#flags-table tbody tr")
    assert rows.count() == 2
    assert [rows.nth(i).get_attribute("data-click-id") for i in range(2)] == [
        str(a_in["id"]),
        str(b_in["id"]),
    ]
    assert "inside predicted Bounce" in rows.nth(0).inner_text()
    page.keyboard.press("Enter")  # jump to the first one's moment
    page.wait_for_function(
        f"() => document.getElementById('review').dataset.jumped === '{a_in['id']}'"
    )
    poll(
        lambda: (
            abs(page.evaluate("document.getElementById('review-video').currentTime") - 1.5) < 1e-3
        ),
        page=page,
    )
    review = "document.getElementById('review').dataset"
    strip = page.locator("#review-context")
    page.wait_for_function(f"() => {review}.context === '{a_in['id']}'")
    assert strip.is_visible()  # the strip shows the moment of the click about to be kept
    page.keyboard.press("k")  # keep
    page.wait_for_function(f"() => {review}.flags === '1'")
    assert strip.is_hidden()  # it showed the kept click
    assert page.evaluate(f"() => {review}.context") == ""
    assert rows.nth(0).get_attribute("data-click-id") == str(b_in["id"])
    page.keyboard.press("Enter")  # bob's click's moment, then delete it
    page.wait_for_function(f"() => {review}.context === '{b_in['id']}'")
    assert strip.is_visible()
    page.keyboard.press("d")  # delete
    page.wait_for_function(f"() => {review}.flags === '0'")
    assert strip.is_hidden()  # it showed the deleted click
    assert page.evaluate(f"() => {review}.context") == ""
    kept = client.get("/api/v1/click-flags?include_kept=true", headers=admin.h).json()
    assert [(i["click_id"], i["kept"]) for i in kept["items"]] == [(a_in["id"], True)]
    deleted = client.get(
        f"/api/v1/videos/{world['video']['id']}/clicks?annotator_id={bob.id}", headers=admin.h
    ).json()
    assert deleted == []  # bob's flagged click is gone
    assert page.js_errors == []
    # annotators get the 403 page
    other = open_page(alice, "/admin/review")
    assert "Admins only" in other.content()


def test_review_page_fetches_the_next_batch_when_one_is_reviewed(
    app, client, admin, alice, bob, clip_bytes, open_page
):
    _, (a_in, b_in, _) = _flag_world(app, client, admin, alice, bob, clip_bytes)
    page = open_page(admin, "/admin/review?batch=1")  # one flag at a time (the API's limit)
    review = "document.getElementById('review').dataset"
    page.wait_for_function(f"() => {review}.loaded === '1'")
    rows = page.locator("#flags-table tbody tr")
    assert [r.get_attribute("data-click-id") for r in rows.all()] == [str(a_in["id"])]
    assert "2 flagged clicks" in page.locator("#review-status").inner_text()
    assert "listing 1 at a time" in page.locator("#review-status").inner_text()
    tau = app.state.settings.qa_min_activation  # the status names the QA rule in force
    rule = "(segments scoring ≥ 0.5)" if tau is None else f"activation is ≥ {tau:g})"
    assert rule in page.locator("#review-status").inner_text()
    page.keyboard.press("k")  # the batch is done: the next one comes
    page.wait_for_function(f"() => {review}.batches === '2'")
    assert [r.get_attribute("data-click-id") for r in rows.all()] == [str(b_in["id"])]
    assert "Batch reviewed. 1 flagged click " in page.locator("#review-status").inner_text()
    page.keyboard.press("d")  # the last one: nothing more to fetch
    page.wait_for_function(f"() => {review}.flags === '0'")
    assert page.evaluate(f"() => {review}.batches") == "2"
    assert "Nothing to review" in rows.nth(0).inner_text()
    assert page.js_errors == []


def test_annotator_sees_own_flags_on_the_annotate_page(
    app, client, admin, alice, bob, clip_bytes, open_page, screenshot_dir: Path
):
    world, (a_in, b_in, a_out) = _flag_world(app, client, admin, alice, bob, clip_bytes)
    vid, duration = world["video"]["id"], world["video"]["duration_s"]
    page = open_page(alice, f"/videos/{vid}")
    wait_annotate_ready(page)
    page.wait_for_function(f"() => {ROOT}.layers === '1' && {ROOT}.flags === '1'")
    flagged = page.locator("#click-list li[data-flagged='1']")
    assert flagged.count() == 1 and flagged.get_attribute("data-click-id") == str(a_in["id"])
    badge = flagged.locator(".badge.flag").get_attribute("title") or ""
    assert "inside predicted Bounce 0:01.00–0:02.50 (score 0.92), 0.50 s after its start" in badge
    outside = page.locator(f"#click-list li[data-click-id='{a_out['id']}']")
    assert outside.get_attribute("data-flagged") is None
    assert page.locator(f"#click-list li[data-click-id='{b_in['id']}']").count() == 0  # bob's
    # on the timeline: a "!" beside the flagged click's marker (whole video in view)
    width = page.evaluate("() => document.getElementById('timeline').clientWidth")
    (mark,) = json.loads(page.locator("#timeline").get_attribute("data-flagged") or "[]")
    assert mark["id"] == a_in["id"]
    assert abs(mark["x"] - (GUTTER + 1.5 / duration * (width - GUTTER - PAD_RIGHT) + 8)) < 1.0
    # selecting it says why
    flagged.locator("button").click()
    assert "Check it — inside predicted Bounce" in page.locator("#status").inner_text()
    page.screenshot(path=str(screenshot_dir / "annotate-flags.png"), full_page=True)
    # a new click inside the segment is checked once saved; deleting one takes its flag away
    seek(page, 2.0)
    page.keyboard.press("b")
    page.wait_for_function(f"() => {ROOT}.pending === '0' && {ROOT}.flags === '2'")
    flagged.first.locator("button").click()  # the 1.5 s one (time order)
    page.keyboard.press("Delete")
    page.wait_for_function(f"() => {ROOT}.flags === '1' && {ROOT}.clicks === '2'")
    (left,) = [
        li.get_attribute("data-click-id")
        for li in page.locator("#click-list li[data-flagged='1']").all()
    ]
    api = client.get(f"/api/v1/click-flags?video_id={vid}", headers=alice.h).json()
    assert [str(i["click_id"]) for i in api["items"]] == [left]
    # the admin sees everyone's flags: alice's new click and bob's
    other = open_page(admin, f"/videos/{vid}")
    wait_annotate_ready(other)
    other.wait_for_function(f"() => {ROOT}.layers === '1' && {ROOT}.flags === '2'")
    ids = {li.get_attribute("data-click-id") for li in other.locator("li[data-flagged]").all()}
    assert ids == {left, str(b_in["id"])}
    assert page.js_errors == [] and other.js_errors == []


_CONTEXT_PIXEL = """([x, y]) => {
    const c = document.getElementById('context-timeline');
    const k = c.width / c.clientWidth;
    const px = c.getContext('2d').getImageData(Math.floor(x * k), Math.floor(y * k), 1, 1);
    return Array.from(px.data);
}"""


def test_review_context_shows_the_moment_and_loops_it(
    app, client, admin, alice, bob, clip_bytes, open_page, screenshot_dir: Path
):
    world, (a_in, b_in, a_out) = _flag_world(app, client, admin, alice, bob, clip_bytes)
    vid, (c0, _) = world["video"]["id"], world["classes"]
    from server.db import session_scope
    from server.models import GroundTruthSegment

    with session_scope(app.state.sessionmaker) as s:  # imported GT: drawn in its own lane
        s.add(GroundTruthSegment(video_id=vid, class_id=c0, start_s=1.6, end_s=2.4))
    page = open_page(admin, "/admin/review")
    page.wait_for_function("() => document.getElementById('review').dataset.loaded === '1'")
    first = page.locator("#flags-table tbody tr").nth(0)
    assert first.get_attribute("data-click-id") == str(a_in["id"])
    # 1.5 s in the predicted [1.0, 2.5]: 0.5 s after its start (the API's depth_s, by hand)
    assert "0.50 s after its start" in first.inner_text()
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"() => document.getElementById('review').dataset.context === '{a_in['id']}'"
    )
    canvas = page.locator("#context-timeline")
    duration = world["video"]["duration_s"]
    lo, hi = max(0.0, 1.5 - 5), min(duration, 1.5 + 5)  # the click ± 5 s, inside the video
    page.wait_for_function(
        f"() => document.getElementById('context-timeline').dataset.view === '{lo:.3f},{hi:.3f}'"
    )
    width = page.evaluate("() => document.getElementById('context-timeline').clientWidth")

    def x(t: float) -> float:
        return GUTTER + (t - lo) / (hi - lo) * (width - GUTTER - PAD_RIGHT)

    drawn = json.loads(canvas.get_attribute("data-segments") or "[]")
    assert sorted((d["class_id"], d["start_s"], d["end_s"]) for d in drawn) == sorted(
        [(c0, 1.0, 2.5), (world["classes"][1], 2.9, 3.6)]
    )
    bounce = next(d for d in drawn if d["class_id"] == c0)
    assert abs(bounce["x0"] - x(1.0)) < 1.0 and abs(bounce["x1"] - x(2.5)) < 1.0
    # the selected click is the highlighted one in the clicks lane (ruler 22 px, clicks 30 px),
    # left of its line (the flag's "!" disc sits right of it); the unflagged 0.4 s click is
    # drawn but neither highlighted nor marked; bob's flagged 2.2 s click is marked
    band = page.evaluate(_CONTEXT_PIXEL, [x(1.5) - 4, 44])
    plain = page.evaluate(_CONTEXT_PIXEL, [x(0.4) - 4, 44])
    assert band[0] >= 250 and 220 <= band[1] <= 240 and 130 <= band[2] <= 160, band
    assert all(v >= 250 for v in plain[:3]), (plain, a_out)
    marks = json.loads(canvas.get_attribute("data-flagged") or "[]")
    assert sorted(m["id"] for m in marks) == sorted([a_in["id"], b_in["id"]])
    # lanes: ruler 22, clicks 30, GT 14 per class, predictions 18 per class (no curves here)
    height = page.evaluate("() => document.getElementById('context-timeline').clientHeight")
    assert height == 22 + 30 + 2 * 14 + 2 * 18 + 2
    gt_in = page.evaluate(_CONTEXT_PIXEL, [x(2.0), 22 + 30 + 7])  # GT · Bounce lane
    gt_out = page.evaluate(_CONTEXT_PIXEL, [x(1.3), 22 + 30 + 7])
    assert gt_in[:3] == [0xD9, 0x48, 0x0F], gt_in  # timeline.js CLASS_COLORS[0]
    assert gt_out[:3] == [0xF8, 0xF9, 0xFA], gt_out  # the lane's background
    page.screenshot(path=str(screenshot_dir / "review.png"), full_page=True)

    def video_time() -> float:
        return float(page.evaluate("document.getElementById('review-video').currentTime"))

    # a click on the context timeline seeks the video there
    canvas.click(position={"x": x(2.0), "y": 10})
    poll(lambda: abs(video_time() - 2.0) < 0.05, page=page)
    # L loops the click ± 1.5 s: the video plays to 3.0 s and starts again at 0.0 s
    page.keyboard.press("l")
    page.wait_for_function(
        "() => document.getElementById('review').dataset.looping === '0.000,3.000'"
    )
    seen: list[float] = []

    def wrapped() -> bool:
        seen.append(video_time())
        return any(a > 2.5 and b < a - 1.5 for a, b in itertools.pairwise(seen))

    poll(wrapped, timeout=15.0, page=page)
    assert max(seen) <= 3.0 + 0.3, seen  # checked every animation frame: a frame or two late
    page.keyboard.press("l")
    page.wait_for_function("() => document.getElementById('review').dataset.looping === ''")
    assert page.evaluate("document.getElementById('review-video').paused") is True
    assert page.js_errors == []


def test_quality_table_matches_the_api(app, client, admin, alice, bob, clip_bytes, open_page):
    world, _ = _flag_world(app, client, admin, alice, bob, clip_bytes)
    vid = world["video"]["id"]
    c0, c1 = world["classes"]
    # imported GT Bounce [0.1, 2.0] holds alice's 0.4 s and 1.5 s clicks, not bob's 2.2 s one;
    # alice's new 2.25 s click is inside the confident prediction [1.0, 2.5] only
    gt = {"database": {"clip": {"annotations": [{"segment": [0.1, 2.0], "label": "Bounce"}]}}}
    r = client.post(
        "/api/v1/import/ground-truth",
        headers=admin.h,
        files={"file": ("gt.json", json.dumps(gt).encode(), "application/json")},
    )
    assert r.status_code == 200 and r.json()["segments"] == 1, r.text
    r = client.post(f"/api/v1/videos/{vid}/clicks", json={"t_s": 2.25}, headers=alice.h)
    assert r.status_code == 201, r.text
    # alice's one timed click is an action click (checked by nobody's QA, counted in clicks)
    r = client.post(
        f"/api/v1/videos/{vid}/clicks",
        json={"t_s": 3.0, "kind": "action", "class_id": c1, "client_elapsed_ms": 4200},
        headers=alice.h,
    )
    assert r.status_code == 201, r.text
    client.put(f"/api/v1/videos/{vid}/labels", json={"class_ids": [c0]}, headers=alice.h)
    client.put(f"/api/v1/videos/{vid}/labels", json={"class_ids": [c0, c1]}, headers=bob.h)
    api = client.get("/api/v1/annotators/quality", headers=admin.h).json()
    page = open_page(admin, "/admin")
    page.wait_for_function("() => document.getElementById('quality').dataset.loaded === '1'")
    table = page.locator("#quality-table tbody tr")
    assert [a["name"] for a in api["annotators"]] == ["alice", "bob"]
    # name, clicks, background, videos, s/click, flagged, flagged share, inside GT (share)
    assert [table.nth(i).locator("td").all_inner_texts() for i in range(table.count())] == [
        ["alice", "4", "3", "1", "4.2", "3", "100.0 %", "2 (66.7 %)"],
        ["bob", "1", "1", "1", "–", "1", "100.0 %", "0 (0.0 %)"],
    ]
    assert page.locator("#flag-count").inner_text() == "4"
    kappas = page.locator("#agreement-table tbody tr")
    assert [kappas.nth(i).locator("td").all_inner_texts() for i in range(kappas.count())] == [
        [c["class_name"], f"{c['kappa']:.2f}" if c["kappa"] is not None else "–"]
        for c in api["agreement"]["classes"]
    ]
    assert f"mean Jaccard of their label sets {api['agreement']['mean_jaccard']:.2f}" in (
        page.locator("#agreement-summary").inner_text()
    )
