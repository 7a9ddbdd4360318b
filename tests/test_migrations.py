"""Alembic: upgrade → downgrade → upgrade, and the models match the migrations."""

from __future__ import annotations

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
