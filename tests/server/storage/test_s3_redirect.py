"""S3 ``redirect`` delivery without a browser (``BACKTAL_S3_DELIVERY=redirect``): the API
answers 401 signed out, 404 when the object is missing from the bucket, else a 307 to a
presigned URL of exactly that object on the session's real S3 server (moto, in its own
process), which serves the bytes and byte ranges itself; without the presigned query the
bucket refuses. (The Chromium test in tests/annotator_ui plays such a redirect.)"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from server.models import JobKind, Video
from server.worker.loop import run_until_idle
from tests.conftest import Actor
from tests.server.helpers import upload
from tests.server.storage.conftest import s3_fields

EXPIRES_S = 900


@pytest.fixture
def settings(settings, s3_endpoint):  # type: ignore[no-untyped-def]
    from server.storage import open_storage

    s = settings.model_copy(
        update={
            **s3_fields(s3_endpoint),
            "s3_delivery": "redirect",
            "s3_presign_expires_s": EXPIRES_S,
        }
    )
    open_storage(s).ensure_bucket()  # type: ignore[attr-defined]
    return s


def fetch(url: str, byte_range: str | None = None) -> tuple[int, Any, bytes]:
    """GET ``url`` straight from the S3 server (no API in between): status, headers, body."""
    req = urllib.request.Request(url, headers={"Range": byte_range} if byte_range else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def test_redirect_delivery_401_404_307_and_ranges_from_the_bucket(  # type: ignore[no-untyped-def]
    app, client, alice, settings, clip_bytes
) -> None:
    vid = upload(client, alice, clip_bytes).json()["id"]
    run_until_idle(
        settings.model_copy(update={"feature_extractor": "tiny-stats"}), kinds=[JobKind.media]
    )
    storage = app.state.storage
    with app.state.sessionmaker() as s:
        video = s.get(Video, vid)
        assert video is not None and video.proxy_path, "the media job made no proxy"
        file_key, proxy_key = video.file_path, video.proxy_path
    proxy = storage.read_bytes(proxy_key)
    assert storage.read_bytes(file_key) == clip_bytes and len(proxy) > 2000
    file_url, proxy_url, page_url = (
        f"/api/v1/videos/{vid}/file",
        f"/api/v1/videos/{vid}/proxy",
        f"/media/videos/{vid}",
    )
    bucket, prefix = settings.storage_url[len("s3://") :].split("/", 1)

    def signed_in(path: str) -> Any:
        if path.startswith("/media/"):  # the pages' route: the session cookie
            client.cookies.set("backtal_session", alice.token)
            try:
                return client.get(path, follow_redirects=False)
            finally:
                client.cookies.clear()
        return client.get(path, headers=alice.h, follow_redirects=False)

    def redirected_to(path: str, key: str) -> str:
        """The 307's URL, checked to be a presigned GET of ``key`` on the S3 endpoint."""
        r = signed_in(path)
        assert r.status_code == 307, (path, r.status_code, r.text)
        url = str(r.headers["location"])
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == settings.s3_endpoint_url, url
        assert unquote(parts.path) == f"/{bucket}/{prefix}/{key}", url  # path-style: MinIO
        query = parse_qs(parts.query)
        assert query["X-Amz-Expires"] == [str(EXPIRES_S)], url
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Signature"]
        return url

    # signed out (or a made-up token): 401, and no URL of the bucket is given away
    bogus = Actor(0, "x", "bts_" + "A" * 43)
    for path in (file_url, proxy_url, page_url):
        for headers in ({}, bogus.h):
            r = client.get(path, headers=headers, follow_redirects=False)
            assert r.status_code == 401 and "location" not in r.headers, (path, r.text)

    # signed in: a 307 to the object itself; the bucket serves it whole and by ranges
    for path, key, data in (
        (file_url, file_key, clip_bytes),
        (proxy_url, proxy_key, proxy),
        (page_url, proxy_key, proxy),  # the page plays the proxy
    ):
        url = redirected_to(path, key)
        status, _, body = fetch(url)
        assert status == 200 and body == data, (path, status)
        status, headers, body = fetch(url, "bytes=100-1099")
        assert status == 206 and body == data[100:1100], (path, status)
        assert headers["Content-Range"] == f"bytes 100-1099/{len(data)}"
        status, _, body = fetch(url, "bytes=-16")  # the tail, as a player probing the end
        assert status == 206 and body == data[-16:], (path, status)
    # the bucket is not public: without the presigned query it refuses (moto does not check
    # the signature's value, a real S3 or MinIO does)
    url = redirected_to(file_url, file_key)
    assert fetch(url.split("?", 1)[0])[0] == 403

    # the proxy leaves the bucket: 404 (no redirect to nothing); the page falls back to the
    # original; once that is gone too, 404 everywhere
    assert storage.delete(proxy_key)
    r = signed_in(proxy_url)
    assert r.status_code == 404 and "location" not in r.headers
    assert r.json() == {"detail": f"the proxy of video {vid} is missing"}
    redirected_to(page_url, file_key)
    assert storage.delete(file_key)
    for path, detail in (
        (file_url, f"the file of video {vid} is missing on the server"),
        (page_url, f"the file of video {vid} is missing"),
    ):
        r = signed_in(path)
        assert r.status_code == 404 and "location" not in r.headers, (path, r.status_code)
        assert r.json() == {"detail": detail}
