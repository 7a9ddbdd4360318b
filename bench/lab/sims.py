"""THUMOS14-sim data for the benchmarks: the sim cache (a seed's sim is generated once and
reused only while every sim parameter, the seed, the video limit and the sha256 of both
input files match), loading a generated sim, and the legacy recipe's feature z-scoring."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from model.data import VideoItem, load_class_names, load_npz_split

if TYPE_CHECKING:
    from bench.lab.settings import Settings


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_sim(
    settings: Settings, gt: Path, clicks: Path, seed: int, root: Path, log: Callable[[str], None]
) -> Path:
    """``root/sim-seed<seed>``: generated unless a matching one is already there."""
    from model import sim

    out = root / f"sim-seed{seed}"
    cfg_path = out / "sim_config.json"
    params = settings.sim_params()
    if cfg_path.exists():
        cfg = json.loads(cfg_path.read_text())
        if (
            cfg["seed"] == seed
            and cfg["params"] == asdict(params)
            and cfg["limit_videos"] == settings.limit
            and cfg["gt"]["sha256"] == settings.gt_sha
            and cfg["clicks"]["sha256"] == settings.clicks_sha
        ):
            log(f"reusing {out}")
            return out
    log(f"generating THUMOS14-sim seed {seed} in {out}")
    summary = sim.make_sim(
        gt, clicks, out, seed, params, limit_videos=settings.limit, progress=False
    )
    log(
        f"  {summary['videos']} videos, {summary['bg_click_rows']} bg click rows, "
        f"{summary['seconds']} s"
    )
    return out


def standardize(
    train: Sequence[VideoItem], test: Sequence[VideoItem]
) -> tuple[list[VideoItem], list[VideoItem]]:
    """Z-score every feature dimension with the mean and std of the training snippets."""
    stacked = np.concatenate([it.features for it in train])  # (N, D)
    mean = stacked.mean(0).astype(np.float32)
    std = (stacked.std(0) + 1e-6).astype(np.float32)

    def z(items: Sequence[VideoItem]) -> list[VideoItem]:
        return [replace(it, features=(it.features - mean) / std) for it in items]

    return z(train), z(test)


_LOADED: dict[str, tuple[list[VideoItem], list[VideoItem], list[str]]] = {}


def load_sim_items(
    sim_dir: Path, standardize_features: bool
) -> tuple[list[VideoItem], list[VideoItem], list[str]]:
    """Training and test videos of one generated sim (z-scored when asked) and class names;
    the last sim loaded stays in memory (one sim at a time per process)."""
    key = f"{sim_dir}|{standardize_features}"
    if key not in _LOADED:
        train_items = load_npz_split(sim_dir, "val")
        test_items = load_npz_split(sim_dir, "test")
        names = load_class_names(sim_dir, "val", train_items[0].labels.shape[0])
        if standardize_features:
            train_items, test_items = standardize(train_items, test_items)
        _LOADED.clear()
        _LOADED[key] = (train_items, test_items, list(names))
    return _LOADED[key]


def metadata_items(sim_dir: Path) -> list[VideoItem]:
    """The training videos without their features (names, durations, T, GT, A1 clicks)."""
    items = load_npz_split(sim_dir, "val")
    return [replace(it, features=np.zeros((it.num_snippets, 0), dtype=np.float32)) for it in items]
