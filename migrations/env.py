"""Alembic environment: the URL comes from the caller (server.cli) or from Settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from server import models  # noqa: F401  (registers the tables on Base.metadata)
from server.config import Settings
from server.db import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            _check_foreign_keys(connection)


def _check_foreign_keys(connection: Connection) -> None:
    """With enforcement off while migrating (below), check every reference before commit."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migration left rows with broken foreign keys: {broken[:5]}")


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or Settings().database_url
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from server.db import make_engine

    url = config.get_main_option("sqlalchemy.url")
    settings = Settings(database_url=url) if url else Settings()
    engine = make_engine(settings)
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # A batch migration recreates a table (copy, DROP, rename); with foreign keys on,
            # SQLite's DROP TABLE of a referenced table first deletes its rows, cascading
            # to every row that points at them. The pragma only works outside a
            # transaction: it is sent on the raw connection before SQLAlchemy begins one.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
