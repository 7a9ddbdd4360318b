"""Shared fixtures: a migrated database per test on SQLite (always) and PostgreSQL (when
``BACKTAL_TEST_PG_URL`` names a reachable server), an app, a client and users.

``BACKTAL_TEST_REQUIRE=browser,postgres`` (what ``.ci/run`` sets under ``CI=true``) fails the
tests whose Chromium or PostgreSQL is missing instead of skipping them, so a green run means
they ran. Every run ends with the count of skipped tests per reason."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("BACKTAL_TEST_PG_URL", "")

# Debian's Chromium, driven by Playwright (never a downloaded browser).
CHROMIUM = Path(os.environ.get("BACKTAL_CHROMIUM") or "/usr/bin/chromium")
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


def _pg_reachable(url: str) -> bool:
    if not url:
        return False
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


PG_OK = _pg_reachable(PG_URL)

# What must be there, not skipped (.ci/run sets both under CI=true): without it, the tests
# that need it fail instead of skipping.
REQUIRE = {w.strip() for w in os.environ.get("BACKTAL_TEST_REQUIRE", "").split(",") if w.strip()}
REQUIRABLE = ("browser", "postgres")


def pytest_configure(config: pytest.Config) -> None:
    unknown = REQUIRE - set(REQUIRABLE)
    if unknown:
        raise pytest.UsageError(
            f"BACKTAL_TEST_REQUIRE: unknown {sorted(unknown)}; use {list(REQUIRABLE)}"
        )


def unavailable(kind: str, reason: str) -> NoReturn:
    """Skip a test whose ``kind`` of resource (browser, postgres) is missing, or fail it when
    BACKTAL_TEST_REQUIRE names that kind."""
    if kind in REQUIRE:
        pytest.fail(
            f"{reason}; BACKTAL_TEST_REQUIRE={','.join(sorted(REQUIRE))} says the {kind} "
            "tests must run",
            pytrace=False,
        )
    pytest.skip(reason)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    """How many tests were skipped, and why (one line per reason, most frequent first)."""
    skipped = terminalreporter.stats.get("skipped", [])
    terminalreporter.section(f"{len(skipped)} skipped", sep="-")
    for reason, n in Counter(_skip_reason(r) for r in skipped).most_common():
        terminalreporter.write_line(f"{n:6d}  {reason}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from server.config import Settings
    from server.migrate import upgrade

    path = tmp_path_factory.mktemp("dbtemplate") / "template.db"
    upgrade(Settings(database_url=f"sqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session; dropped afterwards."""
    if not PG_OK:
        unavailable(
            "postgres", "PostgreSQL not configured (set BACKTAL_TEST_PG_URL) or not reachable"
        )
    from server.config import Settings
    from server.migrate import upgrade

    base = make_url(PG_URL)
    name = f"backtal_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    upgrade(Settings(database_url=url))
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_pg(url: str) -> None:
    from server import models  # noqa: F401
    from server.db import Base

    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    return url


@pytest.fixture
def settings(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    from server.config import Settings

    return Settings(
        database_url=db_url,
        media_dir=tmp_path / "media",
        max_upload_bytes=5 * 1024 * 1024,
        max_import_bytes=2 * 1024 * 1024,
    )


@pytest.fixture
def app(settings):  # type: ignore[no-untyped-def]
    from server.app import create_app

    application = create_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@dataclass
class Actor:
    id: int
    name: str
    token: str

    @property
    def h(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_user(app, name: str, role: str) -> Actor:  # type: ignore[no-untyped-def]
    from server.db import session_scope
    from server.models import Role
    from server.users.service import create_user

    with session_scope(app.state.sessionmaker) as s:
        user, token = create_user(s, name, Role(role))
        return Actor(user.id, name, token)


@pytest.fixture
def admin(app) -> Actor:  # type: ignore[no-untyped-def]
    return make_user(app, "admin", "admin")


@pytest.fixture
def alice(app) -> Actor:  # type: ignore[no-untyped-def]
    return make_user(app, "alice", "annotator")


@pytest.fixture
def bob(app) -> Actor:  # type: ignore[no-untyped-def]
    return make_user(app, "bob", "annotator")


@pytest.fixture(scope="session")
def clip_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 4-second 25 fps 320x240 H.264 clip with a frame counter (generated once)."""
    from server.demo import DemoClip, write_clip

    path = tmp_path_factory.mktemp("clips") / "clip.mp4"
    write_clip(DemoClip("clip", 4.0, [(1.0, 2.5, "Bounce")]), path)
    return path.read_bytes()


@pytest.fixture(scope="session")
def clip2_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from server.demo import DemoClip, write_clip

    path = tmp_path_factory.mktemp("clips2") / "clip2.mp4"
    write_clip(DemoClip("clip2", 3.0, [(0.5, 2.0, "Spin")]), path)
    return path.read_bytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(app):  # type: ignore[no-untyped-def]
    """The test's app served by uvicorn on 127.0.0.1 (a thread); yields its base URL."""
    import uvicorn

    port = free_port()
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
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3 API server on loopback for the whole session (moto's standalone server in
    its own process; tests/s3server.py)."""
    from tests.s3server import moto_server

    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    """One headless Chromium for the whole session (Playwright's sync API allows one)."""
    if not CHROMIUM.exists():
        unavailable("browser", f"Debian chromium ({CHROMIUM}) is not installed")
    try:
        from playwright import sync_api
    except ImportError as exc:
        unavailable("browser", f"the playwright package is not installed ({exc})")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()
