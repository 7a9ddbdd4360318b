"""The tus 1.0.0 resumable upload protocol, server side: the uploads' state on disk and the
protocol's header formats (https://tus.io/protocols/resumable-upload; the HTTP routes are in
``routes.py``). Core protocol plus the ``creation``, ``expiration`` and ``termination``
extensions.

Why not a tus server package from PyPI: the maintained one for FastAPI (``tuspyserver``
4.4.3, MIT) waits for an upload's lock with ``time.sleep`` inside its async handlers, so a
resumed PATCH that arrives while the cut connection's request still holds the lock stops
the whole API process for up to 30 s (measured: any other request waited 29.8 s, then the
PATCH got a 503); its expiry sweep cannot parse the dates it writes; it checks the size
limit only while bytes arrive, not at creation; and it reads a creation request's body
into memory whatever its size. The protocol is small and standard, so it is implemented
here by its specification, with ``tus-js-client`` (tus's own client) in the browser.

One upload is three files in the upload folder (``Settings.upload_root``), no table:

* ``<id>.json`` — its record: owner, declared length, the offset received so far, the
  client's metadata, when it was last written to, and, once finished, the video (or why it
  could not become one). Replaced atomically (temporary file + ``os.replace``).
* ``<id>.bin`` — the bytes received. A request appends to it after truncating it to the
  record's offset, so bytes written by a request that died before its record was saved
  are dropped and sent again.
* ``<id>.lock`` — ``flock``-ed by the one request that writes the upload (any process).

An upload whose last write is older than ``upload_expire_s`` is expired: requests get 410
and :meth:`TusFolder.sweep` removes its files.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import IO, Any

from server.errors import BadRequest
from server.housekeeping.tempfiles import temp_path

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,expiration,termination"
OFFSET_STREAM = "application/offset+octet-stream"

RECEIVING, DONE, FAILED = "receiving", "done", "failed"
_ID = re.compile(r"^[0-9a-f]{32}$")
_KEY = re.compile(r"^[\x21-\x7e]+$")  # ASCII without spaces (and commas, checked apart)
MAX_METADATA_BYTES = 4096


@dataclass
class UploadRecord:
    """What the server knows about one upload (``<id>.json``)."""

    id: str
    owner_id: int
    length: int
    offset: int
    metadata: dict[str, str]
    created_at: float
    touched_at: float
    state: str = RECEIVING
    video_id: int | None = None
    video_created: bool = False
    error: str | None = None
    error_status: int | None = None

    def expires_at(self, expire_s: float) -> float:
        return self.touched_at + expire_s

    @property
    def filename(self) -> str:
        return self.metadata.get("filename", "")


@dataclass
class Lock:
    fh: IO[bytes] = field(repr=False)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
        self.fh.close()


class Busy(Exception):
    """Another request (of this or another process) writes the upload right now."""


def http_date(ts: float) -> str:
    """RFC 9110 date (``Upload-Expires``)."""
    return formatdate(ts, usegmt=True)


def parse_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs (or a bare ``key``);
    keys are unique ASCII without spaces or commas. 400 with what is wrong otherwise."""
    out: dict[str, str] = {}
    if not header:
        return out
    if len(header) > MAX_METADATA_BYTES:
        raise BadRequest(f"Upload-Metadata is longer than {MAX_METADATA_BYTES} characters")
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        if not parts[0] or len(parts) > 2 or not _KEY.match(parts[0]):
            raise BadRequest(
                f"Upload-Metadata pair {pair.strip()!r} is not 'key base64value' "
                "(keys are ASCII without spaces or commas)"
            )
        key = parts[0]
        if key in out:
            raise BadRequest(f"Upload-Metadata names {key!r} twice")
        value = ""
        if len(parts) == 2:
            try:
                value = base64.b64decode(parts[1], validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise BadRequest(
                    f"the value of {key!r} in Upload-Metadata is not base64 of UTF-8 text"
                ) from None
        out[key] = value
    return out


def encode_metadata(metadata: dict[str, str]) -> str:
    return ",".join(
        f"{k} {base64.b64encode(v.encode('utf-8')).decode('ascii')}" if v else k
        for k, v in metadata.items()
    )


class TusFolder:
    """The uploads of one folder (see the module docstring)."""

    def __init__(self, root: Path, expire_s: float) -> None:
        self.root = Path(root)
        self.expire_s = expire_s

    # ------------------------------------------------------------------ files
    def _path(self, upload_id: str, ext: str) -> Path:
        if not _ID.match(upload_id):
            raise ValueError(f"not an upload id: {upload_id!r}")
        return self.root / f"{upload_id}{ext}"

    def data_path(self, upload_id: str) -> Path:
        return self._path(upload_id, ".bin")

    def create(
        self, owner_id: int, length: int, metadata: dict[str, str], now: float | None = None
    ) -> UploadRecord:
        now = time.time() if now is None else now
        self.root.mkdir(parents=True, exist_ok=True)
        upload_id = secrets.token_hex(16)
        record = UploadRecord(upload_id, owner_id, length, 0, metadata, now, now)
        self.data_path(upload_id).touch(exist_ok=False)
        self.save(record)
        return record

    def load(self, upload_id: str) -> UploadRecord | None:
        """The upload's record, None if there is none (or ``upload_id`` is no id)."""
        if not _ID.match(upload_id):
            return None
        try:
            raw: dict[str, Any] = json.loads(self._path(upload_id, ".json").read_bytes())
        except (FileNotFoundError, ValueError):
            return None
        return UploadRecord(**raw)

    def save(self, record: UploadRecord) -> None:
        target = self._path(record.id, ".json")
        tmp = temp_path(target, ".tmp")
        try:
            with open(tmp, "xb") as fh:
                fh.write(json.dumps(asdict(record)).encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def remove(self, upload_id: str) -> None:
        """Forget the upload (its record last: a half-removed upload is still swept)."""
        for ext in (".bin", ".json", ".lock"):
            self._path(upload_id, ext).unlink(missing_ok=True)

    def drop_data(self, upload_id: str) -> None:
        self.data_path(upload_id).unlink(missing_ok=True)

    # ------------------------------------------------------------------ locking
    def try_lock(self, upload_id: str) -> Lock:
        """The upload's write lock, or :class:`Busy` at once when someone holds it."""
        path = self._path(upload_id, ".lock")
        fh = open(path, "a+b")  # noqa: SIM115 (kept open while locked; Lock.release closes)
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise Busy(upload_id) from None
        return Lock(fh)

    # ------------------------------------------------------------------ housekeeping
    def records(self) -> Iterator[UploadRecord]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("*.json")):
            record = self.load(path.stem)
            if record is not None:
                yield record

    def reserved_bytes(self) -> int:
        """Bytes the unfinished uploads may still add to the folder."""
        return sum(max(0, r.length - r.offset) for r in self.records() if r.state == RECEIVING)

    def sweep(self, now: float | None = None) -> list[str]:
        """Remove expired uploads (not one that a request is writing) and leftovers
        without a record older than the expiry; returns the ids removed."""
        now = time.time() if now is None else now
        removed: list[str] = []
        if not self.root.is_dir():
            return removed
        for record in list(self.records()):
            if record.expires_at(self.expire_s) >= now:
                continue
            try:
                lock = self.try_lock(record.id)
            except Busy:
                continue
            try:
                self.remove(record.id)
                removed.append(record.id)
            finally:
                lock.release()
        for path in self.root.iterdir():
            stem = path.name.split(".", 1)[0]
            if not _ID.match(stem) or (self.root / f"{stem}.json").exists():
                continue
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime + self.expire_s < now:
                    path.unlink()
        return removed


@contextlib.contextmanager
def opened_for_append(path: Path, offset: int) -> Iterator[IO[bytes]]:
    """``path`` opened for appending after cutting it to ``offset`` bytes (what a request
    that died after writing but before saving its record left is dropped)."""
    with open(path, "r+b") as fh:
        fh.truncate(offset)
        fh.seek(offset)
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
