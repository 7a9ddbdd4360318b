"""Named training recipes: one place that says what ``studio`` and ``published`` mean.

A recipe is a set of :class:`~model.config.ModelConfig` and :class:`~model.config.TrainConfig`
field values. ``studio`` is the dataclasses' defaults (what Retrain, ``model.cli train`` and the
benchmarks run unless told otherwise); ``published`` is BackTAL's THUMOS14 recipe exactly
(VividLe/BackTAL, experiments/THUMOS14: raw features, one Adam lr 1e-4, PyTorch's default
initialisation, every loss term at full weight from the first step, 40 epochs, the paper's click
terms). Why studio differs, measured: docs/benchmarks.md ("The dead start", "Click losses").

Everything else (width, epochs, lr, any loss weight) is an override on top of a recipe: the
configs record the recipe's name (``TrainConfig.recipe``) and :func:`deviations` lists what was
overridden, so a model version says "studio" or "studio + lr=0.001".

    model_config, train_config = resolve("studio", feature_dim=2048, num_classes=20,
                                         overrides={"hidden": 256, "epochs": 20})
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from model.config import LossWeights, ModelConfig, PostConfig, TrainConfig


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    model: Mapping[str, Any] = field(default_factory=dict)  # ModelConfig field values
    train: Mapping[str, Any] = field(default_factory=dict)  # TrainConfig field values


RECIPES: dict[str, Recipe] = {
    "studio": Recipe(
        "studio",
        "published BackTAL + in-network input standardization, width-scaled Adam lr and "
        "classifier init (1 at the published widths), click CE ramped in over 2 epochs",
    ),
    "published": Recipe(
        "published",
        "BackTAL's THUMOS14 recipe as released: raw features, Adam lr 1e-4 for every weight, "
        "default init, all loss terms from step 1, the paper's click terms, 40 epochs",
        model={"input_norm": "none"},
        train={
            "lr_scaling": "none",
            "init_scaling": "none",
            "click_rampup_epochs": 0,
            "click_loss": "published",
            "patience": 0,
            "min_epochs": 0,
        },
    ),
}
RECIPE_NAMES = tuple(RECIPES)

# ModelConfig fields a recipe or an override may set (the data decides the other two).
_DATA_FIELDS = ("feature_dim", "num_classes")
_NESTED = {"loss_weights": LossWeights, "post": PostConfig}


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}") from None


def model_fields() -> tuple[str, ...]:
    names = (f.name for f in dataclasses.fields(ModelConfig))
    return tuple(n for n in names if n not in _DATA_FIELDS)


def train_fields() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name != "recipe")


def option_names() -> list[str]:
    """Every key an override may name: ModelConfig and TrainConfig fields, and the fields of
    the nested configs as ``loss_weights.click`` / ``post.nms_threshold``."""
    names = list(model_fields())
    for name in train_fields():
        if name in _NESTED:
            names += [f"{name}.{f.name}" for f in dataclasses.fields(_NESTED[name])]
        else:
            names.append(name)
    return names


def _split(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Overrides → (ModelConfig fields, TrainConfig fields); dotted keys become nested dicts."""
    model: dict[str, Any] = {}
    train: dict[str, Any] = {}
    known = set(option_names())
    for key, value in overrides.items():
        if key not in known:
            raise ValueError(f"unknown training option {key!r}; known: {', '.join(sorted(known))}")
        value = coerce(key, value)
        if "." in key:
            outer, inner = key.split(".", 1)
            train.setdefault(outer, {})[inner] = value
        elif key in model_fields():
            model[key] = value
        else:
            train[key] = value
    return model, train


def resolve(
    recipe: str = "studio",
    *,
    feature_dim: int,
    num_classes: int,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[ModelConfig, TrainConfig]:
    """The network and training configuration of ``recipe`` with ``overrides`` on top.

    Overrides are ModelConfig/TrainConfig field names (``hidden``, ``epochs``, ``lr``, ...) or
    nested ones (``loss_weights.click``, ``post.class_threshold``)."""
    base = get_recipe(recipe)
    model_over, train_over = _split(overrides or {})
    model_kwargs = {**base.model, **model_over}
    model_config = ModelConfig(feature_dim=feature_dim, num_classes=num_classes, **model_kwargs)
    train_kwargs: dict[str, Any] = {**base.train, "recipe": base.name}
    for key, value in train_over.items():
        if key in _NESTED:
            current = train_kwargs.get(key) or _NESTED[key]()
            train_kwargs[key] = replace(current, **_coerce_nested(_NESTED[key], value))
        else:
            train_kwargs[key] = value
    return model_config, TrainConfig(**train_kwargs)


def _coerce_nested(cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {sorted(unknown)}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def train_config(recipe: str = "studio", **overrides: Any) -> TrainConfig:
    """Only the TrainConfig of ``recipe`` (+ TrainConfig overrides)."""
    bad = set(overrides) & set(model_fields())
    if bad:
        raise ValueError(f"{sorted(bad)} are network options: use resolve()")
    return resolve(recipe, feature_dim=1, num_classes=1, overrides=overrides)[1]


def model_config(
    recipe: str = "studio", *, feature_dim: int, num_classes: int, **fields: Any
) -> ModelConfig:
    """Only the ModelConfig of ``recipe`` (+ ModelConfig overrides)."""
    bad = set(fields) - set(model_fields())
    if bad:
        raise ValueError(f"{sorted(bad)} are not network options")
    return resolve(recipe, feature_dim=feature_dim, num_classes=num_classes, overrides=fields)[0]


def _flat(config: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out |= _flat(value, f"{prefix}{f.name}.")
        else:
            out[prefix + f.name] = value
    return out


def deviations(model_config: ModelConfig, train_config: TrainConfig) -> dict[str, Any]:
    """Fields whose values differ from the recipe ``train_config.recipe`` names (the width and
    the data's shape count too, except feature_dim / num_classes)."""
    ref_model, ref_train = resolve(
        train_config.recipe,
        feature_dim=model_config.feature_dim,
        num_classes=model_config.num_classes,
    )
    ours = _flat(model_config) | _flat(train_config)
    ref = _flat(ref_model) | _flat(ref_train)
    return {k: v for k, v in ours.items() if ref.get(k) != v}


def describe(model_config: ModelConfig, train_config: TrainConfig, skip: Iterable[str] = ()) -> str:
    """ "studio" or "studio + hidden=256, lr=0.001" (fields in ``skip`` left out, e.g. the seed)."""
    changed = {k: v for k, v in deviations(model_config, train_config).items() if k not in skip}
    extra = ", ".join(f"{k}={v}" for k, v in sorted(changed.items()))
    return train_config.recipe + (f" + {extra}" if extra else "")


def recipe_record(model_config: ModelConfig, train_config: TrainConfig) -> dict[str, Any]:
    """What a checkpoint and a model version store about the recipe: its name, what was
    overridden and the resolved configs."""
    return {
        "name": train_config.recipe,
        "overrides": _plain(deviations(model_config, train_config)),
        "model": model_config.to_dict(),
        "train": train_config.to_dict(),
    }


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


# ----------------------------------------------------------------------------- parsing
def _field_type(key: str) -> Any:
    if "." in key:
        outer, inner = key.split(".", 1)
        return typing.get_type_hints(_NESTED[outer])[inner]
    if key in model_fields():
        return typing.get_type_hints(ModelConfig)[key]
    return typing.get_type_hints(TrainConfig)[key]


def coerce(key: str, value: Any) -> Any:
    """``value`` checked against (and, for text, read as) the type of option ``key``: a
    ValueError says what was expected (JSON overrides of a Retrain request come through here)."""
    if isinstance(value, str) and _field_type(key) is not str:
        return parse_value(key, value)
    hint = _field_type(key)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    if typing.get_origin(hint) is tuple and isinstance(value, list | tuple):
        return tuple(value)
    raise ValueError(f"{key} must be {getattr(hint, '__name__', hint)}, got {value!r}")


def parse_value(key: str, text: str) -> Any:
    """``text`` as the type of option ``key`` (``--set lr=1e-3``, ``--set betas=[0.9,0.99]``)."""
    hint = _field_type(key)
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return lowered in ("true", "1", "yes")
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
        if hint is str:
            return text
        if origin is tuple:
            return tuple(json.loads(text))
    except (ValueError, json.JSONDecodeError) as exc:
        name = getattr(hint, "__name__", str(hint))
        raise ValueError(f"{key}: cannot read {text!r} as {name}") from exc
    return json.loads(text)


def parse_sets(items: Iterable[str]) -> dict[str, Any]:
    """``["lr=1e-3", "loss_weights.click=0"]`` → {"lr": 0.001, "loss_weights.click": 0.0}."""
    out: dict[str, Any] = {}
    known = set(option_names())
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"--set takes key=value, got {item!r}")
        if key not in known:
            raise ValueError(f"unknown training option {key!r}; known: {', '.join(sorted(known))}")
        out[key] = parse_value(key, text.strip())
    return out


def load_config_file(path: str) -> tuple[str | None, dict[str, Any]]:
    """A JSON file ``{"recipe": "studio", "overrides": {"lr": 0.001, ...}}`` (a model
    version's or checkpoint's ``recipe`` record is one) → (recipe or None, overrides)."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    recipe = data.get("recipe", data.get("name"))
    overrides = data.get("overrides", {})
    if not isinstance(overrides, dict):
        raise ValueError(f"{path}: 'overrides' must be an object")
    for key in overrides:
        if key not in set(option_names()):
            raise ValueError(f"{path}: unknown training option {key!r}")
    return recipe, {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
