"""Hostile input: tokens, path traversal and odd names, upload and import limits, security
headers, and no stack traces in responses."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import select as io_select
import socket
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from server import auth
from server.models import Click, Feature, User, Video
from tests.conftest import make_user
from tests.security.live import serve
from tests.server.helpers import count, media_files, upload

MiB = 1024 * 1024


def _tmp_files(app: Any) -> list[str]:
    return [f for f in media_files(app) if f.startswith("tmp/")]


# ------------------------------------------------------------------------------ tokens


def test_tokens_are_stored_only_as_sha256(app, client, admin) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/users", headers=admin.h, json={"name": "dave"})
    assert r.status_code == 201
    token = r.json()["token"]
    assert len(token) >= 40 and token.startswith("bts_")
    with app.state.sessionmaker() as s:
        dave = s.scalar(select(User).where(User.name == "dave"))
        assert dave is not None
        assert dave.token_hash == hashlib.sha256(token.encode()).hexdigest()
        for column in User.__table__.columns:
            assert token not in str(getattr(dave, column.key)), column.key
    listed = client.get("/api/v1/users", headers=admin.h).text
    assert token not in listed and dave.token_hash not in listed and "token" not in listed
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["name"]
    # the digest itself is not a token
    stolen = {"Authorization": f"Bearer {dave.token_hash}"}
    assert client.get("/api/v1/me", headers=stolen).status_code == 401


def test_tokens_are_compared_in_constant_time(app, client, alice, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls: list[tuple[str, str]] = []
    verdict = {"equal": True}
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b) and verdict["equal"]

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert client.get("/api/v1/me", headers=alice.h).status_code == 200
    digest = hashlib.sha256(alice.token.encode()).hexdigest()
    assert calls == [(digest, digest)]
    verdict["equal"] = False  # the constant-time comparison has the last word
    app.state.token_cache.clear()  # (a cached token would skip the database lookup)
    assert client.get("/api/v1/me", headers=alice.h).status_code == 401


def test_token_cache_is_bounded_in_time(app, client, alice, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A token revoked behind this process's back (another API process) stops working once
    its cache entry expires; with token_cache_s = 0 at once."""
    from sqlalchemy import update

    from server.db import session_scope
    from server.models import User

    clock = {"now": 1000.0}
    monkeypatch.setattr(auth.time, "monotonic", lambda: clock["now"])
    assert client.get("/api/v1/me", headers=alice.h).status_code == 200
    with session_scope(app.state.sessionmaker) as s:
        s.execute(update(User).where(User.id == alice.id).values(token_hash=None))
    ttl = app.state.token_cache.ttl_s
    clock["now"] += ttl - 0.1
    assert client.get("/api/v1/me", headers=alice.h).status_code == 200  # still cached
    clock["now"] += 0.2
    assert client.get("/api/v1/me", headers=alice.h).status_code == 401  # expired
    app.state.token_cache.ttl_s = 0
    assert client.get("/api/v1/me", headers=alice.h).status_code == 401


def test_rotated_token_stops_working_and_odd_headers_are_401(app, client, admin, alice) -> None:  # type: ignore[no-untyped-def]
    r = client.post(f"/api/v1/users/{alice.id}/token", headers=admin.h)
    assert r.status_code == 200
    assert client.get("/api/v1/me", headers=alice.h).status_code == 401
    new = {"Authorization": f"Bearer {r.json()['token']}"}
    assert client.get("/api/v1/me", headers=new).status_code == 200
    for value in ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer ", "bearer x" * 500, "Token abc"]:
        got = client.get("/api/v1/me", headers={"Authorization": value})
        assert got.status_code == 401, (value[:30], got.status_code)


# ------------------------------------------------------------- names and path traversal

BAD_NAMES = [
    "../../etc/passwd.mp4",
    "..\\..\\boot.ini.mp4",
    "a/b.mp4",
    "/abs.mp4",
    "x\x01y.mp4",
    "x" * 300 + ".mp4",
]
ODD_NAMES = [
    "my vidéo (1); rm -rf ~.mp4",
    "<b onmouseover=alert(1)>.mp4",
    "CON.mp4",
    ".hidden.mp4",
    "spaces   and\ttab.mp4",
]


def _raw_multipart(filename: str, data: bytes) -> tuple[bytes, str]:
    """A multipart body with ``filename`` exactly as given (httpx would percent-encode some
    characters, so the server would never see them)."""
    boundary = "b0undary7"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
        "\r\nContent-Type: video/mp4\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), boundary


@pytest.mark.parametrize("name", BAD_NAMES)
def test_upload_refuses_path_names(app, client, alice, clip_bytes, name) -> None:  # type: ignore[no-untyped-def]
    body, boundary = _raw_multipart(name, clip_bytes)
    r = client.post(
        "/api/v1/videos",
        headers={**alice.h, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body,
    )
    assert r.status_code == 400, r.text
    assert count(app, Video) == 0
    assert media_files(app) == []


@pytest.mark.parametrize("name", ODD_NAMES)
def test_upload_odd_names_are_stored_under_the_hash(app, client, alice, clip_bytes, name) -> None:  # type: ignore[no-untyped-def]
    r = upload(client, alice, clip_bytes, name=name)
    assert r.status_code == 201, r.text
    video = r.json()
    sha = hashlib.sha256(clip_bytes).hexdigest()
    assert media_files(app) == [f"originals/{sha[:2]}/{sha}.mp4"]
    assert all(c.isalnum() or c in "._-" for c in video["name"]), video["name"]
    assert "<" not in video["name"] and "/" not in video["name"]


def test_feature_import_refuses_path_names_and_bad_extractors(
    app, client, admin, alice, clip_bytes
) -> None:  # type: ignore[no-untyped-def]
    vid = upload(client, alice, clip_bytes).json()["id"]
    buf = io.BytesIO()
    np.save(buf, np.zeros((6, 4), dtype=np.float32))
    url = f"/api/v1/videos/{vid}/features"
    for name in ["../../x.npy", "a/b.npy", "..\\x.npy"]:
        r = client.post(url, headers=admin.h, files={"file": (name, buf.getvalue())})
        assert r.status_code == 400, (name, r.text)
    for extractor in ["../../etc", "a/b", "x" * 65, "name with space"]:
        r = client.post(
            url,
            headers=admin.h,
            files={"file": ("f.npy", buf.getvalue())},
            data={"extractor": extractor},
        )
        assert r.status_code == 422, (extractor, r.text)
    assert count(app, Feature) == 0
    assert [f for f in media_files(app) if not f.startswith("originals/")] == []


def test_register_refuses_paths_outside_the_media_folder(app, client, admin, tmp_path) -> None:  # type: ignore[no-untyped-def]
    media = app.state.settings.media_dir
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"not yours")
    (media / "link").symlink_to(outside, target_is_directory=True)
    (media / "file-link.mp4").symlink_to(outside / "secret.mp4")
    for rel in [
        "../outside/secret.mp4",
        str(outside / "secret.mp4"),
        "link/secret.mp4",
        "file-link.mp4",
        "a/../../outside",
        "x\x00.mp4",
    ]:
        r = client.post("/api/v1/videos/register", headers=admin.h, json={"paths": [rel]})
        assert r.status_code in (400, 422), (rel, r.status_code, r.text)
    assert count(app, Video) == 0


def test_click_import_refuses_path_names_and_treats_annotator_as_data(
    app, client, admin, alice, clip_bytes
) -> None:  # type: ignore[no-untyped-def]
    upload(client, alice, clip_bytes, name="clip.mp4")
    good = "\ufeffURLID,URL,TagID,Tag,Start,End,Time,State\nclip,u,0,background_background,1,1,1,1"
    r = client.post(
        "/api/v1/import/clicks",
        headers=admin.h,
        files={"file": ("../../c.csv", good.encode())},
        data={"annotator": "x"},
    )
    assert r.status_code == 400, r.text
    odd = "<img src=x onerror=alert(1)>/../.."
    r = client.post(
        "/api/v1/import/clicks",
        headers=admin.h,
        files={"file": ("c.csv", good.encode())},
        data={"annotator": odd},
    )
    # the name is data: stored and answered verbatim, never a path, never markup
    assert r.status_code == 200, r.text
    assert r.json()["annotator_name"] == odd and r.json()["imported"] == 1
    with app.state.sessionmaker() as s:
        user = s.scalar(select(User).where(User.id == r.json()["annotator_id"]))
        assert user is not None and user.name == odd and user.token_hash is None
        assert s.scalar(select(Click.annotator_id)) == user.id
    names = [u["name"] for u in client.get("/api/v1/users", headers=admin.h).json()]
    assert names.count(odd) == 1
    (exported,) = client.get("/api/v1/export/clicks?format=json", headers=admin.h).json()["items"]
    assert exported["annotator_name"] == odd
    assert _tmp_files(app) == []
    assert [f for f in media_files(app) if not f.startswith("originals/")] == []


# --------------------------------------------------------------------- size limits


def test_declared_2gb_body_is_refused_before_reading(app, client, alice) -> None:  # type: ignore[no-untyped-def]
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n'
    ).encode()
    r = client.post(
        "/api/v1/videos",
        headers={
            **alice.h,
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(2 * 1024 * MiB),
        },
        content=head,
    )
    assert r.status_code == 413, r.text
    assert media_files(app) == [] and count(app, Video) == 0


def test_streamed_2gb_body_is_refused_without_being_stored(app, alice) -> None:  # type: ignore[no-untyped-def]
    """Chunked upload (no Content-Length) of up to 2 GiB over a raw socket. The server must
    answer 413 while the body is still arriving: the client stops sending as soon as the
    answer is there, and counts what it had sent by then."""
    limit = app.state.settings.max_upload_bytes
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"'
        "\r\nContent-Type: video/mp4\r\n\r\n"
    ).encode()
    chunk = b"\0" * MiB
    sent = 0
    answer = b""
    with serve(app) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.sendall(
                (
                    "POST /api/v1/videos HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Authorization: Bearer {alice.token}\r\n"
                    f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n"
                ).encode()
                + b"%x\r\n%s\r\n" % (len(head), head)
            )
            for _ in range(2048):  # 2 GiB at most
                readable, _, _ = io_select.select([sock], [], [], 0.1 if sent > limit else 0)
                if readable:
                    answer = sock.recv(65536)
                    break
                try:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                except OSError:  # the server closed the connection after answering
                    answer = sock.recv(65536)
                    break
                sent += len(chunk)
        with httpx.Client(base_url=base) as c:
            assert c.get("/api/v1/health").status_code == 200
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < limit + 256 * MiB, f"the client sent {sent} bytes before the answer"
    assert media_files(app) == [] and count(app, Video) == 0


def test_click_import_limits(app, client, admin, alice, clip_bytes) -> None:  # type: ignore[no-untyped-def]
    upload(client, alice, clip_bytes, name="clip.mp4")
    header = "\ufeffURLID,URL,TagID,Tag,Start,End,Time,State\n"
    row = "clip,u,0,background_background,1,1,1,1"

    def send(data: bytes):  # type: ignore[no-untyped-def]
        return client.post(
            "/api/v1/import/clicks",
            headers=admin.h,
            files={"file": ("c.csv", data, "text/csv")},
            data={"annotator": "imp"},
        )

    too_big = (header + "\n".join([row] * 60_000)).encode()
    assert len(too_big) > app.state.settings.max_import_bytes
    assert send(too_big).status_code == 413
    app.state.settings.max_import_rows = 50
    many = (header + "\n".join([row] * 51)).encode()
    r = send(many)
    assert r.status_code == 422 and "more than 50 rows" in r.json()["detail"], r.text
    huge_field = (header + "clip," + "u" * 300_000 + ",0,background_background,1,1,1,1").encode()
    r = send(huge_field)
    assert r.status_code == 422, r.text
    for junk in [b"\xff\xfe\x00garbage", b"\x00" * 1000, header.encode() + b"a,b\x00,c\n"]:
        r = send(junk)
        assert r.status_code == 422, (junk[:20], r.status_code, r.text)
    assert count(app, Click) == 0
    assert _tmp_files(app) == []


def test_ground_truth_import_limits(app, client, admin) -> None:  # type: ignore[no-untyped-def]
    def send(data: bytes):  # type: ignore[no-untyped-def]
        return client.post(
            "/api/v1/import/ground-truth",
            headers=admin.h,
            files={"file": ("gt.json", data, "application/json")},
        )

    big = json.dumps({"database": {f"v{i}": {"annotations": []} for i in range(100_000)}})
    assert len(big) > app.state.settings.max_import_bytes
    assert send(big.encode()).status_code == 413
    for junk in [b"[" * 200_000, b'{"database": ' * 50_000, b"\xff\xfe", b"{}", b"[]", b"nan"]:
        r = send(junk)
        assert r.status_code == 422, (junk[:20], r.status_code, r.text)
    assert _tmp_files(app) == []


def test_json_body_limits_are_4xx(app, client, alice, clip_bytes) -> None:  # type: ignore[no-untyped-def]
    vid = upload(client, alice, clip_bytes).json()["id"]
    url = f"/api/v1/videos/{vid}/clicks"
    for body in [b"[" * 100_000, b'{"t_s": 1e999}', b'{"t_s": NaN}', b"\xff", b'{"t_s": []}']:
        r = client.post(url, headers={**alice.h, "Content-Type": "application/json"}, content=body)
        assert 400 <= r.status_code < 500, (body[:20], r.status_code, r.text)
    assert count(app, Click) == 0


# ------------------------------------------------------------ headers and stack traces

HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


def _has_security_headers(r: Any) -> None:
    for key, value in HEADERS.items():
        assert r.headers.get(key) == value, (r.request.url, key, dict(r.headers))


def test_security_headers_on_pages_api_and_errors(app, client, alice) -> None:  # type: ignore[no-untyped-def]
    for path in ["/", "/videos", "/admin", "/api/v1/health", "/api/v1/me", "/nope", "/docs"]:
        _has_security_headers(client.get(path, follow_redirects=False))
    page = client.get("/", follow_redirects=True)
    assert "text/html" in page.headers["content-type"]
    csp = page.headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    r = client.post("/login", data={"token": alice.token}, follow_redirects=False)
    _has_security_headers(r)
    cookie = r.headers.get("set-cookie", "")
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()


def test_unexpected_errors_have_no_stack_trace(app, alice, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from server.videos import service

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret detail at /work/main/server/videos/service.py line 42")

    monkeypatch.setattr(service, "list_videos", broken)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/videos", headers=alice.h)
        assert r.status_code == 500
        assert r.json() == {"detail": "internal server error"}
        assert "secret" not in r.text and "Traceback" not in r.text
        _has_security_headers(r)
        for path, body in [("/api/v1/videos/1/clicks", b"{"), ("/api/v1/me", b"\x00")]:
            got = c.post(
                path, content=body, headers={**alice.h, "Content-Type": "application/json"}
            )
            assert "Traceback" not in got.text and 'File "' not in got.text, got.text


def test_big_ids_are_4xx_not_500(app, client, admin, alice) -> None:  # type: ignore[no-untyped-def]
    """Found by the fuzzer: an id past 64 bits made SQLite's driver raise OverflowError."""
    big = 2**70
    for method, url, who in [
        ("GET", f"/api/v1/videos/{big}", alice),
        ("GET", f"/api/v1/jobs/{big}", alice),
        ("DELETE", f"/api/v1/clicks/{big}", alice),
        ("PUT", "/api/v1/videos/1/labels", alice),
        ("GET", f"/api/v1/export/clicks?video_id={big}", admin),
    ]:
        kwargs: dict[str, Any] = {"json": {"class_ids": [big]}} if method == "PUT" else {}
        r = client.request(method, url, headers=who.h, **kwargs)
        assert 400 <= r.status_code < 500, (url, r.status_code, r.text)


def test_make_user_helper_roles(app) -> None:  # type: ignore[no-untyped-def]
    """The matrix relies on make_user giving annotators no admin power."""
    bob = make_user(app, "bob2", "annotator")
    with app.state.sessionmaker() as s:
        assert s.get(User, bob.id).role.value == "annotator"
