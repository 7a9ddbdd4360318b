"""Tiny runs of the research package (``bench.lab``) and its commands: the GT and click
writer of tests/model/tiny_thumos.py (3 training + 2 test videos, 2 classes), 1 seed,
D = 16, T = 40, widths 8, a few epochs — seconds per training."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bench.lab.settings import Settings

# the shape of a tiny run, as command-line options of every THUMOS14-sim benchmark
SHAPE = ["--seeds", "0", "--feature-dim", "16", "--T", "40", "--hidden", "8", "--aux-hidden", "8"]
SHAPE += ["--holdout", "0.34"]
# the legacy recipe of the smoke runs (the tiny data needs the top-k filter and a small batch)
LEGACY = ["--filter-norm", "topk", "--batch-size", "2", "--lr", "1e-3"]


def tiny_args(gt: Path, clicks: Path, out: Path, epochs: int = 1) -> list[str]:
    """``--gt --clicks --out-dir --epochs`` and the tiny shape."""
    files = ["--gt", str(gt), "--clicks", str(clicks), "--out-dir", str(out)]
    return [*files, *SHAPE, "--epochs", str(epochs)]


def tiny_settings(
    gt: Path,
    clicks: Path,
    *,
    modes: tuple[str, ...] = ("weak", "bg-click"),
    epochs: int = 2,
) -> Settings:
    """The legacy-recipe Settings of a tiny run (= ``tiny_args`` + ``LEGACY``)."""
    return Settings(
        seeds=(0,),
        modes=tuple(modes),
        feature_dim=16,
        T=40,
        limit=None,
        hidden=8,
        aux_hidden=8,
        filter_norm="topk",
        standardize=True,
        epochs=epochs,
        batch_size=2,
        lr=1e-3,
        holdout=0.34,
        gt_sha=hashlib.sha256(gt.read_bytes()).hexdigest(),
        clicks_sha=hashlib.sha256(clicks.read_bytes()).hexdigest(),
    )
