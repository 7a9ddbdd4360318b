"""SQLite transaction rules: a fair in-process write queue, reads off the write lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from server.config import Settings
from server.db import make_engine, make_sessionmaker, read_only, session_scope
from server.models import ActionClass
from server.sqlite_writes import FairLock, write_lock_for
from tests.security.live import wait_for


def test_fair_lock_hands_over_in_arrival_order() -> None:
    lock = FairLock()
    assert lock.acquire(timeout=1)
    order: list[int] = []

    def waiter(i: int) -> None:
        assert lock.acquire(timeout=30)
        order.append(i)
        time.sleep(0.001)  # a releasing thread that could take it back must not
        lock.release()

    threads = []
    for i in range(8):
        t = threading.Thread(target=waiter, args=(i,))
        t.start()
        threads.append(t)
        wait_for(lambda i=i: lock.queued == i + 1, 10, f"waiter {i} to queue")  # type: ignore[misc]
    lock.release()
    for t in threads:
        t.join(10)
    assert order == list(range(8))
    assert lock.acquire(timeout=0)  # free again


def test_fair_lock_wait_times_out_and_leaves_the_queue() -> None:
    lock = FairLock()
    assert lock.acquire(timeout=1)
    assert not lock.acquire(timeout=0.05)
    assert lock.queued == 0
    lock.release()
    assert lock.acquire(timeout=0)


def test_engines_of_one_file_share_one_queue(tmp_path: Path) -> None:
    a = write_lock_for(str(tmp_path / "x.db"))
    assert write_lock_for(str(tmp_path / "." / "x.db")) is a
    assert write_lock_for(str(tmp_path / "y.db")) is not a


@pytest.fixture
def sqlite_settings(sqlite_template: Path, tmp_path: Path) -> Settings:
    import shutil

    path = tmp_path / "t.db"
    shutil.copy(sqlite_template, path)
    return Settings(
        database_url=f"sqlite:///{path}", media_dir=tmp_path / "media", sqlite_busy_timeout_ms=800
    )


def test_a_read_does_not_wait_for_an_open_write(sqlite_settings: Settings) -> None:
    engine = make_engine(sqlite_settings)
    try:
        with engine.begin() as writer:  # holds SQLite's write lock and this process's queue
            writer.execute(text("INSERT INTO action_classes (name, created_at) VALUES ('a', 0)"))
            with read_only(engine).connect() as reader:
                # the snapshot before the writer's commit; no "database is locked"
                assert reader.execute(text("SELECT count(*) FROM action_classes")).scalar() == 0
        with make_sessionmaker(read_only(engine))() as s:
            assert s.scalar(select(func.count()).select_from(ActionClass)) == 1
    finally:
        engine.dispose()


def test_a_read_only_transaction_cannot_write(sqlite_settings: Settings) -> None:
    engine = make_engine(sqlite_settings)
    try:
        with (
            pytest.raises(OperationalError, match="readonly"),
            session_scope(make_sessionmaker(read_only(engine))) as s,
        ):
            s.add(ActionClass(name="sneaky"))
        # the same pooled connection writes again once it is used for a write
        with session_scope(make_sessionmaker(engine)) as s:
            s.add(ActionClass(name="fine"))
        with engine.connect() as conn:
            names = conn.execute(text("SELECT name FROM action_classes")).scalars().all()
        assert names == ["fine"]
    finally:
        engine.dispose()


def test_a_writer_waits_in_the_queue_at_most_the_busy_timeout(sqlite_settings: Settings) -> None:
    engine = make_engine(sqlite_settings)
    errors: list[BaseException] = []

    def second_writer() -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text("SELECT 1"))
        except BaseException as exc:
            errors.append(exc)

    try:
        with engine.begin() as first:
            first.execute(text("SELECT 1"))
            t = threading.Thread(target=second_writer)
            t.start()
            t.join(30)
        assert len(errors) == 1 and isinstance(errors[0], OperationalError)
        assert "write queue" in str(errors[0])
        with engine.begin() as conn:  # the queue is free again
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()


def test_concurrent_writers_all_commit_in_one_process(sqlite_settings: Settings) -> None:
    """16 threads x 25 write transactions: none is lost and none fails with 'locked'."""
    engine = make_engine(sqlite_settings.model_copy(update={"sqlite_busy_timeout_ms": 30_000}))
    factory = make_sessionmaker(engine)
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            for k in range(25):
                with session_scope(factory) as s:
                    s.add(ActionClass(name=f"c{i}-{k}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(16)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors
        with factory() as s:
            assert s.scalar(select(func.count()).select_from(ActionClass)) == 16 * 25
        assert write_lock_for(engine.url.database or "").acquire(timeout=0)  # all released
        write_lock_for(engine.url.database or "").release()
    finally:
        engine.dispose()
