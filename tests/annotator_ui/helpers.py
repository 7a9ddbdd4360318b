"""Helpers shared by the browser tests."""

from __future__ import annotations

import time
from typing import Any

ROOT = "document.getElementById('annotate').dataset"


def wait_annotate_ready(page: Any) -> None:
    """The annotations are loaded and the video has its metadata."""
    page.wait_for_function(f"() => {ROOT}.loaded === '1' && {ROOT}.ready === '1'")


def seek(page: Any, t: float) -> float:
    """Seek the video (paused) and return ``currentTime`` once the browser has seeked."""
    return float(
        page.evaluate(
            """t => new Promise(resolve => {
                const v = document.getElementById('video');
                v.pause();
                v.addEventListener('seeked', () => resolve(v.currentTime), {once: true});
                v.currentTime = t;
            })""",
            t,
        )
    )


def current_time(page: Any) -> float:
    return float(page.evaluate("document.getElementById('video').currentTime"))


def poll(fn: Any, *, timeout: float = 10.0, page: Any = None) -> Any:
    """Call ``fn`` until it returns something truthy (letting Playwright dispatch events)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        if page is not None:
            page.wait_for_timeout(100)
        else:
            time.sleep(0.1)
