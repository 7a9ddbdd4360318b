"""Direct uploads to the bucket (BACKTAL_S3_UPLOAD=direct) on the session's real S3 API
server (moto's standalone server): presigned part URLs, completion, and the object
registered as a video through the bucket import (size limit, probe, de-duplication)."""

from __future__ import annotations

import hashlib
import http.client
import time
import urllib.parse
from typing import Any

import pytest

from server.models import Job, JobKind, Video
from server.uploads import direct
from tests.server.helpers import count, upload
from tests.server.storage.conftest import s3_fields

MiB = 1024 * 1024


@pytest.fixture
def settings(settings, s3_endpoint):  # type: ignore[no-untyped-def]
    from server.storage import open_storage

    s = settings.model_copy(
        update={**s3_fields(s3_endpoint), "s3_upload": "direct", "max_upload_bytes": 12 * MiB}
    )
    open_storage(s).ensure_bucket()  # type: ignore[attr-defined]
    return s


def _put(url: str, data: bytes) -> int:
    """PUT a part to its presigned URL, as a browser does (no credentials)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request(
            "PUT",
            f"{parts.path}?{parts.query}",
            body=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        r = conn.getresponse()
        r.read()
        return int(r.status)
    finally:
        conn.close()


def _start(client: Any, actor: Any, size: int, name: str = "clip.mp4", **more: Any) -> Any:
    return client.post(
        "/api/v1/direct-uploads",
        headers=actor.h,
        json={"filename": name, "size": size, "content_type": "video/mp4", **more},
    )


def _send_parts(client: Any, actor: Any, started: dict[str, Any], data: bytes) -> None:
    numbers = list(range(1, started["part_count"] + 1))
    ref = {"key": started["key"], "upload_id": started["upload_id"]}
    urls = client.post(
        "/api/v1/direct-uploads/parts", headers=actor.h, json={**ref, "part_numbers": numbers}
    ).json()["urls"]
    size = started["part_size"]
    for u in urls:
        n = u["part_number"]
        assert _put(u["url"], data[(n - 1) * size : n * size]) == 200


def test_direct_upload_lands_in_the_bucket_and_becomes_a_video(client, app, alice, clip_bytes):  # type: ignore[no-untyped-def]
    r = _start(client, alice, len(clip_bytes), "Court (2).mp4", title="Serve")
    assert r.status_code == 201, r.text
    started = r.json()
    key = started["key"]
    assert key.startswith(f"uploads/u{alice.id}/") and key.endswith(
        f".{len(clip_bytes)}/Court_2.mp4"
    )
    assert started["part_count"] == 1 and started["part_size"] == 5 * MiB
    _send_parts(client, alice, started, clip_bytes)
    storage = app.state.storage
    assert not storage.exists(key)  # parts are no object until the upload is completed
    assert count(app, Video) == 0
    ref = {"key": key, "upload_id": started["upload_id"]}
    done = client.post("/api/v1/direct-uploads/complete", headers=alice.h, json=ref)
    assert done.status_code == 201, done.text
    video = done.json()
    assert (video["title"], video["original_name"]) == ("Serve", "Court (2).mp4")
    assert storage.read_bytes(key) == clip_bytes  # the object the browser sent, in place
    with app.state.sessionmaker() as s:
        row = s.get(Video, video["id"])
        assert row is not None and row.file_path == key
        assert row.sha256 == hashlib.sha256(clip_bytes).hexdigest()
    assert count(app, Job, Job.kind == JobKind.media, Job.video_id == video["id"]) == 1
    # the same content again: the existing video, and the second object is not kept
    again = _start(client, alice, len(clip_bytes)).json()
    _send_parts(client, alice, again, clip_bytes)
    ref2 = {"key": again["key"], "upload_id": again["upload_id"]}
    dup = client.post("/api/v1/direct-uploads/complete", headers=alice.h, json=ref2)
    assert dup.status_code == 200 and dup.json()["id"] == video["id"]
    assert not storage.exists(again["key"])
    assert count(app, Video) == 1


def test_limits_and_owners(client, app, settings, alice, bob) -> None:  # type: ignore[no-untyped-def]
    big = _start(client, alice, settings.max_upload_bytes + 1, "big.mp4")
    assert big.status_code == 413
    assert "big.mp4" in big.json()["detail"] and "BACKTAL_MAX_UPLOAD_BYTES" in big.json()["detail"]
    assert _start(client, alice, 10, "../x.mp4").status_code == 400
    started = _start(client, alice, 6 * MiB, "junk.mp4").json()
    assert started["part_count"] == 2
    ref = {"key": started["key"], "upload_id": started["upload_id"]}
    for who in (bob,):  # someone else's upload does not exist for them
        r = client.post(
            "/api/v1/direct-uploads/parts", headers=who.h, json={**ref, "part_numbers": [1]}
        )
        assert r.status_code == 404
        assert (
            client.post("/api/v1/direct-uploads/complete", headers=who.h, json=ref).status_code
            == 404
        )
        assert (
            client.post("/api/v1/direct-uploads/abort", headers=who.h, json=ref).status_code == 404
        )
    junk = bytes(range(256)) * (6 * MiB // 256)
    # part 1 only, then "the connection drops": the bucket keeps part 1
    urls = client.post(
        "/api/v1/direct-uploads/parts", headers=alice.h, json={**ref, "part_numbers": [1]}
    ).json()["urls"]
    assert _put(urls[0]["url"], junk[: 5 * MiB]) == 200
    early = client.post("/api/v1/direct-uploads/complete", headers=alice.h, json=ref)
    assert early.status_code == 400
    assert "5242880 of 6291456 bytes arrived" in early.json()["detail"]
    resumed = client.post(
        "/api/v1/direct-uploads/parts", headers=alice.h, json={**ref, "part_numbers": [2]}
    ).json()
    assert resumed["uploaded"] == [{"part_number": 1, "size": 5 * MiB}]  # resume from here
    assert _put(resumed["urls"][0]["url"], junk[5 * MiB :]) == 200
    r = client.post("/api/v1/direct-uploads/complete", headers=alice.h, json=ref)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("junk.mp4: not a usable video")
    assert count(app, Video) == 0
    assert not app.state.storage.exists(started["key"])  # no stray object either


def test_unfinished_direct_uploads_are_aborted_after_the_expiry(client, app, alice) -> None:  # type: ignore[no-untyped-def]
    storage = app.state.storage
    started = _start(client, alice, 100).json()
    ref = {"key": started["key"], "upload_id": started["upload_id"]}
    # a part arrives (its time counts; moto reports every upload as initiated in 2010)
    _send_parts(client, alice, started, b"x" * 100)
    assert direct.sweep(storage, expire_s=3600) == 0  # still fresh
    assert direct.sweep(storage, expire_s=3600, now=time.time() + 7200) == 1
    r = client.post(
        "/api/v1/direct-uploads/parts", headers=alice.h, json={**ref, "part_numbers": [1]}
    )
    assert r.status_code == 404 and "start it again" in r.json()["detail"]


def test_abort(client, alice) -> None:  # type: ignore[no-untyped-def]
    started = _start(client, alice, 100).json()
    ref = {"key": started["key"], "upload_id": started["upload_id"]}
    assert client.post("/api/v1/direct-uploads/abort", headers=alice.h, json=ref).status_code == 204
    r = client.post(
        "/api/v1/direct-uploads/parts", headers=alice.h, json={**ref, "part_numbers": [1]}
    )
    assert r.status_code == 404


def test_direct_uploads_are_off_unless_configured(app, client, alice, clip_bytes) -> None:  # type: ignore[no-untyped-def]
    app.state.settings = app.state.settings.model_copy(update={"s3_upload": "api"})
    r = _start(client, alice, 100)
    assert r.status_code == 409 and "BACKTAL_S3_UPLOAD=direct" in r.json()["detail"]
    # the API path still works with S3 storage: POST /videos puts the file into the bucket
    assert upload(client, alice, clip_bytes).status_code == 201
