"""Fixtures of the annotator-UI tests: SQLite only, a live uvicorn server, one Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db_url(tmp_path: Path, sqlite_template: Path) -> str:
    """Browser tests run against SQLite only (overrides the sqlite/postgres parametrization)."""
    path = tmp_path / "test.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium (/usr/bin/chromium) is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser: Any, live_server: str) -> Iterator[Any]:
    """``open_page(actor, path)``: a new signed-in browser context (session cookie) at ``path``."""
    contexts: list[Any] = []

    def _open(actor: Any, path: str, *, width: int = 1366, height: int = 860) -> Any:
        ctx = browser.new_context(viewport={"width": width, "height": height}, base_url=live_server)
        ctx.set_default_timeout(15_000)
        contexts.append(ctx)
        if actor is not None:
            ctx.add_cookies(
                [
                    {
                        "name": "backtal_session",
                        "value": actor.token,
                        "url": live_server,
                        "httpOnly": True,
                        "sameSite": "Strict",
                    }
                ]
            )
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: print(f"[console.{m.type}] {m.text}"))
        page.js_errors = errors  # type: ignore[attr-defined]
        page.goto(path)
        return page

    yield _open
    for ctx in contexts:
        ctx.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """Where screenshots go: ``docs/screenshots`` (or ``$BACKTAL_SCREENSHOT_DIR``)."""
    path = Path(os.environ.get("BACKTAL_SCREENSHOT_DIR", REPO / "docs" / "screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path
