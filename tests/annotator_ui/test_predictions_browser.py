"""Must-show 2: a model version's predictions are drawn on the annotate page's timeline.

The model version, its segments and activation curves are written with the ORM. The first
test reads them through the real ``GET /videos/{id}/predictions``; the second serves the
same data by route interception (with ground truth and a real thumbnail sprite), to check
the drawing through the ground-truth re-layout and the zoom.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.annotator_ui.helpers import ROOT, seek, wait_annotate_ready
from tests.server.helpers import upload

pytestmark = pytest.mark.browser

GUTTER, PAD_RIGHT = 104, 8  # timeline.js layout
CLASS_COLORS = ["#d9480f", "#1971c2"]  # timeline.js CLASS_COLORS[0:2]
LANE_BG = (248, 249, 250)  # #f8f9fa
# (class name, start_s, end_s, score)
SEGMENTS = [("Bounce", 1.0, 2.5, 0.92), ("Spin", 0.3, 0.8, 0.35), ("Bounce", 3.0, 3.6, 0.6)]
GROUND_TRUTH = [("Bounce", 1.0, 2.5)]


def _rgb(hex_color: str) -> tuple[int, int, int]:
    n = int(hex_color[1:], 16)
    return (n >> 16) & 255, (n >> 8) & 255, n & 255


def _expected_pixel(class_index: int, score: float) -> tuple[int, ...]:
    a = 0.3 + 0.7 * min(1.0, max(0.0, score))
    c = _rgb(CLASS_COLORS[class_index])
    return tuple(round(a * c[i] + (1 - a) * LANE_BG[i]) for i in range(3))


def _curve(times: list[float], centre: float, width: float) -> list[float]:
    return [round(math.exp(-(((t - centre) / width) ** 2)), 4) for t in times]


def _setup(app: Any, client: Any, admin: Any, alice: Any, clip_bytes: bytes) -> dict[str, Any]:
    """Classes, a video with clicks, an active model version with predictions (ORM)."""
    from server.db import session_scope
    from server.models import ActivationCurve, GroundTruthSegment, ModelVersion, Prediction

    classes = {
        name: client.post("/api/v1/classes", json={"name": name}, headers=admin.h).json()
        for name in ("Bounce", "Spin")
    }
    video = upload(client, admin, clip_bytes, title="Bouncing ball (demo clip)").json()
    for t, elapsed in ((0.4, 2100), (2.9, 1700), (3.8, 900)):
        client.post(
            f"/api/v1/videos/{video['id']}/clicks",
            json={"t_s": t, "client_key": f"k{t}", "client_elapsed_ms": elapsed},
            headers=alice.h,
        )
    client.put(
        f"/api/v1/videos/{video['id']}/labels",
        json={"class_ids": [classes["Bounce"]["id"]]},
        headers=alice.h,
    )
    times = [round(i * 0.16, 2) for i in range(26)]
    curves = {
        str(classes["Bounce"]["id"]): _curve(times, 1.8, 0.8),
        str(classes["Spin"]["id"]): _curve(times, 0.55, 0.3),
    }
    with session_scope(app.state.sessionmaker) as s:
        mv = ModelVersion(
            supervision="bg-click",
            checkpoint_path="checkpoints/test.pt",
            class_names=["Bounce", "Spin"],
            metrics={"mAP@0.5": 0.41},
            data_summary={"videos": 1, "clicks": 3, "annotators": 1},
            is_active=True,
        )
        s.add(mv)
        s.flush()
        for name, start, end, score in SEGMENTS:
            s.add(
                Prediction(
                    model_version_id=mv.id,
                    video_id=video["id"],
                    class_id=classes[name]["id"],
                    start_s=start,
                    end_s=end,
                    score=score,
                )
            )
        s.add(
            ActivationCurve(
                model_version_id=mv.id,
                video_id=video["id"],
                data={"times_s": times, "classes": curves},
            )
        )
        for name, start, end in GROUND_TRUTH:
            s.add(
                GroundTruthSegment(
                    video_id=video["id"], class_id=classes[name]["id"], start_s=start, end_s=end
                )
            )
        mv_id = mv.id
    segments = [
        {
            "class_id": classes[name]["id"],
            "class_name": name,
            "start_s": start,
            "end_s": end,
            "score": score,
        }
        for name, start, end, score in SEGMENTS
    ]
    gt = [
        {"class_id": classes[n]["id"], "class_name": n, "start_s": a, "end_s": b}
        for n, a, b in GROUND_TRUTH
    ]
    return {
        "video": video,
        "classes": classes,
        "model_version_id": mv_id,
        "predictions": {
            "model_version_id": mv_id,
            "segments": segments,
            "curves": {"times_s": times, "classes": curves},
        },
        "ground_truth": gt,
    }


_SAMPLE_JS = """(points) => {
    const c = document.getElementById('timeline');
    const ctx = c.getContext('2d');
    const k = c.width / c.clientWidth;
    return points.map(([x, y]) =>
        Array.from(ctx.getImageData(Math.floor(x * k), Math.floor(y * k), 1, 1).data));
}"""


def check_drawn_segments(page: Any, data: dict[str, Any]) -> None:
    """The bars drawn (data-segments) are the API's segments, in the right place and colour."""
    page.wait_for_function(
        f"() => {ROOT}.predictions === '{data['model_version_id']}' && "
        "JSON.parse(document.getElementById('timeline').dataset.segments || '[]').length > 0"
    )
    canvas = page.locator("#timeline")
    drawn = json.loads(canvas.get_attribute("data-segments") or "[]")
    expected = data["predictions"]["segments"]
    key = lambda s: (s["class_id"], round(s["start_s"], 3), round(s["end_s"], 3))  # noqa: E731
    assert sorted(map(key, drawn)) == sorted(map(key, expected))

    duration = data["video"]["duration_s"]
    width = page.evaluate("() => document.getElementById('timeline').clientWidth")
    index = {c["id"]: c["index"] for c in data["classes"].values()}
    for d in drawn:  # geometry: whole video in view
        x0 = GUTTER + d["start_s"] / duration * (width - GUTTER - PAD_RIGHT)
        x1 = GUTTER + d["end_s"] / duration * (width - GUTTER - PAD_RIGHT)
        assert abs(d["x0"] - x0) < 1.0 and abs(d["x1"] - x1) < 1.0, (d, x0, x1)

    # pixels: the middle of every bar has its class colour shaded by its score; the lane
    # is empty where the class has no segment
    centres = [((d["x0"] + d["x1"]) / 2, (d["y0"] + d["y1"]) / 2) for d in drawn]
    pixels = page.evaluate(_SAMPLE_JS, centres)
    for d, px in zip(drawn, pixels, strict=True):
        want = _expected_pixel(index[d["class_id"]], d["score"])
        assert all(abs(px[i] - want[i]) <= 4 for i in range(3)), (d, px, want)
    empty = []
    for d in drawn:
        own = [s for s in drawn if s["class_id"] == d["class_id"]]
        t = next(
            t / 100
            for t in range(30, int(duration * 100) - 10, 5)
            if all(not (s["start_s"] - 0.1 <= t / 100 <= s["end_s"] + 0.1) for s in own)
        )
        empty.append(
            (GUTTER + t / duration * (width - GUTTER - PAD_RIGHT), (d["y0"] + d["y1"]) / 2)
        )
    for px in page.evaluate(_SAMPLE_JS, empty):
        assert all(abs(px[i] - LANE_BG[i]) <= 2 for i in range(3)), px
    # the same segments are in the table alternative
    assert page.locator("#segment-table tbody tr").count() == len(expected)


def test_predictions_drawn_on_timeline(
    app, client, admin, alice, clip_bytes, open_page, screenshot_dir: Path
):
    """Must-show 2 against the real predictions endpoint."""
    data = _setup(app, client, admin, alice, clip_bytes)
    r = client.get(
        f"/api/v1/videos/{data['video']['id']}/predictions?model_version=active", headers=alice.h
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version_id"] == data["model_version_id"]
    data["predictions"]["segments"] = body["segments"]
    page = open_page(alice, f"/videos/{data['video']['id']}")
    wait_annotate_ready(page)
    check_drawn_segments(page, data)
    canvas = page.locator("#timeline")
    canvas.screenshot(path=str(screenshot_dir / "timeline-predictions.png"))


def _stub_layers(
    page: Any, data: dict[str, Any], sprite: bytes, sprite_index: dict[str, Any]
) -> None:
    vid = data["video"]["id"]

    def fulfil(payload: Any):  # type: ignore[no-untyped-def]
        return lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(payload)
        )

    page.route(f"**/api/v1/videos/{vid}/predictions*", fulfil(data["predictions"]))
    page.route(f"**/api/v1/videos/{vid}/ground-truth*", fulfil(data["ground_truth"]))
    page.route(
        f"**/api/v1/videos/{vid}/thumbnails",
        fulfil(
            {
                "sprite_url": f"/api/v1/videos/{vid}/thumbnails/sprite.jpg",
                "tile_width": sprite_index["tile_width"],
                "tile_height": sprite_index["tile_height"],
                "columns": sprite_index["columns"],
                "times_s": sprite_index["times"],
            }
        ),
    )
    page.route(
        f"**/api/v1/videos/{vid}/thumbnails/sprite.jpg",
        lambda route: route.fulfill(status=200, content_type="image/jpeg", body=sprite),
    )


def _sprite(clip_bytes: bytes, tmp_path: Path) -> tuple[bytes, dict[str, Any]]:
    from server.media.thumbnails import make_thumbnail_sprite

    src = tmp_path / "clip.mp4"
    src.write_bytes(clip_bytes)
    index = make_thumbnail_sprite(src, tmp_path / "sprite.jpg", every_s=0.5, tile_width=160)
    return (tmp_path / "sprite.jpg").read_bytes(), index


def test_predictions_drawn_with_stubbed_api(
    app, client, admin, alice, clip_bytes, open_page, screenshot_dir: Path, tmp_path: Path
):
    """Must-show 2 (drawing) + must-show 5 (annotate screenshot), API layers stubbed."""
    data = _setup(app, client, admin, alice, clip_bytes)
    sprite, sprite_index = _sprite(clip_bytes, tmp_path)
    page = open_page(None, "/")
    _stub_layers(page, data, sprite, sprite_index)
    page.context.add_cookies([{"name": "backtal_session", "value": alice.token, "url": page.url}])
    page.goto(f"/videos/{data['video']['id']}")
    wait_annotate_ready(page)
    check_drawn_segments(page, data)

    # ground truth toggle (G) adds one lane per class above the predictions
    lanes_before = page.evaluate("() => document.getElementById('timeline').clientHeight")
    page.keyboard.press("g")
    page.wait_for_function(
        f"() => document.getElementById('timeline').clientHeight > {lanes_before}"
    )
    check_drawn_segments(page, data)  # still right after the re-layout

    # zoom with the wheel around the pointer: the view narrows and still contains the pointer
    box = page.locator("#timeline").bounding_box()
    assert box is not None
    x = box["x"] + GUTTER + (box["width"] - GUTTER - PAD_RIGHT) * 0.5
    page.mouse.move(x, box["y"] + 40)
    page.mouse.wheel(0, -400)
    page.wait_for_function(
        "() => { const v = document.getElementById('timeline').dataset.view;"
        " const [a, b] = v.split(',').map(Number); return b - a < 3.5 && a < 2 && b > 2; }"
    )
    page.keyboard.press("0")
    page.wait_for_function(
        "() => document.getElementById('timeline').dataset.view === '0.000,4.000'"
    )

    # a picture for the docs: playhead inside the action, pointer over the timeline
    seek(page, 1.9)
    page.locator("#timeline").scroll_into_view_if_needed()
    page.mouse.move(box["x"] + GUTTER + (box["width"] - GUTTER - PAD_RIGHT) * 0.55, box["y"] + 40)
    page.locator("#thumb .thumb-img").wait_for()
    page.screenshot(path=str(screenshot_dir / "annotate.png"), full_page=True)
    page.locator("#timeline").screenshot(path=str(screenshot_dir / "timeline-predictions.png"))
    assert not page.js_errors
