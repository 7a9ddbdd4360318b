"""SQLite under concurrent load: reads off the write lock, writes queued fairly in-process.

SQLite has one write lock per database file. Before this module every transaction took it
up front (``BEGIN IMMEDIATE``) and concurrent writers waited inside SQLite's busy handler,
which *sleeps* (1, 2, 5, … up to 100 ms) between attempts instead of queueing: under 20
clicking annotators the p99 of a click was 0.5–0.7 s although each write takes well under
a millisecond (docs/performance.md).

Here:

* **Writes** (the default for every transaction) first take a per-process, per-database
  FIFO lock (:class:`FairLock`), then ``BEGIN IMMEDIATE``; the lock is handed to the next
  waiter the moment ``COMMIT`` / ``ROLLBACK`` returns. Threads of one process therefore
  never meet SQLite's busy handler among themselves: they wait in arrival order and are
  woken at once. The busy handler (``busy_timeout``) still arbitrates between processes
  (the server and its workers), where it always did.
* **Reads** — connections whose execution options carry ``READ_ONLY`` (the request
  session of GET/HEAD requests, the token lookup, ``/health``) — begin a *deferred*
  transaction: in WAL mode they read a consistent snapshot without the write lock and
  without waiting for writers. Such a connection runs with ``PRAGMA query_only`` on, so a
  read-only transaction that tries to write fails loudly instead of slipping past the
  queue.

Waiting for the queue is bounded by the busy timeout, like waiting for SQLite's lock: past
it the transaction fails with ``OperationalError`` ("database is locked"), which the API
answers with 503 + ``Retry-After``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

READ_ONLY = "backtal_read_only"
"""Execution option: this connection's transactions only read (SQLite: no write lock)."""


class FairLock:
    """A mutex that is handed to its waiters in arrival order (``threading.Lock`` makes no
    such promise: a releasing thread may take it straight back)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            baton = threading.Lock()
            baton.acquire()
            self._waiters.append(baton)
        if baton.acquire(timeout=timeout):
            return True  # handed over by release()
        with self._mutex:
            try:
                self._waiters.remove(baton)
            except ValueError:
                return True  # handed over just as the wait timed out: it is ours
            return False

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # ownership passes; _held stays True
            else:
                self._held = False

    @property
    def queued(self) -> int:
        return len(self._waiters)


_locks: dict[str, FairLock] = {}
_locks_mutex = threading.Lock()


def write_lock_for(database: str) -> FairLock:
    """The process-wide write queue of one database file (engines share it)."""
    key = database if database in ("", ":memory:") else str(Path(database).resolve())
    with _locks_mutex:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = FairLock()
        return lock


class QueuedConnection(sqlite3.Connection):
    """A pysqlite connection that gives its database's write queue back once its
    transaction has ended (after ``COMMIT`` / ``ROLLBACK`` returned, or on close)."""

    write_queue: FairLock | None = None
    holds_queue: bool = False
    query_only: bool = False

    def release_queue(self) -> None:
        if self.holds_queue:
            self.holds_queue = False
            assert self.write_queue is not None
            self.write_queue.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release_queue()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release_queue()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_queue()


def install(engine: Engine, database: str, wait_s: float) -> None:
    """Give ``engine`` (a SQLite engine created with ``factory=QueuedConnection``) its
    transaction rules: deferred reads, queued ``BEGIN IMMEDIATE`` writes."""
    queue = write_lock_for(database)

    @event.listens_for(engine, "connect")
    def _attach(dbapi_conn: Any, _record: Any) -> None:
        if isinstance(dbapi_conn, QueuedConnection):
            dbapi_conn.write_queue = queue

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        dbapi_conn = conn.connection.dbapi_connection
        read_only = bool(conn.get_execution_options().get(READ_ONLY))
        if not isinstance(dbapi_conn, QueuedConnection):  # pragma: no cover - foreign factory
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
            return
        if dbapi_conn.query_only != read_only:
            conn.exec_driver_sql(f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
            dbapi_conn.query_only = read_only
        if read_only:
            conn.exec_driver_sql("BEGIN")  # deferred: a WAL snapshot, no write lock
            return
        if not queue.acquire(timeout=wait_s):
            raise OperationalError(
                "BEGIN IMMEDIATE",
                None,
                sqlite3.OperationalError(
                    f"database is locked (waited {wait_s:g} s in this process's write queue)"
                ),
            )
        dbapi_conn.holds_queue = True
        try:
            # IMMEDIATE takes SQLite's write lock up front: no deadlock-prone lock upgrades.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            dbapi_conn.release_queue()
            raise
