"""Named recipes (model.recipes): studio is the default everywhere, published is BackTAL's
released recipe bit for bit, overrides from --set / --config reproduce any run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model import recipes
from model.config import LossWeights, ModelConfig, PostConfig, TrainConfig
from model.data import write_npz_video
from model.train import fit, load_checkpoint
from tests.model.backtal_toy import make_toy_videos

REPO = Path(__file__).resolve().parents[2]

# The published THUMOS14 recipe as the trainer's defaults spelled it until 2026-12-06 (the
# dataclass defaults then, written out by hand): `resolve("published")` must give exactly this.
PUBLISHED_TRAIN = {
    "supervision": "bg-click",
    "epochs": 40,
    "batch_size": 16,
    "lr": 1e-4,
    "weight_decay": 5e-4,
    "betas": (0.9, 0.999),
    "seed": 0,
    "device": "auto",
    "precision": "fp32",
    "holdout_fraction": 0.1,
    "lr_scaling": "none",
    "init_scaling": "none",
    "click_rampup_epochs": 0,
}
PUBLISHED_MODEL = {
    "hidden": 2048,
    "embed_dim": 32,
    "embed_hidden": 512,
    "filter_hidden": 512,
    "affinity": "paper",
    "dropout": 0.7,
    "topk_ratio": 8,
    "leaky_slope": 0.01,
    "filter_norm": "none",
    "input_norm": "none",
}


def test_dataclass_defaults_are_the_studio_recipe() -> None:
    model, train = recipes.resolve("studio", feature_dim=2048, num_classes=20)
    assert train == TrainConfig() and train.recipe == "studio"
    assert model == ModelConfig(feature_dim=2048, num_classes=20)
    assert model.input_norm == "standardize"
    assert (train.lr_scaling, train.init_scaling, train.click_rampup_epochs) == (
        "width",
        "width",
        2,
    )
    assert recipes.deviations(model, train) == {}
    assert recipes.describe(model, train) == "studio"


def test_published_recipe_is_the_released_one_field_for_field() -> None:
    model, train = recipes.resolve("published", feature_dim=2048, num_classes=20)
    assert train.recipe == "published" and train.click_loss == "published"
    assert (train.patience, train.min_epochs) == (0, 0)  # no early stopping
    for key, value in PUBLISHED_TRAIN.items():
        assert getattr(train, key) == value, key
    for key, value in PUBLISHED_MODEL.items():
        assert getattr(model, key) == value, key
    assert train.loss_weights == LossWeights(1.0, 1.0, 1e-4, 1.0, 1.0, 0.8, 0.5, 0.1)
    assert train.post == PostConfig()
    assert train.post.nms_threshold == 0.55 and len(train.post.cas_thresholds) == 10


def test_published_recipe_trains_bit_identically_to_the_old_defaults() -> None:
    """fit() with resolve("published") gives the same weights, bit for bit, as fit() with the
    published values spelled out field by field (what TrainConfig() was before)."""
    items = make_toy_videos(6)
    shape = {"embed_dim": 8, "embed_hidden": 16, "filter_hidden": 16, "hidden": 32}
    over = {"epochs": 3, "batch_size": 4, "holdout_fraction": 0.0, **shape}
    model_r, train_r = recipes.resolve("published", feature_dim=16, num_classes=2, overrides=over)
    spelled_train = TrainConfig(
        **{**PUBLISHED_TRAIN, "epochs": 3, "batch_size": 4, "holdout_fraction": 0.0},
        recipe="published",
        click_loss="published",
    )
    spelled_model = ModelConfig(feature_dim=16, num_classes=2, **{**PUBLISHED_MODEL, **shape})
    assert (model_r, train_r) == (spelled_model, spelled_train)
    a = fit(train_r, model_r, items).model.state_dict()
    b = fit(spelled_train, spelled_model, items).model.state_dict()
    assert a.keys() == b.keys() and "input_mean" not in a  # no standardization buffers
    for key in a:
        assert torch.equal(a[key], b[key]), key
    studio = fit(
        recipes.resolve("studio", feature_dim=16, num_classes=2, overrides=over)[1],
        recipes.resolve("studio", feature_dim=16, num_classes=2, overrides=over)[0],
        items,
    ).model.state_dict()
    assert "input_mean" in studio and not torch.equal(studio["conv1.weight"], a["conv1.weight"])


def test_overrides_nested_keys_and_errors() -> None:
    model, train = recipes.resolve(
        "studio",
        feature_dim=8,
        num_classes=3,
        overrides={"hidden": 64, "lr": 1e-3, "loss_weights.click": 0.0, "post.gamma": 0.5},
    )
    assert (model.hidden, train.lr, train.loss_weights.click, train.post.gamma) == (
        64,
        1e-3,
        0.0,
        0.5,
    )
    assert train.loss_weights.separation == 1.0  # the rest of the nested config stays
    assert recipes.deviations(model, train) == {
        "hidden": 64,
        "lr": 1e-3,
        "loss_weights.click": 0.0,
        "post.gamma": 0.5,
    }
    assert recipes.describe(model, train) == (
        "studio + hidden=64, loss_weights.click=0.0, lr=0.001, post.gamma=0.5"
    )
    with pytest.raises(ValueError, match="unknown recipe 'fast'"):
        recipes.resolve("fast", feature_dim=8, num_classes=3)
    with pytest.raises(ValueError, match="unknown training option 'depth'"):
        recipes.resolve("studio", feature_dim=8, num_classes=3, overrides={"depth": 3})
    with pytest.raises(ValueError, match="click_loss"):
        recipes.train_config(click_loss="everything")
    # JSON values (a Retrain request's overrides) are checked against each field's type
    _, coerced = recipes.resolve(
        "studio", feature_dim=8, num_classes=3, overrides={"betas": [0.9, 0.99], "lr": 1}
    )
    assert coerced.betas == (0.9, 0.99) and coerced.lr == 1.0
    for bad, message in (
        ({"epochs": 2.5}, "epochs must be int, got 2.5"),
        ({"lr": True}, "lr must be float, got True"),
        ({"epochs": "many"}, "epochs: cannot read 'many' as int"),
    ):
        with pytest.raises(ValueError, match=message):
            recipes.resolve("studio", feature_dim=8, num_classes=3, overrides=bad)


def test_parse_sets_reads_each_fields_type() -> None:
    got = recipes.parse_sets(
        [
            "lr=1e-3",
            "epochs=7",
            "post.use_magnitudes=false",
            "betas=[0.9, 0.99]",
            "click-loss=filter",
            "post.cas_thresholds=[0.1,0.2]",
        ]
    )
    assert got == {
        "lr": 1e-3,
        "epochs": 7,
        "post.use_magnitudes": False,
        "betas": (0.9, 0.99),
        "click_loss": "filter",
        "post.cas_thresholds": (0.1, 0.2),
    }
    with pytest.raises(ValueError, match="key=value"):
        recipes.parse_sets(["lr"])
    with pytest.raises(ValueError, match="epochs: cannot read"):
        recipes.parse_sets(["epochs=many"])
    with pytest.raises(ValueError, match="unknown training option"):
        recipes.parse_sets(["learning_rate=1"])


def _write_split(root: Path, count: int = 6) -> None:
    (root / "val").mkdir(parents=True)
    for item in make_toy_videos(count, seed=2):
        write_npz_video(root / "val" / f"{item.name}.npz", item)
    (root / "classes.json").write_text(json.dumps(["a", "b"]))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "model.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_cli_records_the_recipe_and_reproduces_a_run_from_its_record(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _write_split(data)
    small = ["--hidden", "32", "--set", "embed_hidden=16", "--set", "filter_hidden=16"]
    first = _cli(
        "train", "--data", str(data), "--out", str(tmp_path / "a"), "--epochs", "2",
        "--device", "cpu", "--set", "lr=2e-4", "--set", "loss_weights.click=0.5", *small,
    )  # fmt: skip
    assert "recipe: studio + " in first.stdout and "lr=0.0002" in first.stdout
    record = json.loads((tmp_path / "a" / "recipe.json").read_text())
    assert record["name"] == "studio"
    assert record["overrides"]["lr"] == 2e-4 and record["overrides"]["loss_weights.click"] == 0.5
    _, _, _, meta = load_checkpoint(tmp_path / "a" / "model.pt")
    assert meta["recipe"] == record  # the checkpoint carries the same record
    assert meta["train_config"]["recipe"] == "studio"
    # the record fed back with --config gives the same configs and the same weights
    _cli("train", "--data", str(data), "--out", str(tmp_path / "b"), "--config",
         str(tmp_path / "a" / "recipe.json"))  # fmt: skip
    again = json.loads((tmp_path / "b" / "recipe.json").read_text())
    assert again == record
    a = torch.load(tmp_path / "a" / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b" / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # --recipe published on the command line wins over the file's recipe
    _cli("train", "--data", str(data), "--out", str(tmp_path / "c"), "--epochs", "1",
         "--recipe", "published", *small, "--device", "cpu")  # fmt: skip
    published = json.loads((tmp_path / "c" / "recipe.json").read_text())
    assert published["name"] == "published"
    assert published["model"]["input_norm"] == "none"
    assert published["train"]["lr_scaling"] == "none"


def test_cli_help_lists_recipes_and_every_option() -> None:
    text = _cli("train", "--help").stdout
    assert "--recipe {studio,published}" in text and "--set KEY=VALUE" in text
    assert "--config FILE.json" in text and "--click-loss" in text
    for key in ("loss_weights.click", "post.nms_threshold", "lr_scaling", "patience"):
        assert key in text
    for recipe in recipes.RECIPES.values():
        assert recipe.summary[:40] in text.replace("\n", " ").replace("  ", " ")


def test_cli_refuses_a_bad_set_with_a_message(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "model.cli", "train", "--data", str(tmp_path), "--out",
         str(tmp_path / "o"), "--set", "learning_rate=1"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and "unknown training option 'learning_rate'" in proc.stderr
