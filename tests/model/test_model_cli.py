"""python -m model.cli: train -> predict -> eval on a generated dataset in the official npz
layout (THUMOS14 split names: 'val' trains, 'test' tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model.cli import build_parser
from model.data import write_npz_video
from tests.model.backtal_toy import make_toy_videos

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["Jump", "Throw"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "model.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=True,
    )


def _write_dataset(root: Path) -> Path:
    database: dict[str, dict] = {}
    for split, seed, count in (("val", 0, 16), ("test", 1, 6)):
        (root / split).mkdir(parents=True)
        for item in make_toy_videos(count, seed=seed):
            write_npz_video(root / split / f"{item.name}.npz", item)
            database[item.name] = {
                "subset": split,
                "duration": item.duration,
                "fps": item.fps,
                "annotations": [
                    {"segment": [s, e], "label": CLASSES[c]} for s, e, c in item.gt_segments or []
                ],
            }
    (root / "classes.json").write_text(json.dumps(CLASSES))
    gt = root / "gt.json"
    gt.write_text(json.dumps({"database": database, "activity_list": CLASSES}))
    return gt


def test_train_predict_eval_end_to_end(tmp_path: Path) -> None:
    data = tmp_path / "data"
    gt = _write_dataset(data)
    out = tmp_path / "run"
    trained = _cli(
        "train", "--data", str(data), "--supervision", "bg-click", "--out", str(out),
        "--recipe", "published", "--epochs", "60", "--hidden", "32", "--batch-size", "4",
        "--lr", "1e-3", "--holdout", "0.25", "--device", "cpu",
    )  # fmt: skip
    assert (out / "model.pt").is_file()
    assert "chosen by held-out mAP@0.1:0.7 on 4 videos" in trained.stdout
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 60 and "mAP_0.1_0.7" in history[0]["val"]

    results = tmp_path / "results.json"
    _cli("predict", "--ckpt", str(out / "model.pt"), "--data", str(data), "--out", str(results))
    predicted = json.loads(results.read_text())["results"]
    assert len(predicted) == 6
    assert {r["label"] for rows in predicted.values() for r in rows} <= set(CLASSES)

    table = _cli("eval", "--gt", str(gt), "--pred", str(results)).stdout
    assert "mAP" in table and "avg0.3:0.7" in table
    report = json.loads(_cli("eval", "--gt", str(gt), "--pred", str(results), "--json").stdout)
    assert set(report) == {"mAP", "avg_0.1_0.7", "avg_0.3_0.7"}
    assert list(report["mAP"]) == ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"]
    assert report["mAP"]["0.5"] > 0.5  # the planted actions are easy to find


def test_parser_has_one_subcommand_per_handler() -> None:
    parser = build_parser()
    args = parser.parse_args(["make-sim", "--gt", "g.json", "--clicks", "c.txt", "--out", "o"])
    assert args.command == "make-sim" and args.seed == 0
    args = parser.parse_args(["train", "--data", "d", "--supervision", "weak", "--out", "o"])
    assert args.split == "val" and args.recipe is None and args.sets == []
    assert (args.epochs, args.hidden, args.device) == (None, None, None)  # from the recipe
    assert (
        parser.parse_args(["predict", "--ckpt", "m", "--data", "d", "--out", "r"]).split == "test"
    )
    assert parser.parse_args(["eval", "--gt", "g", "--pred", "p"]).subset == "test"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--data", "d", "--supervision", "clicks", "--out", "o"])


def test_make_sim_delegates_to_model_sim(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from model import cli

    seen = []
    fake = types.ModuleType("model.sim")
    fake.main = lambda args: seen.append(args) or 7  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "model.sim", fake)
    monkeypatch.setattr("model.sim", fake, raising=False)
    argv = ["make-sim", "--gt", "g.json", "--clicks", "c.txt", "--out", "o", "--seed", "3"]
    code = cli.main(argv)
    assert code == 7 and seen[0].seed == 3 and seen[0].gt == "g.json"


def test_make_sim_passes_the_documented_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/sim.md documents --feature-dim/--T/--limit/--strict for `model.cli make-sim`."""
    import types

    from model import cli

    seen = []
    fake = types.ModuleType("model.sim")
    fake.main = lambda args: seen.append(args) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "model.sim", fake)
    monkeypatch.setattr("model.sim", fake, raising=False)
    base = ["make-sim", "--gt", "g.json", "--clicks", "c.txt", "--out", "o"]
    cli.main([*base, "--feature-dim", "64", "--T", "375", "--limit", "5", "--strict"])
    assert (seen[0].feature_dim, seen[0].T, seen[0].limit, seen[0].strict) == (64, 375, 5, True)
    cli.main(base)
    assert (seen[1].feature_dim, seen[1].T, seen[1].limit, seen[1].strict) == (
        None,
        None,
        None,
        False,
    )
