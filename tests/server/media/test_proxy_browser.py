"""The proxy plays in headless Chromium, and seeking to t shows the original's frame floor(t·fps).

Needs Debian's chromium at /usr/bin/chromium (``apt-get install -y chromium``) and the
playwright Python package; it never downloads a browser. The proxy is served by a tiny
stdlib HTTP server on 127.0.0.1 that answers Range requests, as the real server must.
"""

from __future__ import annotations

import base64
import http.server
import math
import os
import re
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from model.features.synthetic import read_barcode, write_barcode_clip
from server.media import make_proxy
from tests.server.media.media_helpers import decode_all, mean_abs_diff

pytestmark = pytest.mark.browser  # skipped without Chromium by the `browser` fixture

PAGE = """<!doctype html>
<html><body style="margin:0">
<video id="pal" src="/pal_proxy.mp4" muted playsinline preload="auto"></video>
<video id="ntsc" src="/ntsc_proxy.mp4" muted playsinline preload="auto"></video>
<canvas id="c"></canvas>
</body></html>
"""
# Two originals: MPEG-4 part 2 at 25 fps, and full-range Motion-JPEG at 29.97 fps.
CLIPS: dict[str, dict[str, Any]] = {
    "pal": {"name": "pal.mp4", "fps": Fraction(25), "n_frames": 75, "codec": "mpeg4"},
    "ntsc": {"name": "ntsc.avi", "fps": Fraction(30000, 1001), "n_frames": 90, "codec": "mjpeg"},
}

# Seek, wait for 'seeked' (and the next presented frame where supported), then draw the
# video onto a canvas at its natural size and return it as a PNG data URL.
SEEK_AND_GRAB = """async ([id, t]) => {
  const v = document.getElementById(id);
  const c = document.getElementById('c');
  const seeked = new Promise((resolve) => v.addEventListener('seeked', resolve, {once: true}));
  v.currentTime = t;
  await seeked;
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  c.width = v.videoWidth; c.height = v.videoHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(v, 0, 0, c.width, c.height);
  return {url: c.toDataURL('image/png'), currentTime: v.currentTime};
}"""


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with single-range ``Range: bytes=a-b`` support (206 responses)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def do_GET(self) -> None:
        header = self.headers.get("Range")
        path = self.translate_path(self.path)
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", header or "")
        if not match or not os.path.isfile(path):
            super().do_GET()
            return
        size = os.path.getsize(path)
        first, last = match.groups()
        if first:
            start, end = int(first), int(last) if last else size - 1
        else:
            start, end = max(0, size - int(last)), size - 1
        end = min(end, size - 1)
        if start > end:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.end_headers()
            return
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        with open(path, "rb") as fh:
            fh.seek(start)
            self.wfile.write(fh.read(end - start + 1))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("browser")
    originals = {}
    for key, clip in CLIPS.items():
        original = write_barcode_clip(
            root / clip["name"], n_frames=clip["n_frames"], fps=clip["fps"], codec=clip["codec"]
        )
        make_proxy(original, root / f"{key}_proxy.mp4")
        originals[key] = decode_all(Path(original))
    (root / "index.html").write_text(PAGE)

    handler = lambda *a, **k: _RangeHandler(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {
            "url": f"http://127.0.0.1:{server.server_address[1]}/index.html",
            "originals": originals,
        }
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def page(served: dict[str, Any], browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    try:
        pg = context.new_page()
        pg.goto(served["url"])
        yield pg
    finally:
        context.close()


def test_chromium_can_decode_h264(page: Any):
    support = page.evaluate(
        """() => {
          const v = document.createElement('video');
          return {
            baseline: v.canPlayType('video/mp4; codecs="avc1.42E01E"'),
            high: v.canPlayType('video/mp4; codecs="avc1.64001E"'),
            mse: !!(window.MediaSource &&
                    MediaSource.isTypeSupported('video/mp4; codecs="avc1.64001E"')),
          };
        }"""
    )
    assert support["baseline"] and support["high"], (
        f"this Chromium cannot play H.264 (proprietary codecs missing): {support}"
    )


@pytest.mark.parametrize("key", list(CLIPS))
def test_proxy_reaches_ready_state_4_and_plays(page: Any, key: str):
    clip = CLIPS[key]
    page.wait_for_function(f"document.getElementById('{key}').readyState === 4", timeout=20_000)
    info = page.evaluate(
        f"""() => {{ const v = document.getElementById('{key}');
                   return {{w: v.videoWidth, h: v.videoHeight, d: v.duration}}; }}"""
    )
    assert (info["w"], info["h"]) == (320, 240)
    assert info["d"] == pytest.approx(float(clip["n_frames"] / clip["fps"]), abs=0.05)
    # It really plays: time advances, then pause again for the seeks.
    page.evaluate(f"document.getElementById('{key}').play()")
    page.wait_for_function(f"document.getElementById('{key}').currentTime > 0.2", timeout=10_000)
    page.evaluate(f"document.getElementById('{key}').pause()")


@pytest.mark.parametrize("key", list(CLIPS))
@pytest.mark.parametrize("t", [0.0, 0.02, 0.5, 1.0, 1.23, 2.0, 2.1, 2.45])
def test_seek_shows_original_frame(page: Any, served: dict[str, Any], key: str, t: float):
    page.wait_for_function(f"document.getElementById('{key}').readyState >= 2", timeout=20_000)
    result = page.evaluate(SEEK_AND_GRAB, [key, t])
    png = base64.b64decode(result["url"].split(",", 1)[1])
    bgr = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None
    shown = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    expected = math.floor(Fraction(t).limit_denominator(1000) * CLIPS[key]["fps"])
    assert read_barcode(shown) == expected, (t, result["currentTime"])
    originals = served["originals"][key]
    diff = mean_abs_diff(shown, originals[expected])
    assert diff < 8.0, (t, diff)
    neighbour = originals[expected + 1] if expected + 1 < len(originals) else originals[-2]
    assert diff < mean_abs_diff(shown, neighbour)
