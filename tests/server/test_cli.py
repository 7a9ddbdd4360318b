"""``python -m server.cli``: create-user prints only the token; seed-demo is repeatable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from server.models import Click, GroundTruthSegment, Job, User, Video

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(settings):  # type: ignore[no-untyped-def]
    return {
        **os.environ,
        "BACKTAL_DATABASE_URL": settings.database_url,
        "BACKTAL_MEDIA_DIR": str(settings.media_dir),
    }


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_create_user_prints_the_token_only(env, settings):  # type: ignore[no-untyped-def]
    out = cli(env, "create-user", "--name", "root", "--role", "admin")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert out.stdout == token + "\n" and token.startswith("bts_") and len(token) > 40
    again = cli(env, "create-user", "--name", "root", "--role", "admin")
    assert again.returncode == 1 and again.stdout == ""
    assert "already exists" in again.stderr


def test_create_user_on_a_new_database_migrates_it_first(tmp_path: Path) -> None:
    """The guide's first steps on a fresh clone: create-user before anything else works
    (it used to fail with "no such table: users" unless migrate ran first)."""
    env = {
        **os.environ,
        "BACKTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}",
        "BACKTAL_MEDIA_DIR": str(tmp_path / "media"),
    }
    out = cli(env, "create-user", "--name", "alice", "--role", "admin")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert out.stdout == token + "\n" and token.startswith("bts_")


def test_seed_demo_twice(env, settings):  # type: ignore[no-untyped-def]
    first = cli(env, "seed-demo", "--videos", "2")
    assert first.returncode == 0, first.stderr
    second = cli(env, "seed-demo", "--videos", "2")
    assert second.returncode == 0, second.stderr
    assert "demo: 0 new videos (2 in all)" in second.stdout
    made = next(line for line in second.stdout.splitlines() if "demo-annotator" in line)
    clicks = int(made.split("made ")[1].split()[0])
    assert "labelled 2 videos" in made and clicks >= 4
    assert "/api/v1/training-jobs" in second.stdout and "/admin" in second.stdout
    tokens = [line.split()[-1] for line in second.stdout.splitlines() if "token:" in line]
    assert len(tokens) == 2 and all(t.startswith("bts_") for t in tokens)
    engine = create_engine(settings.database_url)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Video)) == 2
        # admin, annotator and the demo annotator (whose clicks are not added twice)
        assert s.scalar(select(func.count()).select_from(User)) == 3
        assert s.scalar(select(func.count()).select_from(Click)) == clicks
        assert s.scalar(select(func.count()).select_from(Job)) == 2  # one media job each
        assert (s.scalar(select(func.count()).select_from(GroundTruthSegment)) or 0) > 0
    engine.dispose()
