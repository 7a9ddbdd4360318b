"""Fixtures of the annotator-UI tests: SQLite only, a live uvicorn server, one Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db_url(tmp_path: Path, sqlite_template: Path) -> str:
    """Browser tests run against SQLite only (overrides the sqlite/postgres parametrization)."""
    path = tmp_path / "test.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def open_page(browser: Any, live_server: str) -> Iterator[Any]:
    """``open_page(actor, path)``: a new signed-in browser context (session cookie) at ``path``
    (``touch=True``: a touch screen, for ``page.touchscreen.tap``)."""
    contexts: list[Any] = []

    def _open(
        actor: Any, path: str, *, width: int = 1366, height: int = 860, touch: bool = False
    ) -> Any:
        ctx = browser.new_context(
            viewport={"width": width, "height": height}, base_url=live_server, has_touch=touch
        )
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


WRITE_SCREENSHOTS = os.environ.get("BACKTAL_WRITE_SCREENSHOTS") == "1"


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go. Only when asked (``BACKTAL_WRITE_SCREENSHOTS=1``, i.e.
    ``make screenshots``): ``docs/screenshots`` or ``$BACKTAL_SCREENSHOT_DIR``. Otherwise a
    temporary folder, so a test run leaves the work tree clean (the pictures are still
    taken, so a page that cannot be captured still fails)."""
    if not WRITE_SCREENSHOTS:
        return tmp_path_factory.mktemp("screenshots")
    path = Path(os.environ.get("BACKTAL_SCREENSHOT_DIR", REPO / "docs" / "screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path
