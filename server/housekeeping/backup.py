"""``backup OUT`` / ``restore IN``: the SQLite database and the media folder in one tar file.

A backup is an uncompressed tar (videos are compressed already) holding

* ``backtal-backup.json`` — format, time, database kind, schema revision, file count;
* ``database.sqlite3`` — a consistent copy made with SQLite's online backup API, so the
  server and workers may keep running while it is taken;
* ``media/…`` — every file of the media folder except temporary files and ``.trash/``.

The database is copied first, then the media folder: files that appear meanwhile are
included but unreferenced; a file the copied database refers to that disappears meanwhile
(a purge running at the same time) is reported as missing. It is written under a
temporary name and renamed, so ``OUT`` is complete or absent.

``restore`` needs the server and its workers stopped. It refuses to overwrite a database
or media folder that holds data unless ``--force`` is given; with it, the current media
folder is kept beside the restored one (``<media>.before-restore-<time>``) and the old
database file beside it too. Then the schema is migrated to this version's head.

PostgreSQL: the database is backed up with ``pg_dump`` (docs/reliability.md); ``backup
--media-only`` and ``restore --media-only`` handle the media folder.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, select

from server.config import Settings
from server.housekeeping.purge import TRASH
from server.housekeeping.tempfiles import is_temp_name, temp_path
from server.models import Video, utcnow

FORMAT = 1
MANIFEST = "backtal-backup.json"
DATABASE = "database.sqlite3"
MEDIA = "media"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says what to do."""


@dataclass
class BackupInfo:
    path: Path
    files: int
    bytes: int
    missing: list[str]  # files the database refers to that were not in the media folder
    database: str


def _sqlite_path(settings: Settings) -> Path:
    database = make_url(settings.database_url).database
    if not database or database == ":memory:":
        raise BackupError("the database is in memory: there is nothing on disk to back up")
    return Path(database).expanduser().resolve()


def _media_files(media_dir: Path, skip: set[Path]) -> list[Path]:
    files = []
    for folder, dirs, names in os.walk(media_dir):
        dirs[:] = sorted(d for d in dirs if not (folder == str(media_dir) and d == TRASH))
        for name in sorted(names):
            path = Path(folder, name)
            rel = path.relative_to(media_dir)
            if path.is_symlink() or not path.is_file() or is_temp_name(rel) or path in skip:
                continue
            files.append(path)
    return files


def _referenced(db_file: Path) -> list[str]:
    """Media paths the (copied) database refers to."""
    from sqlalchemy import create_engine

    from server.models import Feature, ModelVersion

    engine = create_engine(f"sqlite:///{db_file}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Video.file_path, Video.proxy_path, Video.thumbnails_path)
            ).all()
            paths = [p for row in rows for p in row if p]
            paths += list(conn.scalars(select(Feature.path)))
            paths += list(conn.scalars(select(ModelVersion.checkpoint_path)))
    finally:
        engine.dispose()
    return sorted(set(paths))


def backup(settings: Settings, out: Path, *, media_only: bool = False) -> BackupInfo:
    """Write the database (SQLite) and the media folder to the tar file ``out``."""
    out = out.expanduser().resolve()
    if out.exists():
        raise BackupError(f"{out} exists already; choose a new file name")
    url = settings.storage_url.strip()
    if url and not url.startswith("file://"):
        raise BackupError(
            f"the files are in object storage ({url}), not in a local media folder: back the "
            "bucket up with your S3 tooling (versioning or replication, `mc mirror`, `aws s3 "
            "sync`) and the database with pg_dump, or SQLite's `.backup` (docs/storage.md)"
        )
    if not settings.is_sqlite and not media_only:
        raise BackupError(
            "the database is PostgreSQL: back it up with pg_dump (e.g. `pg_dump -Fc -f "
            "backtal.dump <database>`) and the media folder with `backup --media-only OUT` "
            "(docs/reliability.md)"
        )
    media_dir = settings.media_dir
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(temp_path(out))
    with tempfile.TemporaryDirectory(prefix="backtal-backup-") as scratch:
        db_copy = Path(scratch) / DATABASE
        skip: set[Path] = set()
        kind = "none (media only)"
        revision = None
        missing: list[str] = []
        if not media_only:
            src_path = _sqlite_path(settings)
            if not src_path.is_file():
                raise BackupError(f"there is no database at {src_path}")
            skip = {src_path, Path(f"{src_path}-wal"), Path(f"{src_path}-shm")}
            src = sqlite3.connect(src_path, timeout=settings.sqlite_busy_timeout_ms / 1000)
            dst = sqlite3.connect(db_copy)
            try:
                src.backup(dst)  # a consistent snapshot, even while others write
                row = dst.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = row[0] if row else None
            finally:
                dst.close()
                src.close()
            kind = "sqlite"
        files = _media_files(media_dir, skip) if media_dir.is_dir() else []
        if not media_only:
            present = {p.relative_to(media_dir).as_posix() for p in files}
            missing = [p for p in _referenced(db_copy) if p not in present]
        total = 0
        try:
            with tarfile.open(partial, "w") as tar:
                manifest: dict[str, Any] = {
                    "format": FORMAT,
                    "created_at": utcnow().isoformat(),
                    "database": kind,
                    "alembic_revision": revision,
                    "files": len(files),
                    "missing": missing,
                }
                data = json.dumps(manifest, indent=1).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size = len(data)
                info.mtime = int(utcnow().timestamp())
                tar.addfile(info, io.BytesIO(data))
                if not media_only:
                    tar.add(db_copy, arcname=DATABASE)
                for path in files:
                    try:
                        tar.add(path, arcname=f"{MEDIA}/{path.relative_to(media_dir).as_posix()}")
                    except FileNotFoundError:
                        continue  # removed meanwhile
                    total += path.stat().st_size if path.exists() else 0
            with open(partial, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(partial, out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return BackupInfo(out, len(files), total, missing, kind)


def _has_data(db_path: Path) -> bool:
    if not db_path.is_file() or db_path.stat().st_size == 0:
        return False
    conn = sqlite3.connect(db_path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in ("videos", "users", "clicks"):
            if table in tables and conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
                return True
        return False
    finally:
        conn.close()


def restore(
    settings: Settings, src: Path, *, force: bool = False, media_only: bool = False
) -> dict[str, Any]:
    """Put a backup made by :func:`backup` back in place (server and workers stopped)."""
    src = src.expanduser().resolve()
    if not src.is_file():
        raise BackupError(f"there is no backup file at {src}")
    media_dir = settings.media_dir
    with tarfile.open(src, "r") as tar:
        try:
            manifest = json.loads(tar.extractfile(MANIFEST).read())  # type: ignore[union-attr]
        except (KeyError, AttributeError, ValueError) as exc:
            raise BackupError(f"{src} is not a BackTAL Studio backup ({exc})") from None
        if manifest.get("format") != FORMAT:
            raise BackupError(f"backup format {manifest.get('format')} is not supported")
        has_db = manifest.get("database") == "sqlite"
        restore_db = has_db and not media_only
        if not media_only and not has_db:
            raise BackupError("this backup holds no database: use restore --media-only")
        if restore_db and not settings.is_sqlite:
            raise BackupError(
                "the configured database is PostgreSQL; this backup holds a SQLite database "
                "(restore PostgreSQL with pg_restore and the media with --media-only)"
            )
        db_path = _sqlite_path(settings) if restore_db else None
        media_busy = media_dir.is_dir() and any(media_dir.iterdir())
        if not force:
            if db_path is not None and _has_data(db_path):
                raise BackupError(f"{db_path} holds data; stop the server and use --force")
            if media_busy:
                raise BackupError(f"{media_dir} is not empty; stop the server and use --force")
        stamp = f"{utcnow():%Y%m%dT%H%M%S}"
        media_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=media_dir.parent))
        try:
            members = [m for m in tar.getmembers() if m.name.startswith(f"{MEDIA}/")]
            if restore_db:
                members.append(tar.getmember(DATABASE))
            tar.extractall(staging, members=members, filter="data")
            restored_media = staging / MEDIA
            restored_media.mkdir(exist_ok=True)
            kept: list[str] = []
            if db_path is not None:
                db_path.parent.mkdir(parents=True, exist_ok=True)
                if db_path.exists():
                    aside = db_path.with_name(f"{db_path.name}.before-restore-{stamp}")
                    os.replace(db_path, aside)
                    kept.append(str(aside))
                for extra in (Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
                    extra.unlink(missing_ok=True)
                os.replace(staging / DATABASE, db_path)
            if media_dir.exists():
                aside = media_dir.with_name(f"{media_dir.name}.before-restore-{stamp}")
                if media_busy:
                    os.replace(media_dir, aside)
                    kept.append(str(aside))
                else:
                    media_dir.rmdir()
            os.replace(restored_media, media_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if restore_db:
        from server.migrate import upgrade

        upgrade(settings)
    return {"manifest": manifest, "kept": kept, "files": len(members) - int(restore_db)}
