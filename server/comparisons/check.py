"""Recompute a comparison job's table outside the server, with the trainer called directly.

    python -m server.comparisons.check http://127.0.0.1:8000 JOB_ID --token $ADMIN [--out DIR]

Downloads the job (``GET /comparisons/{id}``) and the server's data-set export (``GET
/export/dataset``: the training videos in ``val/``, the validation videos in ``test/``, in
BackTAL's official npz layout), rebuilds every training's configs from the recipe the job
recorded (``ModelConfig`` / ``TrainConfig.from_dict``, with that training's supervision),
chooses the learning curve's click subsets with ``model.compare.nested_click_subsets``, and
calls ``model.train.fit`` / ``predict``, ``model.evaluate.compute_map`` and
``model.compare.per_video_map`` / ``paired_differences`` — no server code. It prints each
training's numbers beside the job's and whether they are equal; the exit status is 1 when
anything differs. Torch runs on one thread, as the worker does (``server/worker/__main__.py``):
summing in another order changes the last digits. Nothing here is needed by the server.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MEASURES = ("mAP@0.5", "avg_0.1_0.7")


def _get(url: str, token: str) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as response:
        return bytes(response.read())


def check(result: dict[str, Any], data_dir: Path) -> tuple[bool, list[str]]:
    """Recompute ``result`` (a comparison job's ``result``) on the export in ``data_dir``."""
    from model.compare import click_count, nested_click_subsets, paired_differences, per_video_map
    from model.config import ModelConfig, TrainConfig
    from model.data import load_dataset
    from model.evaluate import compute_map
    from model.train import fit, predict

    train, classes = load_dataset(data_dir, "val")
    val, _ = load_dataset(data_dir, "test")
    lines: list[str] = []
    ok = [it.name for it in val] == result["videos"]["validation"]
    if not ok:
        lines.append("the export's validation videos differ from the job's")
    gt = {it.name: [(s, e, classes[c]) for s, e, c in it.gt_segments or []] for it in val}
    seed = int(result["seed"])
    subsets = nested_click_subsets(train, result["fractions"], seed)
    recipe = result["recipe"]
    model_config = ModelConfig.from_dict(recipe["model"])
    per: dict[str, dict[str, float]] = {}
    for run in result["runs"]:
        items = train if run["fraction"] == 1.0 else subsets[run["fraction"]]
        config = TrainConfig.from_dict({**recipe["train"], "supervision": run["supervision"]})
        fitted = fit(config, model_config, items)
        preds = predict(fitted.model, val, config.post)
        pr = {
            name: [(s, e, classes[c], score) for s, e, c, score in res.segments]
            for name, res in preds.items()
        }
        measured = compute_map(gt, pr)
        videos = per_video_map(gt, pr)
        same = (
            run["mAP"] == measured["mAP"]
            and run["avg_0.1_0.7"] == measured["avg_0.1_0.7"]
            and run["best_epoch"] == fitted.best_epoch
            and run["per_video"]
            == {
                v: {"mAP@0.5": x["mAP@0.5"], "avg_0.1_0.7": x["avg_0.1_0.7"]}
                for v, x in videos.items()
            }
            and (run["background_clicks"] in (0, click_count(items)))
        )
        ok &= same
        per[run["key"]] = {v: x["avg_0.1_0.7"] for v, x in videos.items()}
        lines.append(
            f"{run['key']:14s} job: mAP@0.5 {100 * run['mAP@0.5']:6.2f}  avg 0.1:0.7 "
            f"{100 * run['avg_0.1_0.7']:6.2f}  epoch {run['best_epoch']:3d} | direct: mAP@0.5 "
            f"{100 * measured['mAP']['0.5']:6.2f}  avg 0.1:0.7 {100 * measured['avg_0.1_0.7']:6.2f}"
            f"  epoch {fitted.best_epoch:3d} | equal: {same}"
        )
    for arm, paired in (result.get("paired") or {}).items():
        same = paired["avg_0.1_0.7"] == paired_differences(per["weak"], per[arm], seed=seed)
        ok &= same
        lines.append(f"paired per-video differences {arm} − weak: equal: {same}")
    return ok, lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.comparisons.check", description=__doc__)
    parser.add_argument("url", help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("job", type=int, help="the comparison job's id")
    parser.add_argument("--token", required=True, help="an admin token")
    parser.add_argument("--out", default=None, help="keep the data-set export in this folder")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    api = args.url.rstrip("/") + "/api/v1"
    job = json.loads(_get(f"{api}/comparisons/{args.job}", args.token))
    if job["job"]["status"] != "succeeded":
        print(
            f"comparison job {args.job} is {job['job']['status']}, not succeeded", file=sys.stderr
        )
        return 2
    params = job["job"]["params"]
    if params.get("include_video_ids") is not None:
        print("a comparison of chosen videos (include_video_ids) cannot be checked against the "
              "whole data-set export", file=sys.stderr)  # fmt: skip
        return 2
    query = {"format": "official-npz"}
    if params.get("extractor"):
        query["extractor"] = params["extractor"]
    archive = _get(f"{api}/export/dataset?{urllib.parse.urlencode(query)}", args.token)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.out or tmp)
        zipfile.ZipFile(io.BytesIO(archive)).extractall(folder)
        ok, lines = check(job["result"], folder)
    print("\n".join(lines))
    print("every number equal" if ok else "DIFFERENT")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
