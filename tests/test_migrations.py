"""Alembic: upgrade → downgrade → upgrade, and the models match the migrations."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from server import models  # noqa: F401
from server.config import Settings
from server.db import Base
from server.migrate import downgrade, upgrade


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _diff(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(ctx, Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_and_no_autogenerate_diff(db_url: str) -> None:
    settings = Settings(database_url=db_url)
    expected = set(Base.metadata.tables)
    assert _tables(db_url) == expected  # the fixture migrated to head
    downgrade(settings, "base")
    assert _tables(db_url) == set()
    upgrade(settings, "head")
    assert _tables(db_url) == expected
    assert _diff(db_url) == []


def test_0005_reviewer_role_keeps_every_row_and_downgrades_reviewers(db_url: str) -> None:
    """Adding ``reviewer`` replaces users' CHECK constraint (SQLite: the table is recreated).
    No row that points at a user may go with it (SQLite's DROP TABLE of a referenced table
    cascades unless migrations turn foreign keys off), the new role is accepted and an
    unknown one still refused; downgrading turns reviewers into annotators."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    settings = Settings(database_url=db_url)
    downgrade(settings, "0004")
    engine = create_engine(db_url)
    now = "2026-01-01 00:00:00+00:00"
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            uid = conn.execute(
                text(
                    "INSERT INTO users (name, role, active, reaction_offset_ms, created_at) "
                    "VALUES ('ann', 'annotator', true, 0, :now) RETURNING id"
                ),
                {"now": now},
            ).scalar_one()
            vid = conn.execute(
                text(
                    "INSERT INTO videos (name, title, original_name, sha256, size_bytes, "
                    "file_path, fps, frame_count, duration_s, width, height, status, "
                    "created_at, is_validation) VALUES ('v', 'v', 'v.mp4', 'x', 1, 'v.mp4', "
                    "25, 25, 1, 8, 8, 'ready', :now, false) RETURNING id"
                ),
                {"now": now},
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO clicks (video_id, annotator_id, t_s, frame_index, kind, "
                    "save_count, created_at) VALUES (:v, :u, 0.5, 12, 'background', 1, :now)"
                ),
                {"v": vid, "u": uid, "now": now},
            )
        upgrade(settings, "head")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM clicks")).scalar_one() == 1
            conn.execute(
                text(
                    "INSERT INTO users (name, role, active, reaction_offset_ms, created_at) "
                    "VALUES ('rev', 'reviewer', true, 0, :now)"
                ),
                {"now": now},
            )
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (name, role, active, reaction_offset_ms, created_at) "
                    "VALUES ('boss', 'owner', true, 0, :now)"
                ),
                {"now": now},
            )
        downgrade(settings, "0004")
        with engine.begin() as conn:
            roles = dict(conn.execute(text("SELECT name, role FROM users")).all())
            assert roles == {"ann": "annotator", "rev": "annotator"}
            assert conn.execute(text("SELECT count(*) FROM clicks")).scalar_one() == 1
    finally:
        engine.dispose()
        upgrade(settings, "head")
    assert _diff(db_url) == []


def test_0006_compare_job_kind_keeps_jobs_and_versions(db_url: str) -> None:
    """Adding the ``compare`` job kind replaces jobs' CHECK constraint (SQLite: the table is
    recreated): a train job and the model version pointing at it stay, ``compare`` is
    accepted and an unknown kind still refused; downgrading deletes only comparison jobs."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    settings = Settings(database_url=db_url)
    downgrade(settings, "0005")
    engine = create_engine(db_url)
    now = "2026-01-01 00:00:00+00:00"
    insert_job = (
        "INSERT INTO jobs (kind, status, params, progress, log_tail, attempts, max_attempts, "
        "cancel_requested, created_at) VALUES (:kind, 'queued', '{}', 0, '', 0, 3, false, :now)"
    )
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            with pytest.raises(IntegrityError), conn.begin_nested():
                conn.execute(text(insert_job), {"kind": "compare", "now": now})
            job = conn.execute(
                text(insert_job + " RETURNING id"), {"kind": "train", "now": now}
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO model_versions (job_id, supervision, config, class_names, "
                    "checkpoint_path, metrics, data_summary, is_active, created_at) VALUES "
                    "(:job, 'weak', '{}', '[]', 'm.pt', '{}', '{}', false, :now)"
                ),
                {"job": job, "now": now},
            )
        upgrade(settings, "head")
        with engine.begin() as conn:
            conn.execute(text(insert_job), {"kind": "compare", "now": now})
            assert conn.execute(text("SELECT job_id FROM model_versions")).scalar_one() == job
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(insert_job), {"kind": "sleep", "now": now})
        downgrade(settings, "0005")
        with engine.begin() as conn:
            kinds = conn.execute(text("SELECT kind FROM jobs ORDER BY id")).scalars().all()
            assert kinds == ["train"]
            assert conn.execute(text("SELECT job_id FROM model_versions")).scalar_one() == job
    finally:
        engine.dispose()
        upgrade(settings, "head")
    assert _diff(db_url) == []
