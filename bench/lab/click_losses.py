"""The click-losses benchmark's library (the command: ``python -m bench.click_losses``).

Arms (``MODE[:CLICK_LOSS][+refine][@OFFSET]``), the fixed folds of the training videos, one
training per (arm, sim version, seed) with its held-out and test predictions, and the resumable
driver. Design and results: docs/research/click-losses.md.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_GT = ROOT.parent / "shared" / "thumos14" / "gt_thumos14.json"
DEFAULT_CLICKS = ROOT.parent / "shared" / "thumos14" / "THUMOS14_Background-Click-Annotation_A1.txt"
FOLDS = 5
FOLD_SEED = 2026  # the fold assignment of the training videos, fixed before any run
TIOUS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)  # the same as bench.stats.TIOUS (tested)
SIM_OVERRIDES = {3: {}, 2: {"lookalike_rate_per_min": 0.0}}  # docs/sim.md


@dataclass(frozen=True)
class Arm:
    mode: str
    click_loss: str = "published"
    refine: bool = False
    offset: int = 0

    @classmethod
    def parse(cls, text: str) -> Arm:
        from model.config import CLICK_LOSSES, SUPERVISION_MODES

        body, _, offset = text.partition("@")
        body, _, refine = body.partition("+")
        mode, _, loss = body.partition(":")
        if mode not in SUPERVISION_MODES:
            raise ValueError(f"{text}: mode must be one of {SUPERVISION_MODES}")
        if loss and loss not in CLICK_LOSSES:
            raise ValueError(f"{text}: click loss must be one of {CLICK_LOSSES}")
        if refine not in ("", "refine"):
            raise ValueError(f"{text}: only '+refine' may follow the loss")
        return cls(mode, loss or "published", refine == "refine", int(offset or 0))

    @property
    def name(self) -> str:
        text = self.mode if self.mode == "weak" else f"{self.mode}:{self.click_loss}"
        if self.refine:
            text += "+refine"
        return text + (f"@{self.offset}" if self.offset else "")

    @property
    def first_stage(self) -> Arm:
        return Arm(self.mode, self.click_loss, False, self.offset)


@dataclass(frozen=True)
class Settings:
    """Everything that changes the numbers (a resume must match)."""

    recipe: str = "studio"
    feature_dim: int = 256
    T: int = 375
    hidden: int = 128
    aux_hidden: int = 128
    epochs: int = 40
    overrides: tuple[tuple[str, Any], ...] = ()  # further recipe overrides (--set)
    limit: int | None = None
    gt_sha: str = ""
    clicks_sha: str = ""
    refine: dict[str, Any] = field(default_factory=dict)  # model.refine.RefineConfig fields

    def recipe_overrides(self, arm: Arm, seed: int) -> dict[str, Any]:
        return {
            "hidden": self.hidden,
            "embed_hidden": self.aux_hidden,
            "filter_hidden": self.aux_hidden,
            "epochs": self.epochs,
            "supervision": arm.mode,
            "click_loss": arm.click_loss,
            "seed": seed + arm.offset,
            "device": "cpu",
            **dict(self.overrides),
        }

    def key(self) -> dict[str, Any]:
        out = asdict(self)
        out["overrides"] = [list(p) for p in self.overrides]
        return out


def sim_settings(settings: Settings, version: int) -> Any:
    """The bench.supervision settings object its sim cache (``ensure_sim``) expects."""
    from bench.lab.settings import Settings as SimSettings

    return SimSettings(
        seeds=(),
        modes=(),
        feature_dim=settings.feature_dim,
        T=settings.T,
        limit=settings.limit,
        hidden=settings.hidden,
        aux_hidden=settings.aux_hidden,
        filter_norm="none",
        standardize=False,
        epochs=settings.epochs,
        batch_size=16,
        lr=1e-4,
        holdout=0.0,
        gt_sha=settings.gt_sha,
        clicks_sha=settings.clicks_sha,
        sim_overrides=tuple(SIM_OVERRIDES[version].items()),
    )


def fold_of(names: Sequence[str]) -> dict[str, int]:
    """Fold (0..4) of every training video: a fixed permutation of the sorted names."""
    ordered = sorted(names)
    perm = np.random.default_rng(FOLD_SEED).permutation(len(ordered))
    return {ordered[int(i)]: rank % FOLDS for rank, i in enumerate(perm)}


def split_fold(train_items: Sequence[Any], seed: int) -> tuple[list[Any], list[Any]]:
    """(training videos, held-out videos) of ``seed``: fold ``seed mod 5`` is held out."""
    folds = fold_of([it.name for it in train_items])
    held = [it for it in train_items if folds[it.name] == seed % FOLDS]
    return [it for it in train_items if folds[it.name] != seed % FOLDS], held


def run_id(arm: Arm, version: int, seed: int) -> str:
    safe = arm.name.replace(":", "_").replace("+", "_").replace("@", "_s")
    return f"v{version}-s{seed}-{safe}"


def _segments_json(preds: dict[str, Any]) -> dict[str, list[list[float]]]:
    return {
        name: [[float(s), float(e), int(c), float(sc)] for s, e, c, sc in segs]
        for name, segs in preds.items()
    }


def _metrics(gt: dict[str, list], preds: dict[str, list]) -> dict[str, Any]:
    from model.evaluate import compute_map

    result = compute_map(gt, preds, TIOUS)
    return {k: result[k] for k in ("mAP", "avg_0.1_0.7", "avg_0.3_0.7")}


def train_task(
    arm_text: str, version: int, seed: int, settings: Settings, sim_dir: str, out_dir: str
) -> dict[str, Any]:
    """One (arm, sim version, seed): train (or load) the first stage, optionally the second,
    predict the held-out fold and the test split, store predictions and metrics."""
    from bench.lab.sims import load_sim_items
    from model import recipes
    from model.train import fit, load_checkpoint, predict, save_checkpoint

    torch.set_num_threads(1)
    arm = Arm.parse(arm_text)
    out = Path(out_dir)
    train_items, test_items, names = load_sim_items(Path(sim_dir), False)
    train, held = split_fold(train_items, seed)
    started = time.perf_counter()
    model_config, config = recipes.resolve(
        settings.recipe,
        feature_dim=train_items[0].features.shape[1],
        num_classes=len(names),
        overrides=settings.recipe_overrides(arm.first_stage, seed),
    )
    ckpt = out / "ckpt" / f"{run_id(arm.first_stage, version, seed)}.pt"
    history: list[dict[str, Any]] = []
    best_epoch = 0

    def progress(info: dict[str, Any]) -> None:
        val = info["val"].get("mAP_0.1_0.7")
        print(
            f"  v{version} s{seed} {arm.name:28s} epoch {info['epoch']:2d} "
            f"video_supp={info['losses']['video_supp']:.3f}"
            + (f" held-out avg={100 * val:.1f}" if val is not None else "")
            + f" [{time.perf_counter() - started:.0f} s]",
            flush=True,
        )

    if arm.refine and ckpt.exists():
        model, _, _, meta = load_checkpoint(ckpt)
        best_epoch = int(meta["metrics"].get("best_epoch", 0))
    else:
        result = fit(config, model_config, train, val_items=held, on_progress=progress)
        model, best_epoch, history = result.model, result.best_epoch, result.history
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(ckpt, model, model_config, config, names, {"best_epoch": best_epoch})
    train_s = time.perf_counter() - started
    run: dict[str, Any] = {
        "arm": arm.name,
        "version": version,
        "seed": seed,
        "recipe": recipes.describe(model_config, config, skip=("seed", "supervision")),
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "history": [
            {
                "epoch": h["epoch"],
                **{k: float(v) for k, v in h["losses"].items()},
                **{f"holdout_{k}": float(v) for k, v in h["val"].items()},
            }
            for h in history
        ],
    }
    if arm.refine:
        from model.refine import RefineConfig, fit_refiner, refine_predict

        rconf = RefineConfig(**settings.refine, seed=seed + arm.offset)
        refiner, rinfo = fit_refiner(model, train, rconf, val_items=held, post=config.post)
        run["refine"] = rinfo

        def localize(items: Sequence[Any]) -> dict[str, Any]:
            return refine_predict(model, refiner, items, config.post)
    else:

        def localize(items: Sequence[Any]) -> dict[str, Any]:
            return {n: r.segments for n, r in predict(model, items, config.post).items()}

    run["train_s"] = round(time.perf_counter() - started, 1)
    run["first_stage_s"] = round(train_s, 1)
    for split, items in (("heldout", held), ("test", test_items)):
        preds = localize(items)
        gt = {it.name: list(it.gt_segments or []) for it in items}
        path = out / "preds" / f"{run_id(arm, version, seed)}-{split}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_segments_json(preds)))
        run[split] = _metrics(gt, preds)
    run["total_s"] = round(time.perf_counter() - started, 1)
    return run


# ----------------------------------------------------------------------------- driver
def load_preds(out_dir: Path, arm: str, version: int, seed: int, split: str) -> dict[str, Any]:
    path = out_dir / "preds" / f"{run_id(Arm.parse(arm), version, seed)}-{split}.json"
    data = json.loads(path.read_text())
    return {n: [(s, e, int(c), sc) for s, e, c, sc in segs] for n, segs in data.items()}


def load_gt(out_dir: Path, version: int, seed: int, names: set[str] | None) -> dict[str, list]:
    """GT of one sim's videos (class indices as labels), restricted to ``names``."""
    from model.data import load_npz_split

    sim_dir = out_dir / f"sim-v{version}" / f"sim-seed{seed}"
    gt: dict[str, list] = {}
    for split in ("val", "test"):
        for it in load_npz_split(sim_dir, split):
            if names is None or it.name in names:
                gt[it.name] = list(it.gt_segments or [])
    return gt


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)


def run_benchmark(
    settings: Settings,
    arms: Sequence[str],
    versions: Sequence[int],
    seeds: Sequence[int],
    gt: Path,
    clicks: Path,
    out_dir: Path,
    jobs: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    from bench.lab.resume import run_pending
    from bench.lab.sims import ensure_sim

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "runs.json"
    payload: dict[str, Any] = {"settings": settings.key(), "runs": []}
    if json_path.exists():
        old = json.loads(json_path.read_text())
        if old.get("settings") != settings.key():
            raise SystemExit(f"{json_path} holds runs made with other settings: use --out-dir")
        payload["runs"] = old["runs"]
    done = {(r["arm"], r["version"], r["seed"]) for r in payload["runs"]}
    parsed = [Arm.parse(a) for a in arms]
    sims = {}
    for version in versions:
        for seed in seeds:
            sims[version, seed] = ensure_sim(
                sim_settings(settings, version), gt, clicks, seed, out_dir / f"sim-v{version}", log
            )
    todo = [
        (arm, version, seed)
        for version in versions
        for seed in seeds
        for arm in parsed
        if (arm.name, version, seed) not in done
    ]
    total, started = len(todo), time.perf_counter()

    def ready(busy: set[Any]) -> list[dict[str, Any]]:
        out = []
        finished = {(r["arm"], r["version"], r["seed"]) for r in payload["runs"]}
        for arm, version, seed in todo:
            key = (arm.name, version, seed)
            if key in finished or key in busy:
                continue
            base = (arm.first_stage.name, version, seed)
            if arm.refine and Arm.parse(base[0]) in parsed and base not in finished:
                continue  # its first stage is still to be trained (and saved)
            out.append({"arm": arm.name, "version": version, "seed": seed})
        return out

    def finished(run: dict[str, Any]) -> None:
        payload["runs"].append(run)
        _write_json(json_path, payload)
        log(
            f"[{len(payload['runs']) - (len(done))}/{total}] v{run['version']} s{run['seed']} "
            f"{run['arm']}: best epoch {run['best_epoch']}, {run['total_s']:.0f} s; elapsed "
            f"{(time.perf_counter() - started) / 60:.1f} min"
        )  # held-out and test numbers are read from the report, never from the log

    run_pending(
        ready,
        lambda spec: (spec["arm"], spec["version"], spec["seed"]),
        _task,
        (settings, str(out_dir)),
        finished,
        jobs,
        log,
        lambda spec: f"v{spec['version']} s{spec['seed']} {spec['arm']}",
    )
    return payload


def _task(spec: dict[str, Any], settings: Settings, out_dir: str) -> dict[str, Any]:
    sim_dir = Path(out_dir) / f"sim-v{spec['version']}" / f"sim-seed{spec['seed']}"
    return train_task(spec["arm"], spec["version"], spec["seed"], settings, str(sim_dir), out_dir)
