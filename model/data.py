"""Per-video features, labels and clicks; readers for the official npz layout and .npy + JSON.

A video is a :class:`VideoItem` holding features ``(T, D)``. Videos keep their own length T
(variable-length batches are padded and masked by :func:`collate`); the official THUMOS14 npz
files are already resampled to T = 750.

Click labels (official convention): a snippet clicked as background gets the value C (number
of classes) in ``point_label``, every other snippet -100. Action clicks (SF-Net style) carry
their class id.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from model.timebase import snippet_index

IGNORE = -100  # "no click here" in point labels


def _empty_bg() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _empty_action() -> np.ndarray:
    return np.zeros((0, 2), dtype=np.int64)


@dataclass
class VideoItem:
    """One video: snippet features, video-level labels, clicks and (optionally) GT segments."""

    name: str
    features: np.ndarray  # (T, D) float32
    labels: np.ndarray  # (C,) multi-hot float32
    fps: float
    duration: float  # seconds
    frame_num: int
    bg_clicks: np.ndarray = field(default_factory=_empty_bg)  # (Kb,) snippet indices int64
    action_clicks: np.ndarray = field(default_factory=_empty_action)  # (Ka, 2) [snippet, class]
    gt_segments: list[tuple[float, float, int]] | None = None  # (start_s, end_s, class)

    @property
    def num_snippets(self) -> int:
        return int(self.features.shape[0])


def resample_features(features: np.ndarray, num_snippets: int) -> np.ndarray:
    """Linearly resample ``(T, D)`` features to ``(num_snippets, D)`` (fixed-length mode)."""
    length = features.shape[0]
    if length == num_snippets:
        return features.astype(np.float32, copy=False)
    # sample positions at snippet centres of the new grid, in old-snippet coordinates
    pos = (np.arange(num_snippets) + 0.5) * (length / num_snippets) - 0.5
    pos = np.clip(pos, 0.0, length - 1.0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, length - 1)
    w = (pos - lo)[:, None]
    return ((1.0 - w) * features[lo] + w * features[hi]).astype(np.float32)


# ----------------------------------------------------------------------------- clicks


def point_labels(item: VideoItem, num_classes: int, use_action: bool, use_bg: bool) -> np.ndarray:
    """(T,) int64: class id at action clicks, C at background clicks, -100 elsewhere.

    A snippet clicked both ways is labelled background (the later, more specific signal).
    """
    out = np.full(item.num_snippets, IGNORE, dtype=np.int64)
    if use_action and len(item.action_clicks):
        out[item.action_clicks[:, 0]] = item.action_clicks[:, 1]
    if use_bg and len(item.bg_clicks):
        out[item.bg_clicks] = num_classes
    return out


Click = tuple[str, float, str, int | None]  # (video_name, t_s, kind, class_id)


def encode_clicks(clicks: Iterable[Click], items: Sequence[VideoItem]) -> list[VideoItem]:
    """Replace the clicks of ``items`` by ``clicks`` mapped to snippet indices.

    kind is "background" (or "bg") or "action" (needs a class id). Clicks of videos not in
    ``items`` are ignored; duplicate snippets collapse.
    """
    by_name: dict[str, tuple[set[int], set[tuple[int, int]]]] = {
        it.name: (set(), set()) for it in items
    }
    lookup = {it.name: it for it in items}
    for name, t_s, kind, class_id in clicks:
        if name not in lookup:
            continue
        item = lookup[name]
        idx = snippet_index(float(t_s), item.duration, item.num_snippets)
        bg, act = by_name[name]
        if kind in ("background", "bg"):
            bg.add(idx)
        elif kind == "action":
            if class_id is None:
                raise ValueError(f"action click in {name} at {t_s}s has no class")
            act.add((idx, int(class_id)))
        else:
            raise ValueError(f"unknown click kind {kind!r}")
    out = []
    for item in items:
        bg, act = by_name[item.name]
        bg_arr = np.array(sorted(bg), dtype=np.int64)
        act_arr = np.array(sorted(act), dtype=np.int64).reshape(-1, 2)
        out.append(replace(item, bg_clicks=bg_arr, action_clicks=act_arr))
    return out


class CoinRow(NamedTuple):
    video_name: str
    start_s: float
    end_s: float
    tag_id: int
    tag: str


def read_coin_csv(path: str | os.PathLike[str]) -> list[CoinRow]:
    """Rows of a COIN annotation-tool CSV (``URLID,URL,TagID,Tag,Start,End,Time,State``).

    The file may start with a UTF-8 BOM. Only tagged rows (State 1, when the column exists)
    are returned.
    """
    rows = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for rec in csv.DictReader(fh):
            if rec.get("State", "1").strip() not in ("1", ""):
                continue
            rows.append(
                CoinRow(
                    video_name=rec["URLID"].strip(),
                    start_s=float(rec["Start"]),
                    end_s=float(rec["End"]),
                    tag_id=int(rec["TagID"]),
                    tag=rec["Tag"].strip(),
                )
            )
    return rows


BACKGROUND_TAG = "background_background"


def coin_rows_to_clicks(
    rows: Iterable[CoinRow], class_names: Sequence[str], background_tag_id: int = 20
) -> list[Click]:
    """Turn COIN rows into clicks. A click is Start == End; a short range is taken at its
    midpoint (the released THUMOS14 click files hold a few). Background: TagID 20 or tag
    ``background_background``; any other tag is an action click of the class with that name."""
    index = {name: i for i, name in enumerate(class_names)}
    clicks: list[Click] = []
    for row in rows:
        t_s = 0.5 * (row.start_s + row.end_s)
        if row.tag_id == background_tag_id or row.tag == BACKGROUND_TAG:
            clicks.append((row.video_name, t_s, "background", None))
        elif row.tag in index:
            clicks.append((row.video_name, t_s, "action", index[row.tag]))
        else:
            raise ValueError(f"COIN tag {row.tag!r} is not a known class")
    return clicks


# ----------------------------------------------------------------------------- npz layout


def _scalar_str(value: np.ndarray) -> str:
    value = np.asarray(value)
    if value.ndim > 0:
        value = value.reshape(-1)[0]
    item = value.item() if hasattr(value, "item") else value
    return item.decode() if isinstance(item, bytes) else str(item)


def read_npz_video(path: str | os.PathLike[str]) -> VideoItem:
    """One video in the official npz layout (plus the optional keys our simulator writes).

    ``point_label`` == C marks background clicks; values in [0, C) there, and any
    ``action_point_label`` >= 0, are read as action clicks. A missing ``point_label`` (the
    official test split) means no clicks.
    """
    with np.load(path, allow_pickle=False) as data:
        feats = np.concatenate([data["feat_spa"], data["feat_tem"]], axis=0)  # (D, T)
        labels = np.asarray(data["cls_label"], dtype=np.float32).reshape(-1)
        num_classes = labels.shape[0]
        length = feats.shape[1]
        points = (
            np.asarray(data["point_label"], dtype=np.int64)
            if "point_label" in data
            else np.full(length, IGNORE, dtype=np.int64)
        )
        bg = np.flatnonzero(points == num_classes).astype(np.int64)
        action_points = np.where((points >= 0) & (points < num_classes), points, IGNORE)
        if "action_point_label" in data:
            extra = np.asarray(data["action_point_label"], dtype=np.int64)
            action_points = np.where(extra >= 0, extra, action_points)
        act_idx = np.flatnonzero(action_points >= 0)
        action = np.stack([act_idx, action_points[act_idx]], axis=1).astype(np.int64)
        gt = None
        if "gt_segments" in data:
            segs = np.asarray(data["gt_segments"], dtype=np.float64).reshape(-1, 3)
            gt = [(float(s), float(e), int(c)) for s, e, c in segs]
        fps = float(data["fps"]) if "fps" in data else 25.0
        duration = float(data["duration"])
        frame_num = int(data["frame_num"]) if "frame_num" in data else round(duration * fps)
        name = _scalar_str(data["vid_name"]) if "vid_name" in data else Path(path).stem
    return VideoItem(
        name=name,
        features=np.ascontiguousarray(feats.T, dtype=np.float32),
        labels=labels,
        fps=fps,
        duration=duration,
        frame_num=frame_num,
        bg_clicks=bg,
        action_clicks=action.reshape(-1, 2),
        gt_segments=gt,
    )


def load_npz_split(root: str | os.PathLike[str], split: str) -> list[VideoItem]:
    """All ``ROOT/SPLIT/*.npz`` videos, sorted by file name (as the official loader does)."""
    folder = Path(root) / split
    if not folder.is_dir():
        raise FileNotFoundError(f"no split folder {folder}")
    return [read_npz_video(p) for p in sorted(folder.glob("*.npz"))]


def write_npz_video(path: str | os.PathLike[str], item: VideoItem) -> None:
    """Write ``item`` in the official npz layout (features split in two halves of D)."""
    feats = item.features.T  # (D, T)
    half = feats.shape[0] // 2
    num_classes = item.labels.shape[0]
    arrays: dict[str, np.ndarray] = {
        "feat_spa": np.ascontiguousarray(feats[:half], dtype=np.float32),
        "feat_tem": np.ascontiguousarray(feats[half:], dtype=np.float32),
        "cls_label": item.labels.astype(np.float32),
        "point_label": point_labels(item, num_classes, use_action=False, use_bg=True),
        "frame_num": np.array(item.frame_num),
        "fps": np.array(item.fps),
        "duration": np.array(item.duration),
        "vid_name": np.array(item.name),
    }
    if len(item.action_clicks):
        arrays["action_point_label"] = point_labels(item, num_classes, True, False)
    if item.gt_segments is not None:
        arrays["gt_segments"] = np.array(item.gt_segments, dtype=np.float64).reshape(-1, 3)
    np.savez(path, **arrays)  # type: ignore[arg-type]


def load_class_names(root: str | os.PathLike[str], split: str, num_classes: int) -> list[str]:
    """``classes.json`` in the split folder or the root; class_0..class_{C-1} otherwise."""
    for candidate in (Path(root) / split / "classes.json", Path(root) / "classes.json"):
        if candidate.is_file():
            names = json.loads(candidate.read_text())
            if len(names) != num_classes:
                raise ValueError(f"{candidate} lists {len(names)} classes, data has {num_classes}")
            return [str(n) for n in names]
    return [f"class_{i}" for i in range(num_classes)]


# ----------------------------------------------------------------------------- .npy + JSON


def load_npy_index(
    json_path: str | os.PathLike[str], subset: str | None = None, resample_to: int | None = None
) -> list[VideoItem]:
    """Videos listed in a JSON index of plain ``.npy`` feature files.

    Index format::

        {"classes": ["name", ...],
         "videos": [{"name": "v1", "features": "feats/v1.npy",   # (T, D), relative to the JSON
                     "subset": "val", "labels": [0, 3], "fps": 30.0, "duration": 12.5,
                     "frame_num": 375,
                     "clicks": [{"t_s": 1.5, "kind": "background"},
                                {"t_s": 4.0, "kind": "action", "class_id": 3}],
                     "segments": [[3.2, 6.0, 3]]}]}

    ``labels`` defaults to the classes of the segments and action clicks. ``resample_to``
    resamples every video to a fixed T (the official THUMOS14 recipe uses 750).
    """
    json_path = Path(json_path)
    index = json.loads(json_path.read_text())
    num_classes = len(index["classes"])
    items: list[VideoItem] = []
    clicks: list[Click] = []
    for rec in index["videos"]:
        if subset is not None and rec.get("subset") != subset:
            continue
        feats = np.load(json_path.parent / rec["features"]).astype(np.float32)
        if resample_to is not None:
            feats = resample_features(feats, resample_to)
        segments = [(float(s), float(e), int(c)) for s, e, c in rec.get("segments", [])]
        label_ids = set(rec.get("labels", []))
        if "labels" not in rec:
            label_ids |= {c for _, _, c in segments}
            label_ids |= {
                int(c["class_id"]) for c in rec.get("clicks", []) if c["kind"] == "action"
            }
        labels = np.zeros(num_classes, dtype=np.float32)
        labels[sorted(label_ids)] = 1.0
        fps = float(rec.get("fps", 25.0))
        duration = float(rec["duration"])
        items.append(
            VideoItem(
                name=str(rec["name"]),
                features=feats,
                labels=labels,
                fps=fps,
                duration=duration,
                frame_num=int(rec.get("frame_num", round(duration * fps))),
                gt_segments=segments if "segments" in rec else None,
            )
        )
        clicks += [
            (str(rec["name"]), float(c["t_s"]), str(c["kind"]), c.get("class_id"))
            for c in rec.get("clicks", [])
        ]
    return encode_clicks(clicks, items)


def read_index_classes(json_path: str | os.PathLike[str]) -> list[str]:
    return [str(n) for n in json.loads(Path(json_path).read_text())["classes"]]


def load_dataset(path: str | os.PathLike[str], split: str) -> tuple[list[VideoItem], list[str]]:
    """A split and its class names, from an npz root folder or an ``.json`` npy index."""
    path = Path(path)
    if path.suffix == ".json":
        return load_npy_index(path, subset=split), read_index_classes(path)
    items = load_npz_split(path, split)
    if not items:
        raise FileNotFoundError(f"no .npz videos in {path / split}")
    return items, load_class_names(path, split, items[0].labels.shape[0])


# ----------------------------------------------------------------------------- batches


@dataclass
class Batch:
    """Padded tensors of a list of videos."""

    features: torch.Tensor  # (B, D, T) float32, zero past each video's end
    mask: torch.Tensor  # (B, T) bool, True on real snippets
    labels: torch.Tensor  # (B, C) float32 multi-hot
    points: torch.Tensor  # (B, T) int64: class / C (background) at clicks, -100 elsewhere
    names: list[str]

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            features=self.features.to(device),
            mask=self.mask.to(device),
            labels=self.labels.to(device),
            points=self.points.to(device),
            names=self.names,
        )


def collate(items: Sequence[VideoItem], supervision: str) -> Batch:
    """Pad videos to the longest T and keep the click labels ``supervision`` allows."""
    use_action = supervision in ("action-click", "both")
    use_bg = supervision in ("bg-click", "both")
    num_classes = items[0].labels.shape[0]
    dim = items[0].features.shape[1]
    length = max(it.num_snippets for it in items)
    feats = np.zeros((len(items), dim, length), dtype=np.float32)
    mask = np.zeros((len(items), length), dtype=bool)
    points = np.full((len(items), length), IGNORE, dtype=np.int64)
    for b, it in enumerate(items):
        t = it.num_snippets
        feats[b, :, :t] = it.features.T
        mask[b, :t] = True
        points[b, :t] = point_labels(it, num_classes, use_action, use_bg)
    labels = np.stack([it.labels for it in items]).astype(np.float32)
    return Batch(
        features=torch.from_numpy(feats),
        mask=torch.from_numpy(mask),
        labels=torch.from_numpy(labels),
        points=torch.from_numpy(points),
        names=[it.name for it in items],
    )
