"""Pre-extracted features: read ``.npy`` / official ``.npz`` files and attach them to videos.

An ``.npy`` holds ``(T, D)`` float features (one row per snippet). An official BackTAL
``.npz`` holds ``feat_spa (D/2, T)`` and ``feat_tem (D/2, T)``; they are stacked as
``[spa, tem]`` → ``(T, D)``, and ``vid_name``, ``fps``, ``duration``, ``frame_num`` describe
the video. Files are loaded with ``allow_pickle=False`` and checked before anything is
stored; the array is written atomically and the row points to it only after that.
"""

from __future__ import annotations

import io
import logging
import os
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import on_commit, on_rollback
from server.errors import InsufficientStorage, Unprocessable
from server.housekeeping.tempfiles import temp_path
from server.models import Feature, Video, VideoStatus
from server.storage import Storage, StorageError
from server.storage.files import npy_bytes

log = logging.getLogger("backtal.features")

FEATURES = "features"
MAX_DIM = 16384
MAX_SNIPPETS = 1_000_000
_NAME = re.compile(r"^[A-Za-z0-9._+-]{1,64}$")


@dataclass
class FeatureFile:
    array: np.ndarray  # (T, D) float32
    meta: dict[str, Any] = field(default_factory=dict)  # vid_name, fps, duration, frame_num


def _check(array: np.ndarray, what: str) -> np.ndarray:
    if array.ndim != 2:
        raise Unprocessable(f"{what} must be a 2-D array (T, D); its shape is {array.shape}")
    t, d = array.shape
    if not (1 <= t <= MAX_SNIPPETS and 1 <= d <= MAX_DIM):
        raise Unprocessable(f"{what} has an implausible shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number):
        raise Unprocessable(f"{what} must hold numbers, not {array.dtype}")
    out = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(out).all():
        raise Unprocessable(f"{what} contains NaN or infinite values")
    return out


def read_feature_file(data: bytes, filename: str) -> FeatureFile:
    """Parse an uploaded ``.npy`` or official ``.npz`` (never unpickles anything)."""
    buf = io.BytesIO(data)
    try:
        if filename.lower().endswith(".npz") or data[:2] == b"PK":
            with np.load(buf, allow_pickle=False) as npz:
                keys = set(npz.files)
                if not {"feat_spa", "feat_tem"} <= keys:
                    raise Unprocessable(
                        "an .npz must hold 'feat_spa' and 'feat_tem' (the official layout); "
                        f"this one holds {sorted(keys)}"
                    )
                spa, tem = npz["feat_spa"], npz["feat_tem"]
                if spa.ndim != 2 or tem.ndim != 2 or spa.shape[1] != tem.shape[1]:
                    raise Unprocessable(
                        f"feat_spa {spa.shape} and feat_tem {tem.shape} must be (D/2, T) each"
                    )
                array = _check(np.concatenate([spa, tem], axis=0).T, "the features")
                meta: dict[str, Any] = {}
                for key in ("vid_name", "fps", "duration", "frame_num"):
                    if key in keys:
                        value = npz[key]
                        meta[key] = value.item() if value.ndim == 0 else value.tolist()
                return FeatureFile(array, meta)
        array = np.load(buf, allow_pickle=False)
    except Unprocessable:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise Unprocessable(f"not a readable .npy/.npz feature file: {exc}") from None
    if not isinstance(array, np.ndarray):
        raise Unprocessable("not a readable .npy feature file")
    return FeatureFile(_check(array, "the features"))


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` so that readers only ever see a complete file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path, ".tmp")  # names its writer: a dead writer's file gets swept
    try:
        with open(tmp, "xb") as fh:
            np.save(fh, array)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_extractor_name(name: str) -> str:
    if not _NAME.match(name):
        raise Unprocessable("the extractor name must be 1-64 letters, digits, '.', '_', '+' or '-'")
    return name


def attach_features(
    session: Session, storage: Storage, video: Video, array: np.ndarray, extractor: str
) -> Feature:
    """Store ``array`` (T, D) as the video's ``extractor`` features (replacing older ones)."""
    check_extractor_name(extractor)
    # A new key each time: the previous object stays valid until the commit.
    key = f"{FEATURES}/{video.id}/{extractor}-{uuid.uuid4().hex[:8]}.npy"
    try:
        storage.put_bytes(key, npy_bytes(array))
    except StorageError:
        raise
    except OSError as exc:  # full disk, read-only or unwritable media folder
        raise InsufficientStorage(f"could not store the features: {exc.strerror}") from exc
    on_rollback(session, lambda: _delete_quietly(storage, key))
    row = session.scalar(
        select(Feature).where(Feature.video_id == video.id, Feature.extractor == extractor)
    )
    if row is None:
        row = Feature(video_id=video.id, extractor=extractor, num_snippets=0, dim=0, path="")
        session.add(row)
    old = row.path or None
    row.num_snippets, row.dim, row.path = int(array.shape[0]), int(array.shape[1]), key
    if old is not None and old != key:
        on_commit(session, lambda: _delete_quietly(storage, old))
    if video.status != VideoStatus.processing:
        video.status = VideoStatus.ready
        video.status_message = None
    session.flush()
    return row


def _delete_quietly(storage: Storage, key: str) -> None:
    """Remove a superseded object after the commit; a failure only leaves an orphan."""
    try:
        storage.delete(key)
    except (StorageError, OSError) as exc:
        log.warning("could not remove the superseded object %s: %s", key, exc)
