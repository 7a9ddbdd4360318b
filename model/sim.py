"""THUMOS14-sim: synthetic I3D-like features on the real THUMOS14 ground truth and clicks.

What is real: video durations, fps, action instances and their classes (the GT JSON), and the
human background clicks (any COIN-layout click CSV). What is synthetic: the features. The
generative story, per video (all vectors live in the pre-activation space, in units of the
per-dimension noise standard deviation, and are squashed by a softplus at the end so the
output is non-negative like average-pooled ReLU features):

  appearance(t) = scene + shot(t) + venue
                  + sum_c  w_app_c(t) * look_app_c            (action, and context at a fraction)
                  + distractors(t) + noise(t)
  motion(t)     = motion_scene
                  + sum_c  w_mot_c(t) * look_mot_c            (action, context at a small fraction)
                  + distractors(t) + camera_bursts(t) + noise(t)

``look_c`` is a class prototype (shared across videos, partly shared inside a family of
classes filmed at the same kind of venue) plus a per-video jitter. ``w_c(t)`` is 1 inside an
instance (ramping at its edges), a fraction of it in the *context* before/after it (the run-up,
the diver standing on the board: much of the look, little of the motion) and 0 elsewhere.
Every parameter is a documented field of :class:`SimParams`; docs/sim.md explains the choices.

Output (one npz per video, see ``make_sim``): ``OUT/{val,test}/<vid>.npz`` with keys
feat_spa, feat_tem, cls_label, point_label, action_point_label, gt_segments, frame_num, fps,
duration, vid_name; plus ``OUT/classes.json``, ``OUT/gt.json`` and ``OUT/sim_config.json``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import time
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from model.timebase import snippet_index

IGNORE = -100
"""Label value of snippets without a click (PyTorch's default ``ignore_index``)."""

SPLITS = ("val", "test")
"""Official THUMOS14 split names: 'val' is trained on, 'test' is evaluated on."""

_SUBSET_TO_SPLIT = {
    "val": "val",
    "validation": "val",
    "train": "val",
    "training": "val",
    "test": "test",
    "testing": "test",
}

CSV_COLUMNS = ("URLID", "URL", "TagID", "Tag", "Start", "End", "Time", "State")
"""Header of a COIN-tool click CSV (BackTAL's human_anns), read by name, in any order."""

BACKGROUND_TAG_ID = "20"
BACKGROUND_TAG = "background_background"

# Classes filmed at the same kind of venue share part of their look (pool, cricket pitch,
# throwing circle, runway, court). Names not listed here form families of one.
CLASS_FAMILIES: dict[str, str] = {
    "CliffDiving": "water",
    "Diving": "water",
    "CricketBowling": "cricket",
    "CricketShot": "cricket",
    "HammerThrow": "throwing_circle",
    "ThrowDiscus": "throwing_circle",
    "Shotput": "throwing_circle",
    "HighJump": "runway",
    "LongJump": "runway",
    "PoleVault": "runway",
    "JavelinThrow": "runway",
    "BasketballDunk": "court",
    "VolleyballSpiking": "court",
}


@dataclass(frozen=True)
class SimParams:
    """Every knob of the simulator. Fixed from first principles (docs/sim.md), not tuned.

    Magnitudes are in units of the per-dimension noise std. Class and camera displacements are
    given as vector *norms* (a separation d' along their direction), so the difficulty does not
    change with ``feature_dim``; scene terms are per-dimension stds.
    """

    # --- shape -------------------------------------------------------------------------
    feature_dim: int = 256
    """Total D = appearance (feat_spa) + motion (feat_tem), D/2 each. 2x128 keeps the
    400-video, 5-mode, 3-seed CPU benchmark inside its budget; use 2048 to mimic I3D."""
    T: int = 750
    """Snippets per video after resampling, as the official THUMOS14 features (T=750)."""
    native_snippet_s: float = 0.64
    """Length of one real I3D snippet (16 frames at 25 fps): the grid the noise lives on
    before it is resampled to T, so short videos get smooth, long ones rough noise."""
    subsamples: int = 4
    """Time points per output snippet used to integrate the signal profiles (coverage)."""

    # --- noise ---------------------------------------------------------------------------
    noise_std: float = 1.0
    """Per-dimension std of per-snippet noise (the unit of every other magnitude)."""
    noise_ar: float = 0.5
    """Correlation of the noise between consecutive native snippets (overlapping content)."""

    # --- scene (per video, the largest source of variance, as in real I3D features) ------
    app_scene_std: float = 1.0
    """Per-dimension std of the per-video appearance scene vector."""
    app_shot_std: float = 0.5
    """Per-dimension std of the per-shot appearance change (broadcast camera cuts)."""
    shot_mean_s: float = 10.0
    """Mean shot length in seconds (exponential)."""
    mot_scene_std: float = 0.5
    """Per-dimension std of the per-video motion baseline (static scenes move little)."""

    # --- classes -----------------------------------------------------------------------
    app_class_norm: float = 4.5
    """Norm of a class's appearance displacement (d' of one snippet along it). Was 3.0 in
    the first version: there even a fully supervised snippet classifier found only 31 % of
    the action snippets of unseen videos (docs/benchmarks.md, "Sim v2")."""
    mot_class_norm: float = 4.5
    """Norm of a class's motion displacement (3.0 in the first version, as above)."""
    app_family_share: float = 0.5
    """Share of a class's appearance variance common to its venue family."""
    mot_family_share: float = 0.2
    """Share of a class's motion variance common to its family (same venue, other moves)."""
    mot_energy_share: float = 0.3
    """Share of a motion displacement's squared norm along the all-ones direction: actions
    raise the motion energy of every channel (larger feature magnitude)."""
    video_look_jitter: float = 0.4
    """Per-video deviation of a class's look (performer, venue, broadcast), relative norm."""
    venue_frac: float = 0.2
    """Fraction of the class appearance present throughout a video showing that class."""

    # --- action instances --------------------------------------------------------------
    edge_ramp_s: float = 0.5
    """Seconds over which intensity ramps up/down at each instance edge (at most half of it)."""
    edge_floor: float = 0.3
    """Intensity at the exact instance boundary (annotated boundaries are already action)."""
    min_peak: float = 1.0
    """Every instance inside the video reaches at least this intensity at the snippet of its
    midpoint, even when it is shorter than a snippet (instances never vanish)."""

    # --- context (look-alike snippets before/after each instance) ----------------------
    ctx_pre_median_s: float = 3.0
    """Median length of the context before an instance (run-up, diver on the board)."""
    ctx_post_median_s: float = 2.0
    """Median length of the context after an instance (landing, walking back)."""
    ctx_len_sigma: float = 0.5
    """Log-normal sigma of context lengths."""
    ctx_min_s: float = 0.5
    """Shortest context in seconds."""
    ctx_max_s: float = 10.0
    """Longest context in seconds."""
    ctx_app_frac: float = 0.6
    """Fraction of the class appearance in context, next to the instance (fades to 0)."""
    ctx_mot_frac: float = 0.15
    """Fraction of the class motion in context."""

    # --- background-only distractors (a class look without the action) -----------------
    distractor_rate_per_min: float = 0.5
    """Expected distractors per minute of video, class drawn uniformly from all classes."""
    distractor_median_s: float = 3.0
    """Median distractor length (log-normal with ctx_len_sigma)."""
    distractor_app_frac: float = 0.6
    """Fraction of the class appearance in a distractor."""
    distractor_mot_frac: float = 0.1
    """Fraction of the class motion in a distractor."""

    # --- look-alike background (version 3): the video's own class, without the action ----
    lookalike_rate_per_min: float = 2.0
    """Expected look-alike segments per minute of a video that shows at least one class:
    background that looks like one of the video's own actions (replays, warm-ups, the
    performer waiting at the venue), placed away from its instances. 0 = sim v2; 2 = sim v3
    (calibrated on `weak` and the upper bound only, docs/sim.md "Version 3")."""
    lookalike_median_s: float = 4.0
    """Median look-alike length (log-normal with ctx_len_sigma, within ctx_min_s..ctx_max_s)."""
    lookalike_app_frac: float = 0.8
    """Fraction of the video's own look of the class in a look-alike."""
    lookalike_mot_frac: float = 0.1
    """Fraction of the class motion in a look-alike: the look without the movement (0.4 in
    the first calibration round hurt the fully supervised upper bound, docs/sim.md)."""

    # --- camera-motion bursts (pans, zooms: generic motion anywhere) --------------------
    camera_rate_per_min: float = 1.5
    """Expected camera bursts per minute of video."""
    camera_median_s: float = 2.0
    """Median burst length (log-normal with ctx_len_sigma)."""
    camera_norm: float = 4.5
    """Norm of a burst's motion displacement (as strong as an action's motion: it follows
    ``mot_class_norm``, 3.0 in the first version)."""
    camera_shared_share: float = 0.5
    """Share of a burst's direction common to all bursts (camera motion looks alike)."""
    camera_energy_share: float = 0.5
    """Share of the common camera direction along the all-ones (energy) direction."""

    # --- output ------------------------------------------------------------------------
    out_offset: float = -1.0
    """Added before the softplus (most channels weakly active, like pooled ReLU maps)."""
    out_scale: float = 0.8
    """Multiplies the softplus output so features average about 0.3-0.4, like I3D's."""

    def __post_init__(self) -> None:
        if self.feature_dim < 2 or self.feature_dim % 2:
            raise ValueError(f"feature_dim must be even and >= 2, got {self.feature_dim}")
        if self.T < 1:
            raise ValueError(f"T must be >= 1, got {self.T}")
        if not 0.0 <= self.noise_ar < 1.0:
            raise ValueError("noise_ar must be in [0, 1)")
        if self.subsamples < 1:
            raise ValueError("subsamples must be >= 1")


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Instance:
    start: float
    end: float
    cls: int


@dataclass(frozen=True)
class VideoGT:
    name: str
    split: str  # 'val' or 'test'
    fps: float
    duration: float
    instances: tuple[Instance, ...]


@dataclass(frozen=True)
class GroundTruth:
    classes: list[str]
    videos: dict[str, VideoGT]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ClickRow:
    """One row of a COIN click CSV: a click (start == end) or an interval, in seconds."""

    vid: str
    start: float
    end: float
    tag_id: str
    tag: str
    state: str


def split_of(subset: str) -> str:
    """Map a GT subset name ('validation', 'val', 'test', ...) to 'val' or 'test'."""
    try:
        return _SUBSET_TO_SPLIT[subset.strip().lower()]
    except KeyError:
        raise ValueError(
            f"unknown subset {subset!r}; expected one of {sorted(_SUBSET_TO_SPLIT)}"
        ) from None


def load_gt(path: str | os.PathLike[str]) -> GroundTruth:
    """Read an ActivityNet-style GT JSON (THUMOS14 layout) with an ``activity_list``."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    db = raw.get("database")
    classes = raw.get("activity_list")
    if not isinstance(db, dict) or not isinstance(classes, list) or not classes:
        raise ValueError(f"{path}: expected keys 'database' (object) and 'activity_list'")
    index = {name: i for i, name in enumerate(classes)}
    videos: dict[str, VideoGT] = {}
    for name, entry in db.items():
        insts = []
        for ann in entry.get("annotations", []):
            label = ann["label"]
            if label not in index:
                raise ValueError(f"{path}: video {name} has label {label!r} not in activity_list")
            s, e = (float(x) for x in ann["segment"])
            insts.append(Instance(s, e, index[label]))
        insts.sort(key=lambda i: (i.start, i.end, i.cls))
        duration = float(entry["duration"])
        if duration <= 0:
            raise ValueError(f"{path}: video {name} has duration {duration}")
        videos[name] = VideoGT(
            name, split_of(str(entry["subset"])), float(entry["fps"]), duration, tuple(insts)
        )
    return GroundTruth(list(classes), videos, raw)


def read_click_csv(path: str | os.PathLike[str]) -> list[ClickRow]:
    """Read a COIN-layout click CSV (UTF-8, BOM optional, columns by header name)."""
    rows: list[ClickRow] = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in ("URLID", "Start", "End") if c not in header]
        if missing:
            raise ValueError(
                f"{path}: not a COIN click CSV, missing columns {missing} "
                f"(header {header}, expected {list(CSV_COLUMNS)})"
            )
        for lineno, rec in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in rec.items()}
            if not any(row.values()):
                continue
            try:
                start, end = float(row["Start"]), float(row["End"])
            except ValueError:
                raise ValueError(
                    f"{path}:{lineno}: bad Start/End {row['Start']!r}, {row['End']!r}"
                ) from None
            if end < start:
                raise ValueError(f"{path}:{lineno}: End {end} < Start {start}")
            vid = row["URLID"] or Path(row.get("URL", "")).stem
            rows.append(
                ClickRow(
                    vid, start, end, row.get("TagID", ""), row.get("Tag", ""), row.get("State", "")
                )
            )
    return rows


def is_background(row: ClickRow) -> bool:
    """A row is a background click if its tag says so (TagID 20 / background_background)."""
    if row.tag:
        return "background" in row.tag.lower()
    return row.tag_id == BACKGROUND_TAG_ID


# ----------------------------------------------------------------------------- world


@dataclass(frozen=True)
class World:
    """Quantities shared by all videos of one seed (pre-activation space)."""

    app_proto: np.ndarray  # (C, D/2) class appearance displacements, norm app_class_norm
    mot_proto: np.ndarray  # (C, D/2) class motion displacements, norm mot_class_norm
    camera_dir: np.ndarray  # (D/2,) unit vector common to camera bursts


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _rand_unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return _unit(rng.standard_normal(shape))


def make_world(seed: int, classes: list[str], params: SimParams) -> World:
    """Class prototypes and the camera direction for a seed (independent of the videos)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    d = params.feature_dim // 2
    ones = np.full(d, 1.0 / math.sqrt(d))
    families = sorted({CLASS_FAMILIES.get(c, f"_{c}") for c in classes})
    fam_app = {f: _rand_unit(rng, d) for f in families}
    fam_mot = {f: _rand_unit(rng, d) for f in families}
    app = np.empty((len(classes), d))
    mot = np.empty((len(classes), d))
    for i, name in enumerate(classes):
        fam = CLASS_FAMILIES.get(name, f"_{name}")
        own_app, own_mot = _rand_unit(rng, d), _rand_unit(rng, d)
        a = (
            math.sqrt(params.app_family_share) * fam_app[fam]
            + math.sqrt(1 - params.app_family_share) * own_app
        )
        m = (
            math.sqrt(params.mot_family_share) * fam_mot[fam]
            + math.sqrt(1 - params.mot_family_share) * own_mot
        )
        m = math.sqrt(params.mot_energy_share) * ones + math.sqrt(
            1 - params.mot_energy_share
        ) * _unit(m)
        app[i] = params.app_class_norm * _unit(a)
        mot[i] = params.mot_class_norm * _unit(m)
    cam = math.sqrt(params.camera_energy_share) * ones + math.sqrt(
        1 - params.camera_energy_share
    ) * _rand_unit(rng, d)
    return World(app, mot, _unit(cam))


# ----------------------------------------------------------------------------- render


def _vid_seed(seed: int, stream: int, vid: str) -> np.random.Generator:
    key = int.from_bytes(hashlib.sha256(vid.encode()).digest()[:8], "little")
    return np.random.default_rng(np.random.SeedSequence([seed, stream, key]))


def _lognormal(
    rng: np.random.Generator, median: float, sigma: float, lo: float, hi: float
) -> float:
    return float(np.clip(median * math.exp(sigma * rng.standard_normal()), lo, hi))


def _trapezoid(t: np.ndarray, a: float, b: float, ramp: float, floor: float) -> np.ndarray:
    """Intensity of a segment [a, b]: ``floor`` at the edges, 1 after ``ramp`` s, 0 outside."""
    r = max(min(ramp, (b - a) / 2), 1e-9)
    inside = np.clip(np.minimum(t - a, b - t) / r, 0.0, 1.0)
    return np.where((t >= a) & (t <= b), floor + (1 - floor) * inside, 0.0)


class _Grid:
    """Sub-sampled time points of the T output snippets of one video."""

    def __init__(self, duration: float, T: int, sub: int) -> None:
        self.duration, self.T, self.sub = duration, T, sub
        self.t = (np.arange(T * sub) + 0.5) * duration / (T * sub)  # (T*sub,)

    def window(self, a: float, b: float) -> slice:
        lo = int(np.searchsorted(self.t, a, side="left"))
        hi = int(np.searchsorted(self.t, b, side="right"))
        return slice(lo, hi)

    def pool(self, x: np.ndarray) -> np.ndarray:  # (T*sub, ...) -> (T, ...)
        return x.reshape(self.T, self.sub, *x.shape[1:]).mean(axis=1)


def _segments(
    rng: np.random.Generator, duration: float, rate_per_min: float, median: float, params: SimParams
) -> list[tuple[float, float]]:
    n = int(rng.poisson(rate_per_min * duration / 60.0))
    out = []
    for _ in range(n):
        length = _lognormal(rng, median, params.ctx_len_sigma, params.ctx_min_s, params.ctx_max_s)
        start = float(rng.uniform(-length / 2, duration - length / 2))
        out.append((start, start + length))
    return out


def _native_noise(
    rng: np.random.Generator, duration: float, d: int, params: SimParams
) -> np.ndarray:
    """AR(1) noise on the native snippet grid, linearly resampled to T: (T, d)."""
    n = max(2, math.ceil(duration / params.native_snippet_s))
    white = rng.standard_normal((n, d))
    rho = params.noise_ar
    noise = np.empty_like(white)
    noise[0] = white[0]
    scale = math.sqrt(1 - rho * rho)
    for i in range(1, n):
        noise[i] = rho * noise[i - 1] + scale * white[i]
    # Output snippet centres in native-snippet coordinates (linear interpolation).
    pos = (np.arange(params.T) + 0.5) * (n / params.T) - 0.5
    pos = np.clip(pos, 0, n - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, n - 1)
    w = (pos - i0)[:, None]
    return params.noise_std * ((1 - w) * noise[i0] + w * noise[i1])


def _lookalikes(
    video: VideoGT,
    look_app: np.ndarray,
    look_mot: np.ndarray,
    grid: _Grid,
    seed: int,
    params: SimParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Look-alike background of one video: (T, d) appearance and motion additions.

    Count ~ Poisson(rate · minutes); class uniform among the video's classes; length
    log-normal; start uniform, redrawn (up to 20 times, else dropped) while the segment
    overlaps an instance of the video (the segments are background by construction).
    """
    rng = _vid_seed(seed, 3, video.name)
    present = sorted({i.cls for i in video.instances})
    dur = video.duration
    spans = [(i.start, i.end) for i in video.instances]
    d = look_app.shape[1]
    app = np.zeros((grid.T, d))
    mot = np.zeros((grid.T, d))
    for _ in range(int(rng.poisson(params.lookalike_rate_per_min * dur / 60.0))):
        c = present[int(rng.integers(len(present)))]
        length = _lognormal(
            rng, params.lookalike_median_s, params.ctx_len_sigma, params.ctx_min_s, params.ctx_max_s
        )
        for _try in range(20):
            a = float(rng.uniform(0.0, max(dur - length, 0.0)))
            b = a + length
            if not any(a < e and s < b for s, e in spans):
                break
        else:
            continue
        sl = grid.window(a, b)
        w = np.zeros(grid.t.size)
        w[sl] = _trapezoid(grid.t[sl], a, b, params.edge_ramp_s, 0.0)
        w = grid.pool(w)[:, None]  # (T, 1)
        app += w * (params.lookalike_app_frac * look_app[c])
        mot += w * (params.lookalike_mot_frac * look_mot[c])
    return app, mot


def simulate_features(
    video: VideoGT, world: World, seed: int, params: SimParams
) -> tuple[np.ndarray, np.ndarray]:
    """Render one video: appearance and motion streams, each (D/2, T) float32, >= 0."""
    rng = _vid_seed(seed, 1, video.name)
    d, T, dur = params.feature_dim // 2, params.T, video.duration
    C = world.app_proto.shape[0]
    grid = _Grid(dur, T, params.subsamples)
    present = sorted({i.cls for i in video.instances})

    # Per-video looks of the classes present (prototype + jitter of relative norm).
    look_app = np.zeros((C, d))
    look_mot = np.zeros((C, d))
    for c in present:
        look_app[c] = world.app_proto[
            c
        ] + params.video_look_jitter * params.app_class_norm * _rand_unit(rng, d)
        look_mot[c] = world.mot_proto[
            c
        ] + params.video_look_jitter * params.mot_class_norm * _rand_unit(rng, d)

    # Scene: per video + per shot (appearance), per video (motion); venue of present classes.
    app = np.tile(params.app_scene_std * rng.standard_normal(d), (T, 1))  # (T, d)
    app += params.venue_frac * look_app.sum(axis=0)
    mot = np.tile(params.mot_scene_std * rng.standard_normal(d), (T, 1))  # (T, d)
    centres = (np.arange(T) + 0.5) * dur / T
    t0 = 0.0
    while t0 < dur:
        t1 = t0 + float(rng.exponential(params.shot_mean_s))
        app[(centres >= t0) & (centres < t1)] += params.app_shot_std * rng.standard_normal(d)
        t0 = t1

    # Action and context intensities per class on the sub-sampled grid: max over instances.
    w_act = np.zeros((grid.t.size, C))
    w_ctx = np.zeros((grid.t.size, C))
    peaks: list[tuple[int, int]] = []
    for inst in video.instances:
        a, b = inst.start, min(inst.end, dur)
        pre = _lognormal(
            rng, params.ctx_pre_median_s, params.ctx_len_sigma, params.ctx_min_s, params.ctx_max_s
        )
        post = _lognormal(
            rng, params.ctx_post_median_s, params.ctx_len_sigma, params.ctx_min_s, params.ctx_max_s
        )
        if a >= dur or b <= a:
            continue  # GT error: instance outside the video (nothing to render)
        sl = grid.window(a, b)
        w_act[sl, inst.cls] = np.maximum(
            w_act[sl, inst.cls], _trapezoid(grid.t[sl], a, b, params.edge_ramp_s, params.edge_floor)
        )
        sl = grid.window(a - pre, a)  # fades in towards the instance start
        w_ctx[sl, inst.cls] = np.maximum(w_ctx[sl, inst.cls], 1 - (a - grid.t[sl]) / pre)
        sl = grid.window(b, b + post)  # fades out after the instance end
        w_ctx[sl, inst.cls] = np.maximum(w_ctx[sl, inst.cls], 1 - (grid.t[sl] - b) / post)
        peaks.append((snippet_index((a + b) / 2, dur, T), inst.cls))
    act = grid.pool(w_act)  # (T, C)
    for j, c in peaks:
        act[j, c] = max(act[j, c], params.min_peak)
    ctx = grid.pool(w_ctx)  # (T, C)
    wa = np.maximum(act, params.ctx_app_frac * ctx)
    wm = np.maximum(act, params.ctx_mot_frac * ctx)
    app += wa @ look_app
    mot += wm @ look_mot

    # Distractors: a (mostly other) class's look without its action, anywhere.
    for a, b in _segments(
        rng, dur, params.distractor_rate_per_min, params.distractor_median_s, params
    ):
        c = int(rng.integers(C))
        la = world.app_proto[c] + params.video_look_jitter * params.app_class_norm * _rand_unit(
            rng, d
        )
        lm = world.mot_proto[c] + params.video_look_jitter * params.mot_class_norm * _rand_unit(
            rng, d
        )
        sl = grid.window(a, b)
        w = np.zeros(grid.t.size)
        w[sl] = _trapezoid(grid.t[sl], a, b, params.edge_ramp_s, 0.0)
        w = grid.pool(w)[:, None]  # (T, 1)
        app += w * (params.distractor_app_frac * la)
        mot += w * (params.distractor_mot_frac * lm)

    # Look-alikes (v3): the video's own look of one of its classes, away from its instances.
    # A separate random stream, so that with rate 0 the features are those of sim v2.
    if params.lookalike_rate_per_min > 0 and present:
        app_la, mot_la = _lookalikes(video, look_app, look_mot, grid, seed, params)
        app += app_la
        mot += mot_la

    # Camera-motion bursts: generic motion, also during actions.
    for a, b in _segments(rng, dur, params.camera_rate_per_min, params.camera_median_s, params):
        v = math.sqrt(params.camera_shared_share) * world.camera_dir + math.sqrt(
            1 - params.camera_shared_share
        ) * _rand_unit(rng, d)
        sl = grid.window(a, b)
        w = np.zeros(grid.t.size)
        w[sl] = _trapezoid(grid.t[sl], a, b, params.edge_ramp_s, 0.0)
        mot += grid.pool(w)[:, None] * (params.camera_norm * _unit(v))

    app += _native_noise(rng, dur, d, params)
    mot += _native_noise(rng, dur, d, params)

    def squash(x: np.ndarray) -> np.ndarray:  # softplus, (T, d) -> (d, T) float32
        y = params.out_scale * np.logaddexp(0.0, x + params.out_offset)
        return np.ascontiguousarray(y.T, dtype=np.float32)

    return squash(app), squash(mot)


# ----------------------------------------------------------------------------- labels


def click_labels(rows: Iterable[ClickRow], duration: float, T: int, C: int) -> np.ndarray:
    """(T,) int64: C at every snippet a background click (or interval) marks, IGNORE elsewhere."""
    lab = np.full(T, IGNORE, dtype=np.int64)
    for r in rows:
        lo, hi = snippet_index(r.start, duration, T), snippet_index(r.end, duration, T)
        lab[lo : hi + 1] = C
    return lab


def action_clicks(video: VideoGT, seed: int, T: int) -> tuple[np.ndarray, int]:
    """SF-Net-style clicks: one uniform time inside each instance -> (labels (T,), collisions).

    When the drawn snippet already holds another instance's click (dense, short instances in
    long videos), the nearest free snippet of the instance's own span is used; an instance
    whose whole span is taken gets none and counts as a collision. Instances starting at/after
    the end of the video (GT errors) get none and are not counted.
    """
    rng = _vid_seed(seed, 2, video.name)
    lab = np.full(T, IGNORE, dtype=np.int64)
    collisions = 0
    for inst in video.instances:
        u = float(rng.uniform())  # drawn for every instance: clicks don't shift when one drops
        if inst.start >= video.duration:
            continue
        end = min(inst.end, video.duration)
        j = snippet_index(inst.start + u * (end - inst.start), video.duration, T)
        if lab[j] != IGNORE:
            lo = snippet_index(inst.start, video.duration, T)
            hi = snippet_index(end, video.duration, T)
            free = [k for k in range(lo, hi + 1) if lab[k] == IGNORE]
            if not free:
                collisions += 1
                continue
            j = min(free, key=lambda k: (abs(k - j), k))
        lab[j] = inst.cls
    return lab, collisions


# ----------------------------------------------------------------------------- output


def _write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """np.savez layout with fixed zip timestamps, so equal arrays give equal bytes."""
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(arr), allow_pickle=False)
    os.replace(tmp, path)


def _sha256(path: str | os.PathLike[str]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_sim(
    gt_path: str | os.PathLike[str],
    clicks_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    seed: int,
    params: SimParams | None = None,
    limit_videos: int | None = None,
    progress: bool = True,
    strict: bool = False,
) -> dict[str, Any]:
    """Write THUMOS14-sim to ``out_dir``; returns a summary dict (also in sim_config.json).

    Background clicks come from ``clicks_path`` for the 'val' (training) videos only; the
    'test' split gets all-IGNORE point labels and action labels. Click rows naming a video
    absent from the GT, or a test video, are skipped with a ``UserWarning`` (``strict=True``
    raises ``ValueError`` instead); a file none of whose rows matches a training video is
    always an error. ``limit_videos`` keeps the first N videos (by name) of each split.
    """
    params = params or SimParams()
    t_start = time.perf_counter()
    gt = load_gt(gt_path)
    C, T = len(gt.classes), params.T
    rows = read_click_csv(clicks_path)

    by_split: dict[str, list[VideoGT]] = {s: [] for s in SPLITS}
    for name in sorted(gt.videos):
        by_split[gt.videos[name].split].append(gt.videos[name])
    if limit_videos is not None:
        by_split = {s: v[:limit_videos] for s, v in by_split.items()}
    chosen = [v for s in SPLITS for v in by_split[s]]

    # Sort click rows: usable (bg, train video), unknown video, test video, non-background.
    clicks: dict[str, list[ClickRow]] = {}
    unknown: dict[str, int] = {}
    on_test: dict[str, int] = {}
    skipped_tags = 0
    untagged = 0
    for r in rows:
        if r.vid not in gt.videos and Path(r.vid).stem in gt.videos:
            r = ClickRow(Path(r.vid).stem, r.start, r.end, r.tag_id, r.tag, r.state)  # "x.mp4"
        if r.vid not in gt.videos:
            unknown[r.vid] = unknown.get(r.vid, 0) + 1
        elif gt.videos[r.vid].split != "val":
            on_test[r.vid] = on_test.get(r.vid, 0) + 1
        elif r.state == "0":
            untagged += 1
        elif not is_background(r):
            skipped_tags += 1
        else:
            clicks.setdefault(r.vid, []).append(r)
    problems = []
    if unknown:
        problems.append(
            f"{sum(unknown.values())} click rows name {len(unknown)} videos "
            f"absent from the GT (e.g. {sorted(unknown)[:5]})"
        )
    if on_test:
        problems.append(
            f"{sum(on_test.values())} click rows are on {len(on_test)} test "
            f"videos (test point labels stay {IGNORE})"
        )
    if problems:
        msg = f"{clicks_path}: " + "; ".join(problems) + "; these rows are skipped"
        if strict:
            raise ValueError(msg)
        warnings.warn(msg, UserWarning, stacklevel=2)
    if not clicks:
        raise ValueError(
            f"{clicks_path}: no background click matches a training ('val') video "
            f"of {gt_path}; wrong file?"
        )

    out = Path(out_dir)
    for s in SPLITS:
        (out / s).mkdir(parents=True, exist_ok=True)
    world = make_world(seed, gt.classes, params)
    n_inst = {s: 0 for s in SPLITS}
    stats: dict[str, int] = dict.fromkeys(
        (
            "bg_click_rows",
            "bg_click_snippets",
            "bg_click_snippets_in_actions",
            "action_clicks",
            "action_click_collisions",
            "instances_outside_video",
            "clicks_past_end",
            "bytes",
        ),
        0,
    )
    for v in tqdm(chosen, desc="make-sim", unit="video", disable=not progress):
        spa, tem = simulate_features(v, world, seed, params)
        cls_label = np.zeros(C, dtype=np.float32)
        for inst in v.instances:
            cls_label[inst.cls] = 1.0
        if v.split == "val":
            vrows = clicks.get(v.name, [])
            point = click_labels(vrows, v.duration, T, C)
            act, coll = action_clicks(v, seed, T)
            stats["bg_click_rows"] += len(vrows)
            stats["clicks_past_end"] += sum(r.end > v.duration for r in vrows)
            stats["action_clicks"] += int((act != IGNORE).sum())
            stats["action_click_collisions"] += coll
            in_act = np.zeros(T, dtype=bool)
            for inst in v.instances:
                in_act[
                    snippet_index(inst.start, v.duration, T) : snippet_index(
                        inst.end, v.duration, T
                    )
                    + 1
                ] = True
            stats["bg_click_snippets"] += int((point == C).sum())
            stats["bg_click_snippets_in_actions"] += int(((point == C) & in_act).sum())
        else:
            point = np.full(T, IGNORE, dtype=np.int64)
            act = np.full(T, IGNORE, dtype=np.int64)
        n_inst[v.split] += len(v.instances)
        stats["instances_outside_video"] += sum(i.start >= v.duration for i in v.instances)
        segs = np.array([[i.start, i.end, i.cls] for i in v.instances], dtype=np.float32).reshape(
            -1, 3
        )
        path = out / v.split / f"{v.name}.npz"
        _write_npz(
            path,
            {
                "feat_spa": spa,
                "feat_tem": tem,
                "cls_label": cls_label,
                "point_label": point,
                "action_point_label": act,
                "gt_segments": segs,
                "frame_num": np.array(round(v.duration * v.fps), dtype=np.int64),
                "fps": np.array(v.fps, dtype=np.float64),
                "duration": np.array(v.duration, dtype=np.float64),
                "vid_name": np.array(v.name),
            },
        )
        stats["bytes"] += path.stat().st_size

    (out / "classes.json").write_text(json.dumps(gt.classes, indent=1) + "\n", encoding="utf-8")
    db = {}
    for v in chosen:
        entry = dict(gt.raw["database"][v.name])
        entry["subset"] = v.split
        db[v.name] = entry
    gt_out = {k: val for k, val in gt.raw.items() if k != "database"}
    gt_out["database"] = db
    (out / "gt.json").write_text(json.dumps(gt_out) + "\n", encoding="utf-8")

    summary: dict[str, Any] = {
        "seed": seed,
        "params": asdict(params),
        "limit_videos": limit_videos,
        "gt": {"path": str(gt_path), "sha256": _sha256(gt_path)},
        "clicks": {"path": str(clicks_path), "sha256": _sha256(clicks_path)},
        "classes": gt.classes,
        "ignore_index": IGNORE,
        "skipped_click_rows": {
            "unknown_video": sum(unknown.values()),
            "test_video": sum(on_test.values()),
            "not_background": skipped_tags,
            "state_0": untagged,
        },
        "unknown_videos": sorted(unknown),
        "videos": {s: len(by_split[s]) for s in SPLITS},
        "instances": n_inst,
        **stats,
        "seconds": round(time.perf_counter() - t_start, 2),
    }
    (out / "sim_config.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``make-sim`` (for the CLI to reuse)."""
    p.add_argument("--gt", required=True, help="ActivityNet-style THUMOS14 GT JSON")
    p.add_argument("--clicks", required=True, help="COIN-layout background click CSV")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--feature-dim",
        dest="feature_dim",
        type=int,
        default=None,
        help=f"total D, appearance+motion (default {SimParams.feature_dim})",
    )
    p.add_argument(
        "--T", dest="T", type=int, default=None, help=f"snippets per video (default {SimParams.T})"
    )
    p.add_argument("--limit", type=int, default=None, help="first N videos of each split")
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail on click rows for unknown or test videos instead of warning",
    )


def main(args: argparse.Namespace) -> int:
    """Entry point of ``make-sim``: args has gt, clicks, out, seed; optional feature_dim, T,
    limit, strict, quiet."""
    over = {k: getattr(args, k) for k in ("feature_dim", "T") if getattr(args, k, None)}
    params = SimParams(**over)
    summary = make_sim(
        args.gt,
        args.clicks,
        args.out,
        int(args.seed),
        params,
        limit_videos=getattr(args, "limit", None),
        progress=not getattr(args, "quiet", False),
        strict=bool(getattr(args, "strict", False)),
    )
    v, i = summary["videos"], summary["instances"]
    print(
        f"wrote {v['val']} val + {v['test']} test videos ({i['val']} + {i['test']} instances, "
        f"{summary['bg_click_rows']} background click rows, {summary['action_clicks']} action "
        f"clicks, {summary['bytes'] / 1e6:.1f} MB) to {args.out} in {summary['seconds']} s"
    )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m model.sim", description=__doc__)
    add_arguments(parser)
    raise SystemExit(main(parser.parse_args()))
