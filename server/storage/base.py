"""The one small storage interface: a flat space of keys (``features/12/x.npy``) → bytes.

Backends: :class:`server.storage.local.LocalStorage` (a folder; the default, the media
folder) and :class:`server.storage.s3.S3Storage` (an S3-compatible bucket and prefix).

The rule every backend keeps: **a key is published only when complete.** A reader sees
the old object (or none) until a put has succeeded, never a part of the new one; a put
that fails leaves nothing behind under the key (local: a tagged temporary file renamed
into place; S3: a single PUT or a multipart upload that is completed, else aborted).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20
_BAD_PART = re.compile(r"^\.{1,2}$")


class StorageError(OSError):
    """A storage operation failed (the message says which key and why)."""


class ObjectNotFound(StorageError, FileNotFoundError):
    """No object under that key."""


class StorageUnavailable(StorageError):
    """The storage service could not be reached or failed (after the client's retries):
    the API answers 503, a job fails this attempt and is retried."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int


def check_key(key: str) -> str:
    """A relative POSIX key: no leading ``/``, no ``.``/``..`` parts, no backslash, no NUL,
    no empty part. Returns it unchanged; ``ValueError`` otherwise."""
    if not isinstance(key, str) or not key or len(key) > 1024:
        raise ValueError(f"a storage key must be 1-1024 characters, got {key!r}")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise ValueError(f"a storage key is a relative POSIX path, got {key!r}")
    parts = key.split("/")
    if any(not p or _BAD_PART.match(p) for p in parts):
        raise ValueError(f"a storage key has no empty, '.' or '..' parts, got {key!r}")
    return key


def file_chunks(path: str | Path, chunk: int = CHUNK) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            yield block


class Storage(ABC):
    """Where the server and the workers keep files."""

    #: ``local`` or ``s3``
    kind: str = ""

    @abstractmethod
    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        """Store the concatenated ``chunks`` under ``key`` (replacing an older object),
        publishing it only once all of it is stored. Returns the size in bytes. If the
        iterator or the backend fails, the error propagates and the key is unchanged."""

    def put_file(self, key: str, path: str | Path, *, move: bool = False) -> int:
        """Store a local file under ``key`` (same publishing rule as :meth:`put_stream`).
        ``move``: the caller no longer needs the file (the local backend may rename it into
        place instead of copying; the file may or may not exist afterwards)."""
        return self.put_stream(key, file_chunks(path))

    def put_bytes(self, key: str, data: bytes) -> int:
        return self.put_stream(key, [data])

    @abstractmethod
    def get_to_path(self, key: str, dest: str | Path) -> Path:
        """Copy the object to the local file ``dest`` (written under a temporary name and
        renamed: ``dest`` is complete or absent). ``ObjectNotFound`` if there is none."""

    @abstractmethod
    def read_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``[start, end)`` of the object (``end`` None: to its end), in chunks."""

    def read_bytes(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        return b"".join(self.read_range(key, start, end))

    @abstractmethod
    def presigned_url(self, key: str, expires_s: int = 3600) -> str | None:
        """A URL a client can GET (with HTTP range requests) without credentials for
        ``expires_s`` seconds, or None when the backend has none (local: the API serves)."""

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo | None:
        """Size of the object, None if there is none."""

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Remove the object; False if there was none (not an error)."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Published objects whose key starts with ``prefix``, sorted by key (temporary
        and in-flight uploads are never listed)."""

    def local_path(self, key: str) -> Path | None:
        """The object's own file when the backend is a local folder, else None."""
        return None
