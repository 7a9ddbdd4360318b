from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.db import session_scope
from server.exports.coin_csv import BOM
from server.models import Click, User
from server.videos.service import create_video_record
from tests.server.helpers import count

SHARED = Path(__file__).resolve().parents[3] / "shared" / "thumos14"
A1 = SHARED / "THUMOS14_Background-Click-Annotation_A1.txt"
GT = SHARED / "gt_thumos14.json"

# Our own fixture in the official layout: BOM, LF, no newline at the end, integers and
# decimals as the COIN tool writes them, one interval row, one action click, Time > 1.
FIXTURE = (
    BOM
    + "URLID,URL,TagID,Tag,Start,End,Time,State\n"
    + "video_a,video_a.mp4,2,background_background,0,0,1,1\n"
    + "video_a,video_a.mp4,2,background_background,3.5,3.5,2,1\n"
    + "video_a,video_a.mp4,2,background_background,12.04,12.04,1,1\n"
    + "video_a,video_a.mp4,0,Dive_Dive,20.5,20.5,1,1\n"
    + "video_b,video_b.mp4,2,background_background,1,1.5,4,1\n"
    + "video_b,video_b.mp4,2,background_background,29.96,29.96,1,1"
).encode("utf-8")


def add_videos(app, specs):
    with session_scope(app.state.sessionmaker) as s:
        for name, fps, duration in specs:
            create_video_record(
                s,
                name=name,
                fps=fps,
                frame_count=round(duration * fps),
                duration_s=duration,
                original_name=f"{name}.mp4",
            )


def add_classes(client, admin, names):
    for name in names:
        assert (
            client.post("/api/v1/classes", headers=admin.h, json={"name": name}).status_code == 201
        )


def import_csv(client, admin, data: bytes, annotator="A1"):
    return client.post(
        "/api/v1/import/clicks",
        headers=admin.h,
        files={"file": ("clicks.csv", data, "text/csv")},
        data={"annotator": annotator},
    )


def export_csv(client, actor, **params) -> bytes:
    r = client.get(
        "/api/v1/export/clicks", headers=actor.h, params={"format": "coin-csv", **params}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    return r.content


@pytest.fixture
def small_db(client, app, admin):
    add_classes(client, admin, ["Dive", "Jump"])
    add_videos(app, [("video_a", 30.0, 30.0), ("video_b", 25.0, 30.0)])


def test_fixture_round_trip_is_byte_identical(client, app, admin, small_db):
    r = import_csv(client, admin, FIXTURE)
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 6 and r.json()["already_present"] == 0
    annotator_id = r.json()["annotator_id"]
    first = export_csv(client, admin, annotator_id=annotator_id)
    assert first == FIXTURE
    # import the export as another annotator, export that one: still the same bytes
    r2 = import_csv(client, admin, first, annotator="A1-copy")
    assert export_csv(client, admin, annotator_id=r2.json()["annotator_id"]) == FIXTURE


def test_reimport_stores_nothing_twice(client, app, admin, small_db):
    import_csv(client, admin, FIXTURE)
    again = import_csv(client, admin, FIXTURE)
    assert again.json()["imported"] == 0 and again.json()["already_present"] == 6
    assert count(app, Click) == 6


def test_imported_clicks_have_frames_and_spans(client, app, admin, small_db):
    aid = import_csv(client, admin, FIXTURE).json()["annotator_id"]
    items = client.get(
        "/api/v1/export/clicks", headers=admin.h, params={"annotator_id": aid}
    ).json()["items"]
    by_t = {(i["video_name"], i["t_s"]): i for i in items}
    assert by_t[("video_a", 12.04)]["frame_index"] == 361  # floor(12.04 * 30)
    assert by_t[("video_b", 1.0)]["end_s"] == 1.5
    assert by_t[("video_a", 20.5)]["kind"] == "action"
    assert by_t[("video_a", 20.5)]["class_name"] == "Dive"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.replace(b"URLID,URL", b"URL_ID,URL"), "wrong header"),
        (
            lambda b: b.replace(
                b"video_b,video_b.mp4,2,background_background,1,",
                b"nope,nope.mp4,2,background_background,1,",
            ),
            "line 6: unknown video 'nope'",
        ),
        (lambda b: b.replace(b"29.96,29.96", b"31,31"), "past the end of 'video_b'"),
        (lambda b: b.replace(b"3.5,3.5,2,1", b"3.5,3.5,2,0"), "State 0 is not 1"),
        (lambda b: b.replace(b"3.5,3.5", b"abc,3.5"), "Start 'abc' is not a number"),
        (lambda b: b.replace(b"3.5,3.5", b"nan,nan"), "must be a finite number"),
        (lambda b: b.replace(b"0,0,1,1", b"0,0,1"), "expected 8 fields"),
        (
            lambda b: b.replace(b"2,background_background,0,0", b"7,background_background,0,0"),
            "TagID = number of classes (2)",
        ),
        (lambda b: b.replace(b"Dive_Dive", b"Swim_Swim"), "unknown tag 'Swim_Swim'"),
        (lambda b: b"\xff\xfe" + b, "not UTF-8"),
        (lambda b: b"", "the uploaded file is empty"),
        (lambda b: BOM.encode() + b"\n", "got 'an empty file'"),
    ],
    ids=[
        "header",
        "unknown-video",
        "past-end",
        "state",
        "nan-text",
        "nan",
        "fields",
        "tagid",
        "tag",
        "encoding",
        "empty",
        "no-header",
    ],
)
def test_bad_csv_imports_nothing(client, app, admin, small_db, mutate, message):
    r = import_csv(client, admin, mutate(FIXTURE))
    assert r.status_code in (400, 422), r.text
    assert message in r.json()["detail"]
    assert count(app, Click) == 0
    assert count(app, User, User.name == "A1") == 0


def test_import_needs_admin_and_annotator(client, app, admin, alice, small_db):
    assert import_csv(client, alice, FIXTURE).status_code == 403
    r = client.post(
        "/api/v1/import/clicks", headers=admin.h, files={"file": ("c.csv", FIXTURE, "text/csv")}
    )
    assert r.status_code == 400 and "annotator" in r.json()["detail"]
    assert count(app, Click) == 0


def test_import_size_limit(client, app, admin, small_db):
    big = FIXTURE + b"\n" + b"video_a,video_a.mp4,2,background_background,1,1,1,1\n" * 60_000
    r = import_csv(client, admin, big)
    assert r.status_code == 413
    assert count(app, Click) == 0


def test_json_export_pages_and_filters(client, app, admin, alice, bob, small_db):
    aid = import_csv(client, admin, FIXTURE).json()["annotator_id"]
    p1 = client.get("/api/v1/export/clicks", headers=admin.h, params={"limit": 4}).json()
    p2 = client.get(
        "/api/v1/export/clicks", headers=admin.h, params={"limit": 4, "offset": 4}
    ).json()
    assert p1["total"] == p2["total"] == 6
    assert len(p1["items"]) == 4 and len(p2["items"]) == 2
    ids = [i["id"] for i in p1["items"] + p2["items"]]
    assert ids == sorted(ids) and len(set(ids)) == 6
    vid_b = p2["items"][-1]["video_id"]
    only_b = client.get("/api/v1/export/clicks", headers=admin.h, params={"video_id": vid_b}).json()
    assert only_b["total"] == 2
    later = client.get(
        "/api/v1/export/clicks", headers=admin.h, params={"since": "2999-01-01T00:00:00Z"}
    ).json()
    assert later["total"] == 0
    earlier = client.get(
        "/api/v1/export/clicks", headers=admin.h, params={"since": "2000-01-01T00:00:00+02:00"}
    ).json()
    assert earlier["total"] == 6
    # annotators export only their own clicks
    assert client.get("/api/v1/export/clicks", headers=alice.h).json()["total"] == 0
    r = client.get("/api/v1/export/clicks", headers=alice.h, params={"annotator_id": aid})
    assert r.status_code == 403


@pytest.mark.skipif(not (A1.exists() and GT.exists()), reason="../shared/thumos14 not present")
def test_shipped_a1_file_round_trip_is_byte_identical(client, app, admin):
    gt = json.loads(GT.read_text())
    add_classes(client, admin, gt["activity_list"])
    original = A1.read_bytes()
    names = {line.split(",")[0] for line in original.decode("utf-8-sig").splitlines()[1:]}
    add_videos(
        app,
        [
            (n, float(gt["database"][n]["fps"]), float(gt["database"][n]["duration"]))
            for n in sorted(names)
        ],
    )
    r = import_csv(client, admin, original)
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 2264
    first = export_csv(client, admin, annotator_id=r.json()["annotator_id"])
    assert first == original
    r2 = import_csv(client, admin, first, annotator="A1-again")
    assert export_csv(client, admin, annotator_id=r2.json()["annotator_id"]) == original
