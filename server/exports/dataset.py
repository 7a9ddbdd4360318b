"""Data-set export: the training set of the database as a zip in BackTAL's official npz layout.

``python -m model.cli train --data <unzipped folder>`` trains from it as it is. The zip holds

- ``<split>/<video name>.npz`` (``split`` defaults to ``val``, the official training split):
  ``feat_spa (D_spa, T)`` and ``feat_tem (D_tem, T)`` float32, ``cls_label (C,)`` float32
  multi-hot, ``point_label (T,)`` int64 (C at background-clicked snippets, -100 elsewhere),
  ``action_point_label (T,)`` int64 (the class index at action-clicked snippets, -100
  elsewhere), ``vid_name`` (a unicode string, no pickled objects), ``fps``, ``duration``
  (seconds) and ``frame_num``; plus ``gt_segments (K, 3)`` float64 ``[start_s, end_s,
  class]`` where ground truth was imported (read by ``model.data``, ignored by the official
  loader);
- ``classes.json``: the class names in index order (``cls_label`` order);
- ``<validation_split>/<video name>.npz`` (default ``test``, the official evaluation
  split: ``model.cli predict --split test`` and ``eval`` read it as it is): the validation
  videos (``videos.is_validation``) that have ground truth — never in ``<split>/``;
- ``gt.json``: ActivityNet layout (``database``: video → ``subset`` (its split),
  ``duration``, ``annotations`` ``[{segment, label, idx, source, ...}]``; ``activity_list``
  in index order), only when some exported video has ground truth: imported ground truth,
  else an annotator's segments (``server.training.dataset.ground_truth_of``). ``source``
  says where each annotation came from — ``imported``, ``drawn``, or ``prediction`` (a
  model version's predicted segment an annotator accepted: ``model_version_id``,
  ``score``); ``annotator`` who drew or accepted it. ActivityNet readers ignore them;
- ``manifest.json``: what was exported (extractor, how its D splits into the two streams,
  filters, counts).

Which videos, labels and clicks: exactly those a train job would use
(``server.training.dataset.build_dataset``: live videos with features of the extractor and
at least one video-level label or action click; labels merged by union, clicks pooled, one
per snippet by ``model.timebase.snippet_index``), optionally restricted to one annotator's
labels and clicks and to some classes.

The two feature streams: the default extractor ``effnet-lite0+dis-flow`` has two —
appearance (EfficientNet-Lite0, the first 1280 values: ``feat_spa``) and motion (DIS
flow, the last 92: ``feat_tem``), like I3D's RGB and flow. Features imported from official
npz files (``i3d-npz``) were stored as ``[feat_spa, feat_tem]`` and are cut back in halves.
Any other extractor (``tiny-stats``, ``imported`` ``.npy``) has a single stream; it is cut
at D // 2 like ``model.data.write_npz_video`` does, so that both keys have rows. Every
reader concatenates ``[feat_spa, feat_tem]``, which gives back the stored ``(T, D)``.
"""

from __future__ import annotations

import errno
import io
import json
import re
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from model.data import IGNORE, VideoItem, point_labels
from server.errors import InsufficientStorage, NotFound, Unprocessable
from server.models import ActionClass, Feature, User
from server.storage import Storage
from server.storage.files import load_npy
from server.training.dataset import Dataset, GtSegment, build_dataset, choose_extractor

SPLIT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
TWO_STREAM = "two streams"
HALVES = "halves"
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES}


def stream_split(extractor: str, dim: int) -> tuple[int, str]:
    """Where ``(T, D)`` features of ``extractor`` are cut into ``feat_spa`` | ``feat_tem``,
    and why (``TWO_STREAM``: the extractor's own streams; ``HALVES``: no streams known)."""
    if extractor == "effnet-lite0+dis-flow":
        from model.features.effnet_flow import APPEARANCE_DIM, MOTION_DIM

        if dim == APPEARANCE_DIM + MOTION_DIM:
            return APPEARANCE_DIM, TWO_STREAM
    if extractor == "i3d-npz" and dim % 2 == 0:
        return dim // 2, TWO_STREAM
    return dim // 2, HALVES


def parse_class_ids(values: list[str] | None) -> list[int] | None:
    """``class_ids=1,2`` and ``class_ids=1&class_ids=2`` alike; None when not given."""
    if not values:
        return None
    out: list[int] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                number = int(part)
            except ValueError:
                raise Unprocessable(
                    f"class_ids must be class ids separated by commas; {part!r} is not a number"
                ) from None
            if not 1 <= number <= 2**62:
                raise NotFound(f"there is no class with id {number}")
            out.append(number)
    if not out:
        raise Unprocessable("class_ids is empty: leave it out to export every class")
    return sorted(set(out))


def _check_filters(
    session: Session,
    annotator_id: int | None,
    class_ids: list[int] | None,
    split: str,
    validation_split: str = "test",
) -> None:
    if not SPLIT_NAME.match(split):
        raise Unprocessable("split must be 1-32 letters, digits, '_' or '-' (e.g. val, test)")
    if not SPLIT_NAME.match(validation_split):
        raise Unprocessable("validation_split must be 1-32 letters, digits, '_' or '-' (e.g. test)")
    if validation_split == split:
        raise Unprocessable(
            f"validation_split must differ from split ({split!r}): validation videos never "
            "join the training split"
        )
    if annotator_id is not None and (
        not 1 <= annotator_id <= 2**62 or session.get(User, annotator_id) is None
    ):
        raise NotFound(f"there is no user with id {annotator_id} (annotator_id)")
    if class_ids is not None:
        known = set(session.scalars(select(ActionClass.id).where(ActionClass.id.in_(class_ids))))
        missing = [c for c in class_ids if c not in known]
        if missing:
            raise NotFound(
                "there is no class with id " + ", ".join(str(c) for c in missing) + " (class_ids)"
            )


def npz_arrays(item: VideoItem, features: np.ndarray, cut: int) -> dict[str, np.ndarray]:
    """One video's arrays in the official layout. ``features`` (T, D); ``cut`` splits D."""
    num_classes = int(item.labels.shape[0])
    feats = np.ascontiguousarray(features.T, dtype=np.float32)  # (D, T)
    arrays: dict[str, np.ndarray] = {
        "feat_spa": np.ascontiguousarray(feats[:cut]),  # (D_spa, T)
        "feat_tem": np.ascontiguousarray(feats[cut:]),  # (D_tem, T)
        "cls_label": item.labels.astype(np.float32),  # (C,)
        # (T,): C at background clicks, -100 elsewhere (the official training labels)
        "point_label": point_labels(item, num_classes, use_action=False, use_bg=True),
        # (T,): class index at action clicks, -100 elsewhere
        "action_point_label": point_labels(item, num_classes, use_action=True, use_bg=False),
        "vid_name": np.array(item.name),  # unicode '<U…', loads without pickle
        "fps": np.array(float(item.fps), dtype=np.float64),
        "duration": np.array(float(item.duration), dtype=np.float64),
        "frame_num": np.array(int(item.frame_num), dtype=np.int64),
    }
    if item.gt_segments:
        arrays["gt_segments"] = np.array(item.gt_segments, dtype=np.float64).reshape(-1, 3)
    return arrays


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def _annotation(data: Dataset, g: GtSegment, names: dict[int, str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "segment": [g.start_s, g.end_s],
        "label": data.class_names[g.class_index],
        "idx": g.class_index,
        "source": g.origin,
    }
    if g.annotator_id is not None:
        out["annotator"] = names.get(g.annotator_id, str(g.annotator_id))
    if g.origin == "prediction":
        out["model_version_id"] = g.model_version_id
        out["score"] = g.prediction_score
    return out


def gt_json(
    data: Dataset,
    split: str,
    validation_split: str = "test",
    annotator_names: dict[int, str] | None = None,
) -> dict[str, Any] | None:
    """ActivityNet ground truth of the exported videos that have ground truth (training
    videos in ``split``, validation videos in ``validation_split``)."""
    names = annotator_names or {}
    database: dict[str, Any] = {}
    for items, subset in ((data.items, split), (data.validation, validation_split)):
        for item in items:
            segments = data.ground_truth.get(item.name)
            if not segments:
                continue
            database[item.name] = {
                "subset": subset,
                "duration": item.duration,
                "annotations": [
                    _annotation(data, g, names)
                    for g in sorted(segments, key=lambda g: (g.start_s, g.end_s, g.class_index))
                ],
            }
    if not database:
        return None
    return {
        "version": "BackTAL Studio export",
        "activity_list": data.class_names,
        "database": database,
    }


def _file_name(item: VideoItem, video_id: int) -> str:
    return item.name if _SAFE_NAME.match(item.name) else f"video-{video_id}"


def write_dataset_zip(
    session: Session,
    storage: Storage,
    out: IO[bytes],
    *,
    annotator_id: int | None = None,
    class_ids: list[int] | None = None,
    extractor: str | None = None,
    split: str = "val",
    validation_split: str = "test",
) -> dict[str, Any]:
    """Write the zip to ``out``; returns the manifest. 404 for an unknown annotator or
    class, 422 when no video qualifies. One video's features are in memory at a time."""
    _check_filters(session, annotator_id, class_ids, split, validation_split)
    name = choose_extractor(session, extractor)
    data = build_dataset(
        session,
        None,
        extractor=name,
        load_features=False,
        annotator_id=annotator_id,
        class_ids=class_ids,
    )
    if not data.items:
        who = f" by annotator {annotator_id}" if annotator_id is not None else ""
        raise Unprocessable(
            "nothing to export: no live video has features"
            + (f" of extractor {name!r}" if name else "")
            + f" and a video-level label or action click{who}"
            + (" of the chosen classes" if class_ids is not None else "")
        )
    paths: dict[int, str] = {
        video_id: path
        for video_id, path in session.execute(
            select(Feature.video_id, Feature.path).where(
                Feature.extractor == name, Feature.video_id.in_(list(data.video_ids.values()))
            )
        )
    }
    videos: list[dict[str, Any]] = []
    cut_info: dict[str, Any] = {}
    exported = [(it, split, False) for it in data.items]
    exported += [(it, validation_split, True) for it in data.validation]
    with zipfile.ZipFile(out, "w", allowZip64=True) as zf:
        for item, folder, is_validation in exported:
            video_id = data.video_ids[item.name]
            features = load_npy(storage, paths[video_id])  # (T, D)
            cut, why = stream_split(name or "", int(features.shape[1]))
            cut_info = {"feat_spa": cut, "feat_tem": int(features.shape[1]) - cut, "split": why}
            arcname = f"{folder}/{_file_name(item, video_id)}.npz"
            # npz is a zip of .npy files already: stored, not compressed again
            zf.writestr(arcname, npz_bytes(npz_arrays(item, features, cut)))
            videos.append(
                {
                    "file": arcname,
                    "video_id": video_id,
                    "vid_name": item.name,
                    "T": item.num_snippets,
                    "background_clicks": len(item.bg_clicks),
                    "action_clicks": len(item.action_clicks),
                    "has_ground_truth": bool(item.gt_segments),
                    "split": folder,
                    "validation": is_validation,
                }
            )
        deflate = zipfile.ZIP_DEFLATED
        zf.writestr("classes.json", json.dumps(data.class_names, indent=1), deflate)
        drew = {g.annotator_id for gs in data.ground_truth.values() for g in gs} - {None}
        annotator_names = dict(
            session.execute(select(User.id, User.name).where(User.id.in_(drew))).tuples().all()
        )
        gt = gt_json(data, split, validation_split, annotator_names)
        if gt is not None:
            zf.writestr("gt.json", json.dumps(gt, indent=1), deflate)
        manifest = {
            "format": "official-npz",
            "split": split,
            "validation_split": validation_split,
            "extractor": name,
            "streams": cut_info,
            "annotator_id": annotator_id,
            "class_ids": data.class_ids,
            "classes": data.class_names,
            "background_label": len(data.class_names),
            "ignore_label": IGNORE,
            "ground_truth": gt is not None,
            "summary": data.summary,
            "videos": videos,
        }
        zf.writestr("manifest.json", json.dumps(manifest, indent=1), deflate)
    return manifest


def export_to_tempfile(
    session: Session, storage: Storage, tmp_dir: Path, **filters: Any
) -> IO[bytes]:
    """The zip in an anonymous temporary file in ``tmp_dir`` (gone when closed, or when the
    process dies), rewound; the caller streams and closes it."""
    folder = tmp_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fh = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 (closed by the streamer)
    except OSError as exc:
        raise InsufficientStorage(f"could not write the export: {exc.strerror}") from exc
    try:
        write_dataset_zip(session, storage, fh, **filters)
        fh.seek(0)
    except OSError as exc:
        fh.close()
        if exc.errno in _DISK_ERRORS:  # full or read-only disk while writing the zip
            raise InsufficientStorage(f"could not write the export: {exc.strerror}") from exc
        raise
    except BaseException:
        fh.close()
        raise
    return fh
