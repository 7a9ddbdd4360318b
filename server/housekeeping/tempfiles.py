"""Temporary files that know their writer, and the sweep that removes dead writers' ones.

Files the server and the workers publish are written under a hidden temporary name next to
their target and renamed into place (``os.replace``), so a reader never sees half a file.
A process killed mid-write (SIGKILL, power loss) cannot remove its temporary file. Each
temporary name therefore carries its writer: ``.<target>@<host>@<pid>@<token>@<random>.part``
(``token`` is random per process, so a reused pid is told apart from the writer).

:func:`sweep` removes, under the media folder,

* tagged temporary files written on this host by a process that is gone (its pid is not
  running, or it is this very process's pid with another token: a previous incarnation,
  as in a container restarted with the same pid) — at once;
* any hidden ``*.part`` / ``*.tmp`` file (tagged or not, from any host) and any upload
  left in ``tmp/`` whose last change is older than ``older_than_s`` (a writer that keeps
  writing keeps changing it).

A worker sweeps when it starts (``server.worker.loop.Worker.run``).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import time
from pathlib import Path

log = logging.getLogger("backtal.housekeeping")

HOST = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "host"
TOKEN = secrets.token_hex(3)
_TAGGED = re.compile(r"@(?P<host>[A-Za-z0-9._-]+)@(?P<pid>\d+)@(?P<token>[0-9a-f]+)@")
_HIDDEN_TEMP = re.compile(r"^\..+\.(part|tmp)$")
UPLOADS = "tmp"  # the API's upload staging folder inside the media folder


def tag() -> str:
    """This process's writer tag (the pid is read now: a forked child gets its own)."""
    return f"@{HOST}@{os.getpid()}@{TOKEN}@"


def temp_path(target: str | os.PathLike[str], suffix: str = ".part") -> str:
    """A hidden temporary name next to ``target`` that :func:`sweep` can attribute."""
    folder, name = os.path.split(os.path.abspath(os.fspath(target)))
    return os.path.join(folder, f".{name}{tag()}{secrets.token_hex(4)}{suffix}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def writer_is_gone(name: str) -> bool:
    """Whether ``name`` is a tagged temporary file whose writer (on this host) has died."""
    m = _TAGGED.search(name)
    if m is None or m["host"] != HOST:
        return False
    pid = int(m["pid"])
    if pid == os.getpid():
        return m["token"] != TOKEN
    return not _alive(pid)


def is_temp_name(rel: Path) -> bool:
    return bool(_HIDDEN_TEMP.match(rel.name)) or (
        len(rel.parts) == 2 and rel.parts[0] == UPLOADS and rel.name.endswith(".part")
    )


def stale_temp_files(media_dir: Path, older_than_s: float, now: float | None = None) -> list[Path]:
    """Temporary files under ``media_dir`` that :func:`sweep` would remove (sorted)."""
    if not media_dir.is_dir():
        return []
    now = time.time() if now is None else now
    found: list[Path] = []
    for folder, dirs, files in os.walk(media_dir):
        dirs[:] = [d for d in dirs if d != ".trash"]  # the purge's own staging area
        for name in files:
            path = Path(folder, name)
            rel = path.relative_to(media_dir)
            if not is_temp_name(rel):
                continue
            if writer_is_gone(name):
                found.append(path)
                continue
            try:
                age = now - path.lstat().st_mtime
            except FileNotFoundError:
                continue  # renamed into place or removed meanwhile
            if age > older_than_s:
                found.append(path)
    return sorted(found)


def sweep(media_dir: Path, older_than_s: float) -> list[Path]:
    """Remove :func:`stale_temp_files`; returns what was removed."""
    removed = []
    for path in stale_temp_files(media_dir, older_than_s):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    if removed:
        log.info("removed %d stale temporary file(s) under %s", len(removed), media_dir)
    return removed
