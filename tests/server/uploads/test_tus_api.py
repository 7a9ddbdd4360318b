"""Resumable uploads through the API (tus 1.0.0): the protocol's rules, and a finished
upload becoming a video exactly as ``POST /videos`` makes one (size limit, probe, SHA-256
de-duplication, media job)."""

from __future__ import annotations

import hashlib
import http.client
import socket
import time
from typing import Any

from server.models import Job, JobKind, Video
from server.uploads.tus import TusFolder
from tests.server.helpers import count, upload
from tests.server.uploads.tus_helpers import PATCH, TUS, create, head, meta, send, upload_all


def _files(settings: Any) -> list[str]:
    root = settings.upload_root
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def test_discovery_says_version_extensions_and_limit(client, settings) -> None:  # type: ignore[no-untyped-def]
    r = client.options("/api/v1/uploads")
    assert r.status_code == 204
    assert r.headers["tus-version"] == "1.0.0"
    assert set(r.headers["tus-extension"].split(",")) == {"creation", "expiration", "termination"}
    assert int(r.headers["tus-max-size"]) == settings.max_upload_bytes


def test_chunked_upload_becomes_a_video_with_its_media_job(
    client, app, settings, alice, clip_bytes
):  # type: ignore[no-untyped-def]
    r = create(client, alice, len(clip_bytes), "My clip (1).mp4", title="Bounces")
    assert r.status_code == 201, r.text
    url = r.headers["location"]
    assert url.startswith("/api/v1/uploads/") and r.headers["tus-resumable"] == "1.0.0"
    assert r.headers["upload-expires"].endswith("GMT")
    third = len(clip_bytes) // 3
    for offset in (0, third):
        r = send(client, alice, url, offset, clip_bytes[offset : offset + third])
        assert r.status_code == 204 and int(r.headers["upload-offset"]) == offset + third
        assert "backtal-video-id" not in r.headers
        assert count(app, Video) == 0  # nothing is a video before the last byte
    h = head(client, alice, url)
    assert h.status_code == 200 and h.headers["upload-offset"] == str(2 * third)
    assert h.headers["upload-length"] == str(len(clip_bytes))
    assert h.headers["cache-control"] == "no-store"

    r = send(client, alice, url, 2 * third, clip_bytes[2 * third :])
    assert r.status_code == 204, r.text
    assert r.headers["upload-offset"] == str(len(clip_bytes))
    assert r.headers["backtal-video-created"] == "1"
    vid = int(r.headers["backtal-video-id"])
    video = client.get(f"/api/v1/videos/{vid}", headers=alice.h).json()
    assert (video["title"], video["original_name"], video["name"]) == (
        "Bounces",
        "My clip (1).mp4",
        "My_clip_1",
    )
    assert abs(video["duration_s"] - 4.0) < 0.1 and video["size_bytes"] == len(clip_bytes)
    with app.state.sessionmaker() as s:
        row = s.get(Video, vid)
        assert row is not None and row.sha256 == hashlib.sha256(clip_bytes).hexdigest()
        stored = (settings.media_dir / row.file_path).read_bytes()
    assert stored == clip_bytes
    assert count(app, Job, Job.kind == JobKind.media, Job.video_id == vid) == 1
    # the record stays for a while (a client that lost the answer asks again), the bytes go
    assert [n for n in _files(settings) if n.endswith(".bin")] == []
    again = head(client, alice, url)
    assert again.headers["upload-offset"] == str(len(clip_bytes))
    assert again.headers["backtal-video-id"] == str(vid)


def test_same_content_again_is_the_existing_video(client, app, alice, bob, clip_bytes):  # type: ignore[no-untyped-def]
    first = upload(client, alice, clip_bytes).json()
    r = upload_all(client, bob, clip_bytes, "again.mp4", chunk=100_000)
    assert r.status_code == 204, r.text
    assert r.headers["backtal-video-created"] == "0"
    assert int(r.headers["backtal-video-id"]) == first["id"]
    assert count(app, Video) == 1 and count(app, Job, Job.kind == JobKind.media) == 1


def test_too_large_is_refused_at_creation_with_a_sentence(client, settings, alice):  # type: ignore[no-untyped-def]
    r = create(client, alice, settings.max_upload_bytes + 1, "huge.mp4")
    assert r.status_code == 413
    detail = r.json()["detail"]
    assert "huge.mp4" in detail and str(settings.max_upload_bytes) in detail
    assert "BACKTAL_MAX_UPLOAD_BYTES" in detail
    assert _files(settings) == []


def test_not_a_video_is_422_and_never_a_video(client, app, settings, alice):  # type: ignore[no-untyped-def]
    junk = b"this is a text file, not a video\n" * 300
    r = upload_all(client, alice, junk, "notes.mp4", chunk=4000)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("notes.mp4 is not a usable video")
    assert count(app, Video) == 0
    url = r.url.path
    gone = head(client, alice, url)
    assert gone.status_code == 410  # a client that asks again learns it is over
    assert [n for n in _files(settings) if n.endswith(".bin")] == []


def test_protocol_errors(client, app, alice, bob, clip_bytes):  # type: ignore[no-untyped-def]
    url = create(client, alice, len(clip_bytes)).headers["location"]
    no_version = client.patch(
        url,
        headers={**alice.h, "Content-Type": PATCH["Content-Type"], "Upload-Offset": "0"},
        content=b"x",
    )
    assert no_version.status_code == 412 and no_version.headers["tus-version"] == "1.0.0"
    wrong_type = client.patch(url, headers={**alice.h, **TUS, "Upload-Offset": "0"}, content=b"x")
    assert wrong_type.status_code == 415
    assert send(client, alice, url, 0, clip_bytes[:1000]).status_code == 204
    wrong_offset = send(client, alice, url, 0, clip_bytes[:1000])
    assert wrong_offset.status_code == 409
    assert "holds 1000 bytes" in wrong_offset.json()["detail"]
    too_much = send(client, alice, url, 1000, clip_bytes[1000:] + b"extra")
    assert too_much.status_code == 413
    assert head(client, alice, url).headers["upload-offset"] == "1000"  # nothing of it kept
    # someone else's upload does not exist for them
    assert head(client, bob, url).status_code == 404
    assert send(client, bob, url, 1000, clip_bytes[1000:]).status_code == 404
    assert client.delete(url, headers={**bob.h, **TUS}).status_code == 404
    assert create(client, alice, 10, "a/b.mp4").status_code == 400
    no_name = client.post(
        "/api/v1/uploads",
        headers={**alice.h, **TUS, "Upload-Length": "10", "Upload-Metadata": meta(title="x")},
    )
    assert no_name.status_code == 400 and "filename" in no_name.json()["detail"]
    bad_meta = client.post(
        "/api/v1/uploads",
        headers={**alice.h, **TUS, "Upload-Length": "10", "Upload-Metadata": "filename %%%"},
    )
    assert bad_meta.status_code == 400
    # the rest arrives through POST + X-HTTP-Method-Override (clients that cannot PATCH)
    r = client.post(
        url,
        headers={
            **alice.h,
            **PATCH,
            "X-HTTP-Method-Override": "PATCH",
            "Upload-Offset": "1000",
        },
        content=clip_bytes[1000:],
    )
    assert r.status_code == 204 and r.headers["backtal-video-created"] == "1", r.text


def test_termination_removes_the_upload(client, settings, alice, clip_bytes):  # type: ignore[no-untyped-def]
    url = create(client, alice, len(clip_bytes)).headers["location"]
    send(client, alice, url, 0, clip_bytes[:5000])
    assert len(_files(settings)) >= 2
    r = client.delete(url, headers={**alice.h, **TUS})
    assert r.status_code == 204 and r.headers["tus-resumable"] == "1.0.0"
    assert head(client, alice, url).status_code == 404
    assert _files(settings) == []


def test_unfinished_uploads_expire_and_are_swept(app, client, alice, clip_bytes):  # type: ignore[no-untyped-def]
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"upload_expire_s": 0.5})
    url = create(client, alice, len(clip_bytes)).headers["location"]
    assert send(client, alice, url, 0, clip_bytes[:5000]).status_code == 204
    time.sleep(0.7)
    assert head(client, alice, url).status_code == 410
    r = send(client, alice, url, 5000, clip_bytes[5000:])
    assert r.status_code == 410 and "BACKTAL_UPLOAD_EXPIRE_S" in r.json()["detail"]
    upload_id = url.rsplit("/", 1)[1]
    assert any(p.name.startswith(upload_id) for p in settings.upload_root.iterdir())
    # the next creation sweeps it away (and never sees it as a video)
    create(client, alice, 100)
    assert not any(p.name.startswith(upload_id) for p in settings.upload_root.iterdir())
    assert head(client, alice, url).status_code == 404


def test_sweep_keeps_live_uploads_and_removes_leftovers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = TusFolder(tmp_path, expire_s=100)
    old = folder.create(1, 10, {"filename": "a.mp4"}, now=1000.0)
    new = folder.create(1, 10, {"filename": "b.mp4"}, now=1090.0)
    busy = folder.create(1, 10, {"filename": "c.mp4"}, now=1000.0)
    stray = tmp_path / ("f" * 32 + ".bin")
    stray.write_bytes(b"x")
    lock = folder.try_lock(busy.id)  # a request is writing it right now
    try:
        assert folder.sweep(now=1150.0) == [old.id]
    finally:
        lock.release()
    assert folder.load(new.id) is not None and folder.load(busy.id) is not None
    assert stray.exists()  # younger than the expiry by its mtime
    import os

    os.utime(stray, (1.0, 1.0))
    folder.sweep(now=1150.0)
    assert not stray.exists()


def test_upload_roles_setting_limits_who_adds_videos(app, client, admin, alice, clip_bytes):  # type: ignore[no-untyped-def]
    app.state.settings = app.state.settings.model_copy(update={"upload_roles": "admin"})
    r = create(client, alice, len(clip_bytes))
    assert r.status_code == 403 and "BACKTAL_UPLOAD_ROLES" in r.json()["detail"]
    assert upload(client, alice, clip_bytes).status_code == 403
    assert upload_all(client, admin, clip_bytes).headers["backtal-video-created"] == "1"


# ---------------------------------------------------------------------------- real sockets


def _raw_patch(port: int, url: str, token: str, offset: int, total: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        (
            f"PATCH {url} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Upload-Offset: {offset}\r\nContent-Length: {total}\r\n\r\n"
        ).encode()
    )
    return sock


def _http(port: int, method: str, url: str, headers: dict[str, str], body: bytes = b"") -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, url, body=body, headers=headers)
    r = conn.getresponse()
    r.read()
    conn.close()
    return r


def _offset(port: int, url: str, actor: Any) -> int:
    return int(_http(port, "HEAD", url, {**actor.h, **TUS}).getheader("Upload-Offset"))


def test_cut_connection_keeps_what_arrived_and_resumes(live_server, client, app, alice, clip_bytes):  # type: ignore[no-untyped-def]
    port = int(live_server.rsplit(":", 1)[1])
    url = create(client, alice, len(clip_bytes)).headers["location"]
    sock = _raw_patch(port, url, alice.token, 0, len(clip_bytes))
    half = len(clip_bytes) // 2
    assert len(clip_bytes) > 10_000
    sock.sendall(clip_bytes[:half])
    time.sleep(0.3)
    sock.close()  # the network drops mid-body
    deadline = time.monotonic() + 10
    while _offset(port, url, alice) != half:
        assert time.monotonic() < deadline, _offset(port, url, alice)
        time.sleep(0.1)
    r = _http(
        port, "PATCH", url, {**alice.h, **PATCH, "Upload-Offset": str(half)}, clip_bytes[half:]
    )
    assert r.status == 204 and r.getheader("Backtal-Video-Created") == "1"
    with app.state.sessionmaker() as s:
        video = s.get(Video, int(r.getheader("Backtal-Video-Id")))
        assert video is not None and video.sha256 == hashlib.sha256(clip_bytes).hexdigest()


def test_a_silent_connection_is_taken_over_without_stalling_the_api(
    live_server, client, alice, clip_bytes
):  # type: ignore[no-untyped-def]
    """The network went away without closing the connection (a half-open TCP connection):
    its request still holds the upload when the client resumes. The resumed PATCH takes
    over at once, and nothing else waits meanwhile."""
    port = int(live_server.rsplit(":", 1)[1])
    url = create(client, alice, len(clip_bytes)).headers["location"]
    silent = _raw_patch(port, url, alice.token, 0, len(clip_bytes))
    silent.sendall(clip_bytes[:5000])
    try:
        time.sleep(0.5)
        t0 = time.monotonic()
        assert _http(port, "GET", "/api/v1/health", {}).status == 200
        assert time.monotonic() - t0 < 1.0  # nothing waits for the silent request
        assert _offset(port, url, alice) == 0  # its bytes are in hand, not yet saved
        t0 = time.monotonic()
        r = _http(port, "PATCH", url, {**alice.h, **PATCH, "Upload-Offset": "0"}, b"")
        # the silent request let go and saved its 5000 bytes: this PATCH's offset is stale
        assert r.status == 409 and time.monotonic() - t0 < 3.0
        offset = _offset(port, url, alice)
        assert offset == 5000
        r = _http(
            port,
            "PATCH",
            url,
            {**alice.h, **PATCH, "Upload-Offset": str(offset)},
            clip_bytes[offset:],
        )
        assert r.status == 204 and r.getheader("Backtal-Video-Created") == "1"
    finally:
        silent.close()


def test_the_api_sweeps_expired_uploads_when_it_starts(settings) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from server.app import create_app

    folder = TusFolder(settings.upload_root, settings.upload_expire_s)
    stale = folder.create(1, 10, {"filename": "a.mp4"}, now=time.time() - 2 * 86_400)
    fresh = folder.create(1, 10, {"filename": "b.mp4"})
    app = create_app(settings)
    try:
        with TestClient(app):
            deadline = time.monotonic() + 10
            while folder.load(stale.id) is not None:
                assert time.monotonic() < deadline, "the stale upload was not swept"
                time.sleep(0.05)
        assert folder.load(fresh.id) is not None
    finally:
        app.state.engine.dispose()
