"""Engine, session factory and the request-scoped session dependency.

No global session: ``create_app`` builds the engine and the sessionmaker and keeps them on
``app.state``. A request's session commits when the route returns normally and rolls back
on any error, so every write is one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from starlette.requests import Request

from server import sqlite_writes
from server.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    # Named constraints: migrations (SQLite batch mode included) can drop them by name.
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(settings: Settings) -> Engine:
    """An engine for ``settings.database_url``; SQLite gets WAL, foreign keys, busy timeout."""
    if settings.is_sqlite:
        engine = create_engine(
            settings.database_url,
            connect_args={
                "check_same_thread": False,
                "timeout": settings.sqlite_busy_timeout_ms / 1000,
                "factory": sqlite_writes.QueuedConnection,
            },
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy issue BEGIN itself so transactions are real (pysqlite quirk).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
            cur.close()

        # Reads: deferred, off the write lock; writes: a fair in-process queue, then
        # BEGIN IMMEDIATE (server/sqlite_writes.py).
        sqlite_writes.install(
            engine,
            make_url(settings.database_url).database or "",
            settings.sqlite_busy_timeout_ms / 1000,
        )
        return engine
    return create_engine(settings.database_url, pool_size=10, max_overflow=20)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction outside a request (CLI, worker): commit on success, else roll back."""
    session = factory()
    try:
        yield session
        session.commit()
        for after in session.info.pop("on_commit", []):
            after()
    except BaseException:
        session.rollback()
        for undo in reversed(session.info.pop("on_rollback", [])):
            undo()
        raise
    finally:
        session.info.pop("on_rollback", None)
        session.info.pop("on_commit", None)
        session.close()


def on_rollback(session: Session, undo: Callable[[], None]) -> None:
    """Run ``undo`` if this session's transaction is rolled back (e.g. delete a stored file)."""
    session.info.setdefault("on_rollback", []).append(undo)


def on_commit(session: Session, after: Callable[[], None]) -> None:
    """Run ``after`` once this session's transaction has committed (e.g. drop an old file)."""
    session.info.setdefault("on_commit", []).append(after)


def read_only(engine: Engine) -> Engine:
    """``engine`` for transactions that only read: on SQLite they take no write lock (a WAL
    snapshot) and may not write (``server.sqlite_writes``); elsewhere nothing changes."""
    return engine.execution_options(**{sqlite_writes.READ_ONLY: True})


READ_METHODS = frozenset({"GET", "HEAD"})


def get_session(request: Request) -> Iterator[Session]:
    """FastAPI dependency (function scope): the request's one transaction (read-only for
    GET and HEAD requests: ``app.state.read_sessionmaker``)."""
    state = request.app.state
    factory: sessionmaker[Session] = state.sessionmaker
    if request.method in READ_METHODS:
        factory = getattr(state, "read_sessionmaker", factory)
    with session_scope(factory) as session:
        yield session
