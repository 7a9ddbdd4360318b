"""Retrain at THUMOS14 scale, measured through the product (issue 21, item 5).

A lab's path, end to end: THUMOS14-sim's 410 videos' features go into a fresh server with
``python -m server.cli import-features`` (official npz, video records created), the ground
truth with ``POST /import/ground-truth``, an annotator's video labels (the training videos'
GT classes, as a lab's annotator would give them) with ``PUT /videos/{id}/labels`` and A1's
real background clicks with ``POST /import/clicks``; then **Retrain with the defaults**
(``POST /training-jobs {}``), the predict job, ``GET /export/predictions`` and the ActivityNet
mAP on the 210 test videos. The worker runs as a child process (``python -m server.worker
--once``): its peak memory (RSS) is measured; each epoch's arrival is timed by polling the job.

The same training outside the product — ``model.train.fit`` on the sim's npz files with the
configs that ``server.training.configs.resolve_job`` gives the job (the same code path, the same
recipe object) — is run for ``--direct-seeds``: their spread is the seed noise the product's
number is compared with. ``--published`` also runs Retrain with ``recipe: published``.

    python -m bench.product_retrain                     # sim v3 seed 0, T 750, D 2x128
    python -m bench.product_retrain --direct-seeds 0 1 2 --published

Output: ``OUT/product_retrain.json`` and ``OUT/product_retrain.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_GT = ROOT.parent / "shared" / "thumos14" / "gt_thumos14.json"
DEFAULT_CLICKS = ROOT.parent / "shared" / "thumos14" / "THUMOS14_Background-Click-Annotation_A1.txt"
CHANCE = math.log(21)
PLATEAU = 0.9 * CHANCE  # bench.supervision.plateau_exit's level


def plateau_exit(video_supp: Sequence[float], chance: float = CHANCE) -> int | None:
    """First epoch (1-based) whose training video_supp is below 0.9 · chance, else None."""
    for epoch, value in enumerate(video_supp, start=1):
        if value < 0.9 * chance:
            return epoch
    return None


def make_sim(gt: Path, clicks: Path, out: Path, seed: int, version: int, T: int, dim: int) -> Path:
    from dataclasses import asdict

    from model import sim

    v2: dict[str, Any] = {"lookalike_rate_per_min": 0.0} if version == 2 else {}
    params = sim.SimParams(feature_dim=dim, T=T, **v2)
    cfg = out / "sim_config.json"
    if cfg.exists():
        stored = json.loads(cfg.read_text())
        if stored["seed"] == seed and stored["params"] == asdict(params):
            return out
    sim.make_sim(gt, clicks, out, seed, params, progress=False)
    return out


def _env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **settings_env, "PYTHONPATH": str(ROOT)}


class EpochClock:
    """Polls a job and records when each epoch's metrics first appear."""

    def __init__(self, client: Any, headers: dict[str, str], job_id: int) -> None:
        self.client, self.headers, self.job_id = client, headers, job_id
        self.started = time.perf_counter()
        self.arrivals: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                job = self.client.get(f"/api/v1/jobs/{self.job_id}", headers=self.headers).json()
                for h in (job.get("metrics") or {}).get("history", []):
                    self.arrivals.setdefault(int(h["epoch"]), time.perf_counter() - self.started)
            except Exception:  # the database may be busy for a moment: poll again
                pass
            self.stop.wait(0.5)

    def close(self) -> list[float]:
        self.stop.set()
        self.thread.join()
        return [self.arrivals[e] for e in sorted(self.arrivals)]


def run_worker(env: dict[str, str], kinds: str) -> float:
    """``python -m server.worker --once --kinds KINDS`` as a child; returns its wall time."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "server.worker", "--once", "--kinds", kinds],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return time.perf_counter() - started


def product_run(
    sim_dir: Path, clicks: Path, work: Path, recipe: str | None, log: Any
) -> dict[str, Any]:
    """One Retrain through the product on a fresh server; returns its measurements."""
    from fastapi.testclient import TestClient

    from model.evaluate import compute_map, load_gt_json
    from server.app import create_app
    from server.config import Settings
    from server.db import session_scope
    from server.migrate import upgrade
    from server.models import Role
    from server.users.service import create_user

    work.mkdir(parents=True, exist_ok=True)
    env_vars = {
        "BACKTAL_DATABASE_URL": f"sqlite:///{work / 'db.sqlite'}",
        "BACKTAL_MEDIA_DIR": str(work / "media"),
    }
    env = _env(env_vars)
    settings = Settings(database_url=env_vars["BACKTAL_DATABASE_URL"], media_dir=work / "media")
    upgrade(settings)
    app = create_app(settings)
    with session_scope(app.state.sessionmaker) as s:
        _, admin_token = create_user(s, "admin", Role.admin)
        _, a1_token = create_user(s, "A1", Role.annotator)
    admin = {"Authorization": f"Bearer {admin_token}"}
    a1 = {"Authorization": f"Bearer {a1_token}"}
    client = TestClient(app)
    out: dict[str, Any] = {"recipe_asked": recipe or "(default)"}
    for name in json.loads((sim_dir / "classes.json").read_text()):
        r = client.post("/api/v1/classes", headers=admin, json={"name": name})
        assert r.status_code == 201, r.text
    t0 = time.perf_counter()
    for split in ("val", "test"):
        subprocess.run(
            [sys.executable, "-m", "server.cli", "import-features", str(sim_dir),
             "--split", split, "--create-videos"],
            cwd=ROOT, env=env, check=True, capture_output=True,
        )  # fmt: skip
    out["import_features_s"] = round(time.perf_counter() - t0, 1)
    gt_file = sim_dir / "gt.json"
    r = client.post(
        "/api/v1/import/ground-truth",
        headers=admin,
        files={"file": ("gt.json", gt_file.read_bytes(), "application/json")},
    )
    assert r.status_code == 200, r.text
    classes = {c["name"]: c["id"] for c in client.get("/api/v1/classes", headers=a1).json()}
    gt_val = load_gt_json(gt_file, "val")
    videos: dict[str, int] = {}
    offset = 0
    while True:
        page = client.get(f"/api/v1/videos?limit=500&offset={offset}", headers=admin).json()
        videos |= {v["name"]: v["id"] for v in page["items"]}
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            break
    for name, segments in gt_val.items():
        present = sorted({classes[label] for _, _, label in segments})
        r = client.put(f"/api/v1/videos/{videos[name]}/labels", headers=a1,
                       json={"class_ids": present})  # fmt: skip
        assert r.status_code == 200, r.text
    r = client.post(
        "/api/v1/import/clicks",
        headers=admin,
        data={"annotator": "A1"},
        files={"file": ("clicks.csv", clicks.read_bytes(), "text/csv")},
    )
    assert r.status_code in (200, 201), r.text
    out["clicks_imported"] = r.json()
    body: dict[str, Any] = {} if recipe is None else {"recipe": recipe}
    job = client.post("/api/v1/training-jobs", headers=admin, json=body)
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    clock = EpochClock(client, admin, job_id)
    out["train_s"] = round(run_worker(env, "train"), 1)
    arrivals = clock.close()
    done = client.get(f"/api/v1/jobs/{job_id}", headers=admin).json()
    assert done["status"] == "succeeded", done.get("error")
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    history = done["metrics"]["history"]
    out["epochs_run"] = len(history)
    out["epoch_times_s"] = [
        round(b - a, 2) for a, b in zip([0.0, *arrivals], arrivals, strict=False)
    ]
    out["video_supp"] = [round(h["losses"]["video_supp"], 4) for h in history]
    out["plateau_exit"] = plateau_exit(out["video_supp"])
    (version,) = [
        v for v in client.get("/api/v1/model-versions", headers=admin).json()
        if v["job_id"] == job_id
    ]  # fmt: skip
    out["recipe"] = version["config"]["recipe"]["text"]
    out["best_epoch"] = version["metrics"]["best_epoch"]
    out["selection"] = version["metrics"]["selection"]
    log(f"  trained in {out['train_s']} s ({out['epochs_run']} epochs); predicting")
    out["predict_s"] = round(run_worker(env, "predict"), 1)
    export = client.get(f"/api/v1/export/predictions?model_version={version['id']}", headers=admin)
    assert export.status_code == 200, export.text
    preds_path = work / "predictions.json"
    preds_path.write_text(export.text)
    results = json.loads(export.text)["results"]
    gt_test = load_gt_json(gt_file, "test")
    preds = {
        name: [(r["segment"][0], r["segment"][1], r["label"], r["score"]) for r in rows]
        for name, rows in results.items()
        if name in gt_test
    }
    out["test_segments"] = sum(len(v) for v in preds.values())
    out["test"] = {
        k: v for k, v in compute_map(gt_test, preds).items() if k in ("mAP", "avg_0.1_0.7")
    }
    client.close()
    return out


def time_to_fraction(
    times_s: Sequence[float], values: Sequence[tuple[int, float]], final: float, share: float
) -> tuple[int, float] | None:
    """(epoch, training seconds) of the first measured epoch whose value reaches ``share`` of
    ``final``; ``times_s``: cumulative training seconds at the end of each epoch (1-based);
    ``values``: (epoch, value) pairs in epoch order. None when none does."""
    for epoch, value in values:
        if value >= share * final:
            return epoch, float(times_s[epoch - 1])
    return None


def direct_run(
    sim_dir: Path, seed: int, recipe: str | None, curve_every: int = 0
) -> dict[str, Any]:
    """The job's training outside the product: the same configs, on the npz files.
    ``curve_every`` N > 0: the test mAP@0.5 every N epochs (timed apart from training) and the
    training time to 95 % of the final test mAP@0.5."""
    from model.data import load_class_names, load_npz_split
    from model.evaluate import compute_map
    from model.train import fit, predict
    from server.training.configs import resolve_job

    train = load_npz_split(sim_dir, "val")
    test = load_npz_split(sim_dir, "test")
    names = load_class_names(sim_dir, "val", train[0].labels.shape[0])
    params: dict[str, Any] = {"seed": seed} | ({"recipe": recipe} if recipe else {})
    model_config, config = resolve_job(params, train[0].features.shape[1], len(names), len(train))
    gt = {it.name: list(it.gt_segments or []) for it in test}
    curve: list[tuple[int, float]] = []
    ends: list[float] = []
    spent = [0.0]  # seconds spent measuring, not training

    def look(epoch: int, model: Any) -> None:
        ends.append(time.perf_counter() - started - spent[0])
        if curve_every and (epoch % curve_every == 0 or epoch == config.epochs):
            t0 = time.perf_counter()
            res = predict(model, test, config.post)
            value = compute_map(gt, {n: r.segments for n, r in res.items()})["mAP"]["0.5"]
            curve.append((epoch, value))
            spent[0] += time.perf_counter() - t0

    started = time.perf_counter()
    result = fit(config, model_config, train, on_epoch_model=look)
    train_s = time.perf_counter() - started - spent[0]
    preds = predict(result.model, test, config.post)
    metrics = compute_map(gt, {n: r.segments for n, r in preds.items()})
    supp = [h["losses"]["video_supp"] for h in result.history]
    extra: dict[str, Any] = {}
    if curve:
        final = metrics["mAP"]["0.5"]
        reached = time_to_fraction(ends, curve, final, 0.95)
        extra = {
            "test_curve": curve,
            "epoch_end_s": [round(t, 1) for t in ends],
            "to_95": None if reached is None else {"epoch": reached[0], "train_s": reached[1]},
        }
    return extra | {
        "seed": seed,
        "train_s": round(train_s, 1),
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "plateau_exit": plateau_exit(supp),
        "test": {k: metrics[k] for k in ("mAP", "avg_0.1_0.7")},
        "test_segments": sum(len(r.segments) for r in preds.values()),
        "history_holdout": [h["val"].get("mAP_0.1_0.7") for h in result.history],
    }


def render(payload: dict[str, Any]) -> str:
    def pct(x: float) -> str:
        return f"{100 * x:.1f}"

    lines = [
        "# Retrain at THUMOS14 scale, through the product",
        "",
        f"Sim: {payload['sim']}; command: `{payload['command']}`",
        "",
        "| run | recipe | epochs run (best) | plateau exit | train s | s / epoch | peak RSS MiB "
        "| test segments | test mAP@0.5 | avg 0.1:0.7 |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, run in payload["product"].items():
        times = run["epoch_times_s"]
        lines.append(
            f"| product Retrain ({key}) | {run['recipe']} | {run['epochs_run']} "
            f"({run['best_epoch']}) | {run['plateau_exit']} | {run['train_s']} | "
            f"{np.median(times):.1f} | {run['peak_rss_mib']} | {run['test_segments']} | "
            f"{pct(run['test']['mAP']['0.5'])} | {pct(run['test']['avg_0.1_0.7'])} |"
        )
    direct = payload["direct"]
    for run in direct:
        lines.append(
            f"| direct fit, seed {run['seed']} | {payload['direct_recipe']} | {run['epochs_run']} "
            f"({run['best_epoch']}) | {run['plateau_exit']} | {run['train_s']} | "
            f"{run['train_s'] / max(1, run['epochs_run']):.1f} | | {run['test_segments']} | "
            f"{pct(run['test']['mAP']['0.5'])} | {pct(run['test']['avg_0.1_0.7'])} |"
        )
    if len(direct) > 1:
        at05 = [100 * r["test"]["mAP"]["0.5"] for r in direct]
        lines += ["", f"Direct fits, mAP@0.5: {np.mean(at05):.1f} ± {np.std(at05, ddof=1):.1f}"]
    for run in direct:
        if run.get("test_curve"):
            points = ", ".join(f"{e}: {100 * v:.1f}" for e, v in run["test_curve"])
            reached = run["to_95"]
            lines += [
                "",
                f"Direct fit seed {run['seed']}, test mAP@0.5 by epoch: {points}. "
                + (
                    f"95 % of the final ({100 * run['test']['mAP']['0.5']:.1f}) first at epoch "
                    f"{reached['epoch']}, after {reached['train_s']:.0f} s of training."
                    if reached
                    else "95 % of the final is not reached at a measured epoch."
                ),
            ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.product_retrain", description=__doc__)
    p.add_argument("--gt", type=Path, default=DEFAULT_GT)
    p.add_argument("--clicks", type=Path, default=DEFAULT_CLICKS)
    p.add_argument("--sim-version", type=int, choices=(2, 3), default=3)
    p.add_argument("--seed", type=int, default=0, help="sim seed")
    p.add_argument("--T", type=int, default=750)
    p.add_argument("--feature-dim", type=int, default=256)
    p.add_argument("--direct-seeds", type=int, nargs="*", default=[0])
    p.add_argument("--published", action="store_true", help="also Retrain with recipe published")
    p.add_argument(
        "--curve-every",
        type=int,
        default=0,
        help="direct fits: test mAP@0.5 every N epochs and the time to 95 %% of the final",
    )
    p.add_argument(
        "--direct-threads",
        type=int,
        default=0,
        help="torch threads of the direct fits (0: torch's default, as the worker has)",
    )
    p.add_argument("--out-dir", type=Path, default=ROOT / "data" / "bench" / "product-retrain")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the runs of OUT/product_retrain.json made on the same sim and run only the "
        "missing ones (e.g. more --direct-seeds)",
    )
    args = p.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, flush=True)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    sim_dir = make_sim(
        args.gt, args.clicks, args.out_dir / "sim", args.seed, args.sim_version, args.T,
        args.feature_dim,
    )  # fmt: skip
    payload: dict[str, Any] = {
        "sim": f"v{args.sim_version} seed {args.seed}, T {args.T}, D {args.feature_dim}",
        "command": "python -m bench.product_retrain " + " ".join(argv or sys.argv[1:]),
        "product": {},
        "direct": [],
        "direct_recipe": "studio (the job's configs)",
    }
    stored_path = args.out_dir / "product_retrain.json"
    if args.resume and stored_path.exists():
        stored = json.loads(stored_path.read_text())
        if stored["sim"] != payload["sim"]:
            raise SystemExit(f"{stored_path} was made on {stored['sim']}: use another --out-dir")
        payload["product"], payload["direct"] = stored["product"], stored["direct"]
        payload["command"] = stored["command"] + " + " + payload["command"]

    def write() -> None:  # after every run: a stopped benchmark keeps what it measured
        tmp = stored_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(payload, indent=1))
        tmp.replace(stored_path)

    recipes = [None] + (["published"] if args.published else [])
    for recipe in recipes:
        key = recipe or "defaults"
        if key in payload["product"]:
            continue
        log(f"product Retrain ({key})")
        with tempfile.TemporaryDirectory(prefix="backtal-product-", dir=args.out_dir) as tmp:
            payload["product"][key] = product_run(sim_dir, args.clicks, Path(tmp), recipe, log)
        log(f"  {payload['product'][key]['test']['mAP']['0.5']:.3f} mAP@0.5")
        write()
    if args.direct_threads:
        import torch

        torch.set_num_threads(args.direct_threads)
    done = {run["seed"] for run in payload["direct"]}
    for seed in args.direct_seeds:
        if seed in done:
            continue
        log(f"direct fit seed {seed}")
        payload["direct"].append(direct_run(sim_dir, seed, None, args.curve_every))
        write()
    write()
    text = render(payload)
    (args.out_dir / "product_retrain.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
