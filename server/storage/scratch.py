"""A worker's private scratch folder: where it copies an original, writes a proxy, a
sprite, features or a checkpoint before putting them into storage.

Every worker process owns one folder ``<scratch root>/worker-<n>``: it takes the first
``n`` whose lock file ``worker-<n>.lock`` it can lock exclusively (``flock``; the kernel
drops the lock when the process dies, SIGKILL included), then empties the folder — what is
there was left by a dead predecessor. Two workers never share a folder, whether or not they
share a scratch root; a restarted worker finds and cleans what its killed predecessor left.
Each job works in a fresh sub-folder that is removed when the job ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

MAX_SLOTS = 1024


class WorkerScratch:
    """Claim a private scratch folder under ``root`` (created if needed) and empty it."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock: IO[bytes] | None = None
        self.path = self._claim()
        self.cleaned = self._empty()

    def _claim(self) -> Path:
        for n in range(MAX_SLOTS):
            fh = open(self.root / f"worker-{n}.lock", "a+b")  # noqa: SIM115 (held until close)
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            self._lock = fh
            path = self.root / f"worker-{n}"
            path.mkdir(exist_ok=True)
            return path
        raise RuntimeError(f"more than {MAX_SLOTS} workers use the scratch folder {self.root}")

    def _empty(self) -> int:
        """Remove everything in the folder; returns how many entries went."""
        count = 0
        for entry in list(self.path.iterdir()):
            count += 1
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        return count

    @contextlib.contextmanager
    def job_dir(self, name: str = "job") -> Iterator[Path]:
        """A fresh folder for one job, removed (with whatever is in it) afterwards."""
        path = self.path / f"{name}-{uuid.uuid4().hex[:8]}"
        path.mkdir()
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def close(self) -> None:
        """Empty the folder and release it."""
        if self._lock is None:
            return
        with contextlib.suppress(OSError):
            self._empty()
        fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
        self._lock.close()
        self._lock = None

    def __repr__(self) -> str:
        return f"WorkerScratch({str(self.path)!r}, pid {os.getpid()})"
