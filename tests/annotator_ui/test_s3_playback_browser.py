"""With storage on S3 (the session's real S3 server, moto), the annotate page plays and
seeks the proxy in Chromium — streamed by the API as byte ranges (``proxy`` delivery), or
fetched by the browser from the bucket through a presigned URL (``redirect``)."""

from __future__ import annotations

import pytest

from server.models import JobKind
from server.worker.loop import run_until_idle
from tests.annotator_ui.helpers import seek, wait_annotate_ready
from tests.server.helpers import upload
from tests.server.storage.conftest import s3_fields

pytestmark = pytest.mark.browser


@pytest.fixture(params=["proxy", "redirect"])
def settings(settings, s3_endpoint, request):  # type: ignore[no-untyped-def]
    from server.storage import open_storage

    s = settings.model_copy(update={**s3_fields(s3_endpoint), "s3_delivery": request.param})
    open_storage(s).ensure_bucket()  # type: ignore[attr-defined]
    return s


def test_proxy_from_s3_plays_and_seeks(app, client, alice, settings, clip_bytes, open_page):  # type: ignore[no-untyped-def]
    video = upload(client, alice, clip_bytes).json()
    run_until_idle(
        settings.model_copy(update={"feature_extractor": "tiny-stats"}), kinds=[JobKind.media]
    )
    detail = client.get(f"/api/v1/videos/{video['id']}", headers=alice.h).json()
    assert detail["proxy"], detail.get("status_message")
    assert [o.key for o in app.state.storage.list("proxies/")] == [f"proxies/{video['id']}.mp4"]
    assert not (settings.media_dir / "proxies").exists()  # nothing local: the bucket only

    client.cookies.set("backtal_session", alice.token)
    r = client.get(f"/media/videos/{video['id']}", follow_redirects=False)
    csp = client.get(f"/videos/{video['id']}").headers["content-security-policy"]
    if settings.s3_delivery == "redirect":  # the page lets the browser fetch from the bucket
        assert f"media-src 'self' {settings.s3_endpoint_url}" in csp
        assert r.status_code == 307
        assert r.headers["location"].startswith(settings.s3_endpoint_url)
        assert "Signature=" in r.headers["location"] or "X-Amz-Signature=" in r.headers["location"]
    else:
        assert "media-src 'self' blob:" in csp  # same-origin only
        assert r.status_code == 200 and r.headers["accept-ranges"] == "bytes"

    page = open_page(alice, f"/videos/{video['id']}")
    wait_annotate_ready(page)
    info = page.evaluate(
        "() => { const v = document.getElementById('video');"
        " return {d: v.duration, w: v.videoWidth, src: v.currentSrc}; }"
    )
    assert abs(info["d"] - 4.0) < 0.15 and info["w"] > 0, info
    for target in (2.5, 0.6, 3.4):  # seeks backwards and forwards: range requests
        t = seek(page, target)
        assert abs(t - target) < 0.05, (target, t)
        assert page.evaluate("document.getElementById('video').readyState") >= 2
    advanced = page.evaluate(
        """() => new Promise(resolve => {
            const v = document.getElementById('video');
            v.currentTime = 0.2;
            v.addEventListener('seeked', () => {
                const t0 = v.currentTime;
                v.play();
                setTimeout(() => { v.pause(); resolve(v.currentTime - t0); }, 700);
            }, {once: true});
        })"""
    )
    assert advanced > 0.2, advanced  # it plays
    assert not page.js_errors
