"""Small helpers for API tests: uploads and database counts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select


def upload(client: Any, actor: Any, data: bytes, name: str = "clip.mp4", title: str | None = None):  # type: ignore[no-untyped-def]
    form = {"title": title} if title is not None else None
    return client.post(
        "/api/v1/videos", headers=actor.h, files={"file": (name, data, "video/mp4")}, data=form
    )


def count(app: Any, model: Any, *where: Any) -> int:
    with app.state.sessionmaker() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def media_files(app: Any) -> list[str]:
    root = app.state.settings.media_dir
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# Worker settings for tests: the cheap extractor, fast heartbeats, quick stale detection.
FAST_WORKER = {
    "feature_extractor": "tiny-stats",
    "worker_heartbeat_s": 0.3,
    "job_stale_after_s": 3.0,
    "worker_poll_s": 0.2,
}


def run_worker(settings: Any, **kwargs: Any) -> int:
    """Run jobs in-process until the queue is empty; returns how many ran."""
    from server.worker.loop import Worker

    worker = Worker(settings, **kwargs)
    try:
        return worker.run(once=True)
    finally:
        worker.close()


ROOT = Path(__file__).resolve().parents[2]


def worker_once(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m server.worker --once ARGS`` in a subprocess (``env``: ``worker_env``),
    from the repository root; its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "server.worker", "--once", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def worker_env(settings: Any, **extra: str) -> dict[str, str]:
    """Environment for a worker subprocess that shares the test's database and media."""
    env = dict(os.environ)
    env.update(
        {
            "BACKTAL_DATABASE_URL": settings.database_url,
            "BACKTAL_MEDIA_DIR": str(settings.media_dir),
            "BACKTAL_FEATURE_EXTRACTOR": settings.feature_extractor,
            "BACKTAL_WORKER_HEARTBEAT_S": str(settings.worker_heartbeat_s),
            "BACKTAL_JOB_STALE_AFTER_S": str(settings.job_stale_after_s),
            "BACKTAL_WORKER_POLL_S": str(settings.worker_poll_s),
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra)
    return env
