from __future__ import annotations

import pytest

from server.models import Video
from tests.server.helpers import count, media_files, upload


def test_upload_probe_and_read_back(client, app, alice, clip_bytes):
    r = upload(client, alice, clip_bytes, "my clip.mp4", title="First clip")
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["title"] == "First clip"
    assert v["name"] == "my_clip"
    assert v["fps"] == pytest.approx(25.0)
    assert v["frame_count"] == 100
    assert v["duration_s"] == pytest.approx(4.0)
    assert (v["width"], v["height"]) == (320, 240)
    assert v["status"] == "uploaded"
    got = client.get(f"/api/v1/videos/{v['id']}", headers=alice.h)
    assert got.status_code == 200 and got.json()["id"] == v["id"]
    page = client.get("/api/v1/videos?limit=10&offset=0", headers=alice.h).json()
    assert page["total"] == 1 and page["items"][0]["id"] == v["id"]


def test_same_content_is_deduplicated(client, app, alice, bob, clip_bytes):
    first = upload(client, alice, clip_bytes, "a.mp4")
    again = upload(client, bob, clip_bytes, "b.mp4")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert count(app, Video) == 1
    assert len([f for f in media_files(app) if f.startswith("originals/")]) == 1


def test_same_name_different_content_gets_unique_name(client, alice, clip_bytes, clip2_bytes):
    a = upload(client, alice, clip_bytes, "x.mp4").json()
    b = upload(client, alice, clip2_bytes, "x.mp4").json()
    assert (a["name"], b["name"]) == ("x", "x-2")


def test_pagination(client, alice, clip_bytes, clip2_bytes):
    upload(client, alice, clip_bytes, "a.mp4")
    upload(client, alice, clip2_bytes, "b.mp4")
    p1 = client.get("/api/v1/videos?limit=1&offset=0", headers=alice.h).json()
    p2 = client.get("/api/v1/videos?limit=1&offset=1", headers=alice.h).json()
    assert p1["total"] == p2["total"] == 2
    assert [p1["items"][0]["name"], p2["items"][0]["name"]] == ["a", "b"]
    bad = client.get("/api/v1/videos?limit=0", headers=alice.h)
    assert bad.status_code == 422 and "limit" in bad.json()["detail"]


def test_file_supports_range_requests(client, alice, clip_bytes):
    vid = upload(client, alice, clip_bytes).json()["id"]
    full = client.get(f"/api/v1/videos/{vid}/file", headers=alice.h)
    assert full.status_code == 200 and full.content == clip_bytes
    part = client.get(f"/api/v1/videos/{vid}/file", headers={**alice.h, "Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == clip_bytes[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(clip_bytes)}"


def _assert_nothing_stored(app):
    assert count(app, Video) == 0
    assert media_files(app) == []


@pytest.mark.parametrize(
    ("data", "name", "status", "message"),
    [
        (b"", "empty.mp4", 400, "the uploaded file is empty"),
        (b"this is a text file, not a video\n" * 20, "notes.mp4", 422, "not a usable video"),
        (bytes(range(256)) * 64, "random.avi", 422, "not a usable video"),
    ],
    ids=["empty", "text", "random-bytes"],
)
def test_bad_uploads_are_refused_and_leave_nothing(client, app, alice, data, name, status, message):
    r = upload(client, alice, data, name)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]
    _assert_nothing_stored(app)


def test_truncated_upload_is_refused(client, app, alice, clip_bytes):
    r = upload(client, alice, clip_bytes[: len(clip_bytes) // 2], "cut.mp4")
    assert r.status_code == 422, r.text
    assert "not a usable video" in r.json()["detail"]
    _assert_nothing_stored(app)


def test_upload_over_limit_is_refused_while_streaming(client, app, alice):
    limit = app.state.settings.max_upload_bytes
    r = upload(client, alice, b"\0" * (limit + 10), "big.mp4")
    assert r.status_code == 413
    assert "larger than the limit" in r.json()["detail"]
    _assert_nothing_stored(app)


@pytest.mark.parametrize("name", ["../evil.mp4", "a/../../b.mp4", "..\\x.mp4", "dir/clip.mp4"])
def test_path_in_file_name_is_refused(client, app, alice, clip_bytes, name):
    r = upload(client, alice, clip_bytes, name)
    assert r.status_code == 400, r.text
    assert "is not allowed" in r.json()["detail"]
    _assert_nothing_stored(app)


def test_upload_needs_multipart_file(client, app, alice):
    r = client.post("/api/v1/videos", headers=alice.h, json={"file": "x"})
    assert r.status_code == 415
    assert "multipart/form-data" in r.json()["detail"]
    r = client.post("/api/v1/videos", headers=alice.h, data={"title": "no file"})
    assert r.status_code in (400, 415)
    _assert_nothing_stored(app)


def test_delete_is_admin_only_and_hides_video(client, app, admin, alice, clip_bytes):
    vid = upload(client, alice, clip_bytes).json()["id"]
    r = client.delete(f"/api/v1/videos/{vid}", headers=alice.h)
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    assert client.delete(f"/api/v1/videos/{vid}", headers=admin.h).status_code == 204
    assert client.get(f"/api/v1/videos/{vid}", headers=alice.h).status_code == 410
    assert client.get("/api/v1/videos", headers=alice.h).json()["total"] == 0
    assert client.get("/api/v1/videos/999", headers=alice.h).status_code == 404
    # the same content can come back as a new video
    assert upload(client, alice, clip_bytes).status_code == 201


def test_register_files_in_media_folder(client, app, admin, alice, clip_bytes, clip2_bytes):
    media = app.state.settings.media_dir
    (media / "incoming" / "sub").mkdir(parents=True)
    (media / "incoming" / "one.mp4").write_bytes(clip_bytes)
    (media / "incoming" / "sub" / "two.mp4").write_bytes(clip2_bytes)
    body = {"paths": ["incoming"]}
    assert client.post("/api/v1/videos/register", headers=alice.h, json=body).status_code == 403
    r = client.post("/api/v1/videos/register", headers=admin.h, json=body)
    assert r.status_code == 201, r.text
    assert sorted(v["name"] for v in r.json()["created"]) == ["one", "two"]
    again = client.post("/api/v1/videos/register", headers=admin.h, json=body).json()
    assert again["created"] == [] and len(again["existing"]) == 2
    vid = r.json()["created"][0]["id"]
    assert client.get(f"/api/v1/videos/{vid}/file", headers=alice.h).content == clip_bytes


@pytest.mark.parametrize("path", ["../outside", "/etc/passwd", "incoming/../../x"])
def test_register_refuses_paths_outside_media(client, app, admin, path):
    r = client.post("/api/v1/videos/register", headers=admin.h, json={"paths": [path]})
    assert r.status_code == 400, r.text
    assert "media folder" in r.json()["detail"]
    assert count(app, Video) == 0


def test_register_is_all_or_nothing(client, app, admin, clip_bytes):
    media = app.state.settings.media_dir
    (media / "in").mkdir(parents=True)
    (media / "in" / "good.mp4").write_bytes(clip_bytes)
    (media / "in" / "bad.mp4").write_bytes(b"not a video")
    r = client.post("/api/v1/videos/register", headers=admin.h, json={"paths": ["in"]})
    assert r.status_code == 422
    assert "in/bad.mp4 is not a usable video" in r.json()["detail"]
    assert count(app, Video) == 0


def test_newest_features_win_and_ties_go_to_the_later_row(client, app, alice, clip_bytes):
    """``features_of``: the newest feature row of a video is the one shown; rows written in
    the same instant are ordered by id (the later insert wins), whatever order the database
    scans them in (the unique index on (video_id, extractor) scans by extractor name)."""
    from datetime import UTC, datetime

    from server.db import session_scope
    from server.models import Feature
    from server.videos.service import features_of

    vid = upload(client, alice, clip_bytes).json()["id"]
    same = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with session_scope(app.state.sessionmaker) as s:
        for extractor, created, dim in [
            ("b-newest", datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC), 8),  # id 1, newest
            ("c-old", same, 16),  # id 2
        ]:
            s.add(
                Feature(
                    video_id=vid,
                    extractor=extractor,
                    num_snippets=7,
                    dim=dim,
                    path=f"f/{extractor}.npy",
                    created_at=created,
                )
            )
    assert client.get(f"/api/v1/videos/{vid}", headers=alice.h).json()["features"]["D"] == 8

    with session_scope(app.state.sessionmaker) as s:
        s.query(Feature).filter(Feature.extractor == "b-newest").update({"created_at": same})
        s.add(
            Feature(
                video_id=vid,
                extractor="a-latest-insert",
                num_snippets=7,
                dim=32,
                path="f/a.npy",
                created_at=same,
            )
        )  # id 3, same instant as the others
    with app.state.sessionmaker() as s:
        assert features_of(s, [vid])[vid].extractor == "a-latest-insert"
    detail = client.get(f"/api/v1/videos/{vid}", headers=alice.h).json()
    listed = client.get("/api/v1/videos", headers=alice.h).json()["items"][0]
    assert detail["features"]["extractor"] == listed["features"]["extractor"] == "a-latest-insert"
