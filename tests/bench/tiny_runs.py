"""A ``bench.click_losses`` run folder on the tiny sim (tests/model/tiny_thumos.py) without
training: the sims of the seeds, ``runs.json`` and predictions written by rules of the test
(a prediction rule maps a video's GT to its predicted segments), in the layout
``bench.correction`` and ``bench.qa_planted`` read."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench import click_losses as cl
from model.sim import SimParams, make_sim
from tests.model.tiny_thumos import CLASSES, GT, write_inputs

GTList = list[tuple[float, float, int]]
Rule = Callable[[str, GTList], list[list[float]]]

# Background clicks of the tiny training videos (their GT: 0000001 Jump 10–20, 40–44;
# 0000002 Throw 5–12; 0000003 Throw 20–30, Jump 2–6): two inside an action (15.0, 8.0)
CLICKS = [
    ("video_validation_0000001", 5.0),
    ("video_validation_0000001", 15.0),
    ("video_validation_0000001", 30.0),
    ("video_validation_0000001", 50.0),
    ("video_validation_0000002", 8.0),
    ("video_validation_0000002", 30.0),
    ("video_validation_0000002", 40.0),
    ("video_validation_0000003", 12.0),
    ("video_validation_0000003", 35.0),
]
T = 40
DATABASE: dict[str, Any] = GT["database"]  # type: ignore[assignment]


def gt_of(name: str) -> GTList:
    return [
        (float(a["segment"][0]), float(a["segment"][1]), CLASSES.index(a["label"]))
        for a in DATABASE[name]["annotations"]
    ]


def training_names() -> list[str]:
    return sorted(n for n, v in DATABASE.items() if v["subset"] == "validation")


def test_names() -> list[str]:
    return sorted(n for n, v in DATABASE.items() if v["subset"] == "test")


def heldout_names(seed: int) -> list[str]:
    folds = cl.fold_of(training_names())
    return sorted(n for n, k in folds.items() if k == seed % cl.FOLDS)


def make_run_folder(
    folder: Path,
    rules: Mapping[str, Rule],
    seeds: Sequence[int] = (0, 1),
    version: int = 3,
) -> Path:
    """``folder/runs`` with one run per (arm of ``rules``, seed); returns that folder."""
    gt_path, clicks_path = write_inputs(folder, CLICKS)
    out = folder / "runs"
    for seed in seeds:
        make_sim(
            gt_path,
            clicks_path,
            out / f"sim-v{version}" / f"sim-seed{seed}",
            seed,
            SimParams(feature_dim=8, T=T),
            progress=False,
        )
    runs = []
    (out / "preds").mkdir(parents=True, exist_ok=True)
    for arm, rule in rules.items():
        for seed in seeds:
            for split, names in (("heldout", heldout_names(seed)), ("test", test_names())):
                preds = {n: rule(n, gt_of(n)) for n in names}
                path = out / "preds" / f"{cl.run_id(cl.Arm.parse(arm), version, seed)}-{split}.json"
                path.write_text(json.dumps(preds))
            runs.append({"arm": arm, "version": version, "seed": seed})
    (out / "runs.json").write_text(json.dumps({"settings": {}, "runs": runs}))
    return out
