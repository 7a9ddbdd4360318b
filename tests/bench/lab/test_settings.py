"""bench.lab.settings: the results key (old keys stay valid; a named recipe's key says what it
resolves to), the shared options, the recipe options and what they refuse."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bench.lab import settings as S
from bench.lab.training import configs
from model import recipes
from model.sim import SimParams
from tests.bench.tiny import tiny_settings

HERE = Path(__file__)  # only hashed


def _parser(recipe_default: str | None = None) -> argparse.ArgumentParser:
    p = S.build_parser("test", "test")
    if recipe_default is not None:
        S.add_recipe_options(p, recipe_default)
    return p


def _args(*extra: str, recipe_default: str | None = "studio") -> argparse.Namespace:
    return _parser(recipe_default).parse_args(["--gt", str(HERE), "--clicks", str(HERE), *extra])


def test_quick_and_full_defaults() -> None:
    parser = _parser()
    args = parser.parse_args(["--quick"])
    assert args.quick and args.hidden == 128 and args.T == 375
    with pytest.raises(SystemExit):
        parser.parse_args(["--modes", "clicks"])
    settings = S.settings_from_args(_args("--quick", recipe_default=None))
    assert (settings.seeds, settings.limit, settings.epochs) == ((0,), 60, 10)
    settings = S.settings_from_args(_args(recipe_default=None))
    assert (settings.seeds, settings.limit, settings.epochs) == ((0, 1, 2), None, 40)
    # the legacy recipe: the published filter, lr 1e-3, batch 8, z-scored features
    assert (settings.filter_norm, settings.lr, settings.batch_size) == ("none", 1e-3, 8)
    assert settings.standardize and settings.zero_losses == ()
    assert settings.gt_sha == settings.clicks_sha and len(settings.gt_sha) == 64


def test_sim_param_overrides_are_checked_and_sorted() -> None:
    assert S.parse_sim_params(["app_class_norm=3", "camera_norm=3.5"]) == (
        ("app_class_norm", 3.0),
        ("camera_norm", 3.5),
    )
    for bad in (["nope=1"], ["app_class_norm"], ["app_class_norm=x"], ["T=10"]):
        with pytest.raises(SystemExit):
            S.parse_sim_params(bad)
    v2 = S.settings_from_args(_args("--sim-version", "2", recipe_default=None))
    assert v2.key()["sim_params"]["lookalike_rate_per_min"] == 0.0
    default = tiny_settings(HERE, HERE)
    first = replace(default, sim_overrides=(("app_class_norm", 3.0),))
    assert default.key()["sim_params"]["app_class_norm"] == SimParams().app_class_norm
    assert first.key()["sim_params"]["app_class_norm"] == 3.0
    assert default.key() != first.key()  # results of one sim never resume into the other


def test_options_at_their_old_behaviour_stay_out_of_the_key() -> None:
    """Results stored before an option existed keep resuming: the key of the legacy recipe
    has exactly the fields it had then."""
    default = tiny_settings(HERE, HERE)
    key = default.key()
    assert set(key) == {
        "feature_dim", "T", "limit", "hidden", "aux_hidden", "filter_norm", "standardize",
        "epochs", "batch_size", "lr", "holdout", "gt_sha", "clicks_sha", "sim_params",
    }  # fmt: skip
    assert replace(default, zero_losses=("click",)).key()["zero_losses"] == ["click"]
    assert replace(default, init_scaling="width").key()["init_scaling"] == "width"
    assert replace(default, click_rampup_epochs=2).key()["click_rampup_epochs"] == 2
    assert replace(default, seeds=(0, 1), modes=("weak",)).key() == key


def test_dead_start_options_reach_the_trainer() -> None:
    default = tiny_settings(HERE, HERE, modes=("bg-click",))
    items = [type("Item", (), {"features": np.zeros((4, 16), np.float32)})()]
    scaled = replace(default, init_scaling="width", click_rampup_epochs=2)
    _, config = configs("weak", 0, scaled, items, 3, "cpu")  # type: ignore[arg-type]
    assert config.init_scaling == "width" and config.click_rampup_epochs == 2
    _, config = configs("weak", 0, default, items, 3, "cpu")  # type: ignore[arg-type]
    assert config.init_scaling == "none" and config.click_rampup_epochs == 0
    args = _parser().parse_args(["--init-scaling", "width", "--click-rampup-epochs", "2"])
    assert args.init_scaling == "width" and args.click_rampup_epochs == 2
    args = _parser().parse_args(["--zero-loss", "click", "--zero-loss", "embedding"])
    assert args.zero_losses == ["click", "embedding"]


def test_a_named_recipe_key_names_the_recipe_its_overrides_and_what_they_resolve_to() -> None:
    settings = S.settings_from_args(_args("--click-loss", "filter", "--set", "lr=2e-4"))
    assert settings.recipe == "studio" and not settings.standardize  # raw features in
    assert settings.recipe_overrides == (("click_loss", "filter"), ("lr", 0.0002))
    key = settings.key()
    for legacy in ("filter_norm", "standardize", "batch_size", "lr", "input_norm"):
        assert legacy not in key  # the legacy recipe's fields do not apply
    assert key["recipe"] == "studio"
    assert key["recipe_overrides"] == [["click_loss", "filter"], ["lr", 0.0002]]
    resolved = key["recipe_resolved"]["train"]
    assert resolved["lr"] == 0.0002 and resolved["click_loss"] == "filter"
    assert resolved["lr_scaling"] == "width" and resolved["holdout_fraction"] == 0.1
    assert key["recipe_resolved"]["model"]["hidden"] == 128
    published = S.settings_from_args(_args("--recipe", "published"))
    assert published.key()["recipe_resolved"]["train"]["lr_scaling"] == "none"
    assert published.key() != S.settings_from_args(_args()).key()


def test_a_named_recipe_trains_through_model_recipes() -> None:
    settings = S.settings_from_args(_args("--click-loss", "no-click-ce", "--epochs", "7"))
    items = [type("Item", (), {"features": np.zeros((4, 16), np.float32)})()]
    model_config, config = configs("bg-click", 3, settings, items, 5, "cpu")  # type: ignore[arg-type]
    expected = recipes.resolve(
        "studio",
        feature_dim=16,
        num_classes=5,
        overrides={
            "hidden": 128,
            "embed_hidden": 128,
            "filter_hidden": 128,
            "epochs": 7,
            "holdout_fraction": 0.1,
            "supervision": "bg-click",
            "seed": 3,
            "device": "cpu",
            "click_loss": "no-click-ce",
        },
    )
    assert (model_config, config) == expected
    assert config.recipe == "studio" and model_config.input_norm == "standardize"
    _, upper = configs("upper-bound", 3, settings, items, 5, "cpu")  # type: ignore[arg-type]
    assert upper.supervision == "bg-click"


def test_recipe_options_refuse_what_does_not_fit() -> None:
    for extra, words in (
        (["--lr", "1e-3"], "--lr belongs to the legacy recipe"),  # even at its default
        (["--batch-size", "8"], "--batch-size belongs to the legacy recipe"),
        (["--no-standardize"], "--no-standardize belongs to the legacy recipe"),
        (["--zero-loss", "click"], "--zero-loss belongs to the legacy recipe"),
        (["--set", "nope=1"], "unknown training option 'nope'"),
        (["--set", "lr=fast"], "cannot read 'fast'"),
        (["--legacy-recipe", "--set", "lr=1"], "apply to a named recipe"),
        (["--legacy-recipe", "--click-loss", "filter"], "apply to a named recipe"),
    ):
        with pytest.raises(SystemExit, match=words):
            S.settings_from_args(_args(*extra))
    with pytest.raises(SystemExit):  # one or the other
        _args("--legacy-recipe", "--recipe", "published")
    legacy = S.settings_from_args(_args("--legacy-recipe", "--lr", "1e-4"))
    assert legacy.recipe == "" and legacy.lr == 1e-4 and legacy.standardize
    no_options = S.settings_from_args(_args(recipe_default=None))  # e.g. bench.supervision
    assert no_options.recipe == "" and no_options.key() == replace(legacy, lr=1e-3).key()


def test_command_line_is_the_module_form() -> None:
    assert S.command_line("bench.guided", ["--k", "3", "--out-dir", "a b"]) == (
        "python -m bench.guided --k 3 --out-dir 'a b'"
    )
