"""What a job handler gets: progress reporting, logging, cancellation, the settings."""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from server.config import Settings
from server.db import session_scope
from server.jobs import service as jobs
from server.storage import Storage, open_storage
from server.storage.scratch import WorkerScratch


class JobCancelled(Exception):
    """The job was cancelled (or taken away from this worker); stop without results."""


class PermanentJobError(Exception):
    """A failure that a retry cannot fix (e.g. a damaged video); fail the job at once."""


@dataclass
class JobContext:
    job_id: int
    worker_id: str
    kind: str
    params: dict[str, Any]
    video_id: int | None
    model_version_id: int | None
    settings: Settings
    factory: sessionmaker[Session]
    min_write_interval_s: float = 0.5
    # where files go (the worker's backend) and its private scratch folder
    storage: Storage | None = None
    scratch: WorkerScratch | None = None
    # set when the worker is stopping (SIGTERM/SIGINT, parent gone): the job is handed back
    shutdown: threading.Event = field(default_factory=threading.Event)
    _cancel: threading.Event = field(default_factory=threading.Event)
    _lost: threading.Event = field(default_factory=threading.Event)
    _last_progress_write: float = 0.0
    _progress: float | None = None
    _message: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- called by handlers -------------------------------------------------------------
    def progress(
        self,
        fraction: float,
        message: str | None = None,
        *,
        metrics: dict[str, Any] | None = None,
        force: bool = False,
    ) -> None:
        """Report progress (0–1). Written at most every ``min_write_interval_s`` (the
        heartbeat also writes the latest value), at once with ``force`` or ``metrics``."""
        self._progress = fraction
        if message is not None:
            self._message = message
        now = time.monotonic()
        due = now - self._last_progress_write >= self.min_write_interval_s
        if force or metrics is not None or due:
            self._last_progress_write = now
            self._write(progress=fraction, message=self._message, metrics=metrics)

    def log(self, line: str) -> None:
        self._write(log_line=line)

    def should_stop(self) -> bool:
        return self._cancel.is_set() or self._lost.is_set() or self.shutdown.is_set()

    def check_stop(self, *, shutdown: bool = True) -> None:
        """Raise ``JobCancelled`` if the job was cancelled or taken away, or (with
        ``shutdown``) if the worker is stopping."""
        if self._cancel.is_set():
            raise JobCancelled("cancelled")
        if self._lost.is_set():
            raise JobCancelled("job taken away")
        if shutdown and self.shutdown.is_set():
            raise JobCancelled("the worker is stopping")

    @property
    def stopping(self) -> bool:
        """The worker is stopping and the job was neither cancelled nor taken away."""
        return self.shutdown.is_set() and not self._cancel.is_set() and not self._lost.is_set()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def store(self) -> Storage:
        """The storage backend (the worker's; else opened from the settings)."""
        if self.storage is None:
            self.storage = open_storage(self.settings)
        return self.storage

    @contextlib.contextmanager
    def work_dir(self) -> Iterator[Path]:
        """A fresh local folder for this job's files, removed when the block ends."""
        if self.scratch is not None:
            with self.scratch.job_dir(f"job{self.job_id}") as path:
                yield path
        else:  # a handler run outside a worker (tests)
            with tempfile.TemporaryDirectory(prefix=f"backtal-job{self.job_id}-") as tmp:
                yield Path(tmp)

    def session(self) -> Any:
        """A short transaction of its own (commit on success)."""
        return session_scope(self.factory)

    # --- used by the loop's heartbeat thread too ---------------------------------------
    def _write(self, **kwargs: Any) -> None:
        with self._lock, session_scope(self.factory) as s:
            mine, cancel = jobs.heartbeat(s, self.job_id, self.worker_id, **kwargs)
        if not mine:
            self._lost.set()
        if cancel:
            self._cancel.set()

    def beat(self) -> None:
        """Heartbeat: refresh ``heartbeat_at`` and write the latest progress."""
        self._write(progress=self._progress, message=self._message)


Handler = Callable[[JobContext], Callable[[Session], str | None]]
"""A handler does the work and returns a finalizer: the database writes that publish its
result, run in the same transaction that marks the job succeeded."""
