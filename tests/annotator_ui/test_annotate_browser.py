"""The annotate page in Chromium: keyboard clicks, undo, frame steps, pending clicks."""

from __future__ import annotations

import math

import pytest

from server.models import Click
from tests.annotator_ui.helpers import ROOT, current_time, poll, seek, wait_annotate_ready
from tests.server.helpers import count, upload

pytestmark = pytest.mark.browser


def _clicks(client, actor, video_id):  # type: ignore[no-untyped-def]
    r = client.get(f"/api/v1/videos/{video_id}/clicks", headers=actor.h)
    assert r.status_code == 200
    return r.json()


def test_b_at_paused_position_stores_click_within_one_frame_and_z_removes_it(
    client, alice, clip_bytes, open_page
):
    """Must-show 1."""
    video = upload(client, alice, clip_bytes).json()
    fps = video["fps"]
    page = open_page(alice, f"/videos/{video['id']}")
    wait_annotate_ready(page)
    t = seek(page, 1.23)
    assert abs(t - 1.23) < 1e-3

    page.keyboard.press("b")
    page.wait_for_function(f"() => {ROOT}.clicks === '1' && {ROOT}.pending === '0'")
    clicks = _clicks(client, alice, video["id"])
    assert len(clicks) == 1
    click = clicks[0]
    assert abs(click["t_s"] - t) <= 1 / fps, (click["t_s"], t)
    assert click["frame_index"] == math.floor(t * fps + 1e-6)
    assert click["kind"] == "background" and click["while_playing"] is False
    assert click["client_key"] and click["client_elapsed_ms"] is not None
    # the marker is in the list and on the timeline
    assert page.locator("#click-list li[data-state='saved']").count() == 1

    page.keyboard.press("z")
    page.wait_for_function(f"() => {ROOT}.clicks === '0'")
    poll(lambda: _clicks(client, alice, video["id"]) == [], page=page)
    assert count(app_of(client), Click, Click.deleted_at.is_not(None)) == 1
    assert not page.js_errors


def app_of(client):  # type: ignore[no-untyped-def]
    return client.app


def test_frame_steps_speed_help_and_labels(client, admin, alice, clip_bytes, open_page):
    video = upload(client, alice, clip_bytes).json()
    fps, frames = video["fps"], video["frame_count"]
    cls = client.post("/api/v1/classes", json={"name": "Bounce"}, headers=admin.h).json()
    page = open_page(alice, f"/videos/{video['id']}")
    wait_annotate_ready(page)
    seek(page, 1.0 + 0.5 / fps)  # frame 25

    page.keyboard.press("ArrowRight")
    poll(lambda: abs(current_time(page) - 26.5 / fps) < 1e-3, page=page)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    poll(lambda: abs(current_time(page) - 24.5 / fps) < 1e-3, page=page)
    page.keyboard.press("Shift+ArrowRight")
    poll(lambda: abs(current_time(page) - 49.5 / fps) < 1e-3, page=page)
    page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("Shift+ArrowLeft")
    poll(lambda: abs(current_time(page) - 0.5 / fps) < 1e-3, page=page)
    page.keyboard.press("ArrowLeft")  # clamped at frame 0
    poll(lambda: abs(current_time(page) - 0.5 / fps) < 1e-3, page=page)
    seek(page, (frames - 1 + 0.5) / fps)
    page.keyboard.press("ArrowRight")  # clamped at the last frame
    page.wait_for_timeout(100)
    assert abs(current_time(page) - (frames - 0.5) / fps) < 1e-3

    rate = "document.getElementById('video').playbackRate"
    for _ in range(10):
        page.keyboard.press("]")
    assert page.evaluate(rate) == 4
    for _ in range(12):
        page.keyboard.press("[")
    assert page.evaluate(rate) == 0.25
    assert page.locator("#speed").inner_text() == "0.25×"

    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()

    page.keyboard.press("1")
    poll(
        lambda: (
            client.get(f"/api/v1/videos/{video['id']}/labels", headers=alice.h).json()["labels"]
            == [{"annotator_id": alice.id, "annotator_name": "alice", "class_ids": [cls["id"]]}]
        ),
        page=page,
    )
    assert page.locator(f"#label-{cls['id']}").is_checked()
    assert not page.js_errors


def test_click_while_playing_subtracts_reaction_offset(client, alice, clip_bytes, open_page):
    video = upload(client, alice, clip_bytes).json()
    client.patch("/api/v1/me", json={"reaction_offset_ms": 300}, headers=alice.h)
    page = open_page(alice, f"/videos/{video['id']}")
    wait_annotate_ready(page)
    seek(page, 1.0)
    page.keyboard.press(" ")
    page.wait_for_function("() => document.getElementById('video').currentTime > 1.6")
    at_press = page.evaluate(
        """() => {
            const v = document.getElementById('video');
            const t = v.currentTime;
            document.dispatchEvent(new KeyboardEvent('keydown', {key: 'b', bubbles: true}));
            return t;
        }"""
    )
    page.keyboard.press(" ")
    page.wait_for_function(f"() => {ROOT}.clicks === '1' && {ROOT}.pending === '0'")
    (click,) = _clicks(client, alice, video["id"])
    assert click["while_playing"] is True
    assert abs(click["t_s"] - (at_press - 0.3)) < 0.06, (click["t_s"], at_press)


def test_network_failure_click_is_pending_retried_and_stored_once(
    client, app, alice, clip_bytes, open_page
):
    """Must-show 4: the first POST reaches the server but its answer is lost; later ones
    fail outright until the network is back. The click shows as pending, is retried with
    the same client key, and exactly one click is stored."""
    video = upload(client, alice, clip_bytes).json()
    page = open_page(alice, f"/videos/{video['id']}")
    wait_annotate_ready(page)
    seek(page, 2.0)
    state = {"offline": True, "posts": []}

    def handler(route):  # type: ignore[no-untyped-def]
        request = route.request
        if request.method != "POST":
            route.continue_()
            return
        state["posts"].append(request.post_data_json["client_key"])
        if len(state["posts"]) == 1:
            route.fetch()  # the server stores the click…
            route.abort("failed")  # …but the browser never sees the answer
        elif state["offline"]:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route("**/api/v1/videos/*/clicks", handler)
    page.keyboard.press("b")
    pending = page.locator("#click-list li[data-state='pending']")
    pending.wait_for(timeout=60_000)  # the first attempt really reaches the server: allow load
    assert page.locator("#pending-count").is_visible()
    assert page.locator("#pending-count").inner_text() == "1 pending"
    assert "pending" in page.locator("#status").inner_text()
    assert count(app, Click) == 1  # stored by the first attempt
    state["offline"] = False
    page.evaluate("window.dispatchEvent(new Event('online'))")  # the browser is back online

    page.wait_for_function(f"() => {ROOT}.pending === '0'", timeout=60_000)
    assert page.locator("#click-list li[data-state='saved']").count() == 1
    assert page.locator("#pending-count").is_hidden()
    assert count(app, Click) == 1
    assert len(state["posts"]) >= 2 and len(set(state["posts"])) == 1
    assert page.evaluate("localStorage.length") == 0  # nothing left to resend
    (click,) = _clicks(client, alice, video["id"])
    assert click["client_key"] == state["posts"][0]


def test_timebase_js_mirrors_python(open_page):
    """static/js/timebase.js gives the frame and snippet indices of server/timebase.py."""
    from server.timebase import frame_index, snippet_index

    cases = [
        (t / 1000, fps, 100) for fps in (25.0, 29.97, 30000 / 1001, 24.0) for t in range(0, 4200, 7)
    ]
    cases += [(k / 25.0, 25.0, 100) for k in range(101)]  # exact frame boundaries
    page = open_page(None, "/")
    js = page.evaluate(
        """async (cases) => {
            const tb = await import('/static/js/timebase.js');
            return cases.map(([t, fps, n]) => [
                tb.frameIndex(t, fps, n), tb.snippetIndex(t, n / fps, 750),
                tb.frameIndex(tb.frameSeekTime(tb.frameIndex(t, fps, n), fps, n), fps, n),
            ]);
        }""",
        cases,
    )
    for (t, fps, n), (frame, snippet, again) in zip(cases, js, strict=True):
        assert frame == frame_index(t, fps, n), (t, fps)
        assert snippet == snippet_index(t, n / fps, 750), (t, fps)
        assert again == frame  # seeking to a frame shows that frame


def test_admin_sees_everyones_clicks_coloured_by_annotator(
    client, admin, alice, bob, clip_bytes, open_page
):
    video = upload(client, admin, clip_bytes).json()
    for actor, t in ((alice, 1.0), (bob, 2.0), (bob, 3.0)):
        client.post(f"/api/v1/videos/{video['id']}/clicks", json={"t_s": t}, headers=actor.h)
    page = open_page(alice, f"/videos/{video['id']}")
    wait_annotate_ready(page)
    assert page.locator("#click-list li").count() == 1  # an annotator sees only her own
    page = open_page(admin, f"/videos/{video['id']}")
    wait_annotate_ready(page)
    items = page.locator("#click-list li")
    assert items.count() == 3
    assert "alice" in items.nth(0).inner_text() and "bob" in items.nth(2).inner_text()
    colours = {
        items.nth(i).locator("button").evaluate("b => getComputedStyle(b).borderLeftColor")
        for i in range(3)
    }
    assert len(colours) == 2
    assert page.locator("#annotator-legend li").count() == 3  # alice, bob, admin
    # select bob's click on the timeline list, delete it with the Delete key
    items.nth(2).locator("button").click()
    page.keyboard.press("Delete")
    page.wait_for_function(f"() => {ROOT}.clicks === '2'")
    poll(
        lambda: len(_clicks(client, bob, video["id"])) == 1,
        page=page,
    )


def test_proxy_and_thumbnail_hover_after_media_job(app, client, alice, clip_bytes, open_page):
    """With the worker's media job done, the page plays the proxy and hovering the timeline
    shows the thumbnail of that moment."""
    from server.models import JobKind
    from server.worker.loop import run_until_idle

    video = upload(client, alice, clip_bytes).json()
    run_until_idle(app.state.settings, kinds=[JobKind.media])
    detail = client.get(f"/api/v1/videos/{video['id']}", headers=alice.h).json()
    assert detail["proxy"] and detail["thumbnails"], detail.get("status_message")
    page = open_page(alice, f"/videos/{video['id']}")
    wait_annotate_ready(page)
    with app.state.sessionmaker() as s:
        from server.models import Video

        proxy_size = (app.state.settings.media_dir / s.get(Video, video["id"]).proxy_path).stat()
    client.cookies.set("backtal_session", alice.token)
    r = client.get(f"/media/videos/{video['id']}")
    assert len(r.content) == proxy_size.st_size  # the page route serves the proxy
    page.wait_for_function(f"() => {ROOT}.layers === '1'")
    box = page.locator("#timeline").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + 30)
    thumb = page.locator("#thumb .thumb-img")
    thumb.wait_for()
    assert "blob:" in thumb.evaluate("e => e.style.backgroundImage")
    assert not page.js_errors


def test_video_list_and_n_for_next_video(
    client, admin, alice, clip_bytes, clip2_bytes, open_page, screenshot_dir
):
    v1 = upload(client, admin, clip_bytes, name="bounce.mp4", title="Bounce practice").json()
    v2 = upload(client, admin, clip2_bytes, name="spin.mp4", title="Spin drill").json()
    for t, ms in ((0.5, 2400), (1.7, 1800), (3.1, 2100)):
        client.post(
            f"/api/v1/videos/{v1['id']}/clicks",
            json={"t_s": t, "client_elapsed_ms": ms, "while_playing": True},
            headers=alice.h,
        )
    page = open_page(alice, "/videos")
    row = page.locator(f"tr[data-video-id='{v1['id']}']")
    assert row.locator("[data-col='clicks']").inner_text() == "3"
    assert "45.0" in row.inner_text()  # 3 clicks in 4 s of video
    assert "2.1" in row.inner_text()  # s per click
    page.screenshot(path=str(screenshot_dir / "videos.png"), full_page=True)
    page.get_by_role("link", name="Next unannotated video").click()
    page.wait_for_url(f"**/videos/{v2['id']}")
    wait_annotate_ready(page)
    page.keyboard.press("b")
    page.wait_for_function(f"() => {ROOT}.clicks === '1' && {ROOT}.pending === '0'")
    page.keyboard.press("n")  # everything has my clicks now: the next video in list order
    page.wait_for_url("**/videos?done=1")
    assert page.locator("#all-done").is_visible()
