"""Using stored objects as files: a local copy when a program needs a path (ffmpeg, torch),
arrays in and out of ``.npy`` objects.

With the local backend nothing is copied: the object *is* a file in the media folder.
"""

from __future__ import annotations

import contextlib
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from server.storage.base import ObjectNotFound, Storage


@contextlib.contextmanager
def local_copy(storage: Storage, key: str, scratch: Path) -> Iterator[Path]:
    """A local path holding the object ``key`` for the duration of the ``with`` block: the
    object's own file (local backend), else a copy in ``scratch`` removed afterwards.
    ``ObjectNotFound`` when there is no such object."""
    own = storage.local_path(key)
    if own is not None:
        if not own.is_file():
            raise ObjectNotFound(f"no object {key!r} in {storage!r}")
        yield own
        return
    scratch.mkdir(parents=True, exist_ok=True)
    dest = scratch / f"{uuid.uuid4().hex[:12]}-{Path(key).name}"
    try:
        storage.get_to_path(key, dest)
        yield dest
    finally:
        dest.unlink(missing_ok=True)


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` as the bytes of a ``.npy`` file (no pickles)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def load_npy(storage: Storage, key: str) -> np.ndarray:
    """The array stored as the ``.npy`` object ``key`` (``allow_pickle=False``)."""
    own = storage.local_path(key)
    if own is not None:
        if not own.is_file():
            raise ObjectNotFound(f"no object {key!r} in {storage!r}")
        return np.load(own, allow_pickle=False)
    return np.load(io.BytesIO(storage.read_bytes(key)), allow_pickle=False)
