"""A training job's parameters → the trainer's configs, through the named recipe.

The one place where Retrain's request becomes :func:`model.recipes.resolve` input: the recipe
(default ``studio``, the same object ``model.cli train`` and the benchmarks use), the product's
own defaults on top (a base-module width of 256 and a fifth of the videos held out, sized for a
lab's CPU and a lab's small projects), then what the request set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from model import recipes
from model.config import ModelConfig, TrainConfig

PRODUCT_DEFAULTS: dict[str, Any] = {"hidden": 256, "holdout_fraction": 0.2}
# request field -> config field (None in a request: the recipe's / the product's default)
REQUEST_FIELDS = {
    "supervision": "supervision",
    "epochs": "epochs",
    "hidden": "hidden",
    "seed": "seed",
    "holdout_fraction": "holdout_fraction",
    "device": "device",
}


def job_overrides(params: Mapping[str, Any], videos: int | None = None) -> dict[str, Any]:
    """The overrides a job applies to its recipe: product defaults, the request's named
    fields, then its generic ``overrides``; the batch never exceeds the number of videos."""
    out = dict(PRODUCT_DEFAULTS)
    for field, key in REQUEST_FIELDS.items():
        if params.get(field) is not None:
            out[key] = params[field]
    out |= dict(params.get("overrides") or {})
    if videos is not None:
        batch = int(
            out.get("batch_size", recipes.train_config(params.get("recipe") or "studio").batch_size)
        )
        out["batch_size"] = max(1, min(batch, videos))
    return out


def resolve_job(
    params: Mapping[str, Any], feature_dim: int, num_classes: int, videos: int
) -> tuple[ModelConfig, TrainConfig]:
    """(ModelConfig, TrainConfig) of a training job (raises ValueError on a bad option)."""
    return recipes.resolve(
        params.get("recipe") or "studio",
        feature_dim=feature_dim,
        num_classes=num_classes,
        overrides=job_overrides(params, videos),
    )


def check_request(params: Mapping[str, Any]) -> None:
    """Raise ValueError, with the reason, when a request's recipe or overrides cannot
    resolve (checked when the job is queued, not when a worker picks it up)."""
    recipes.resolve(
        params.get("recipe") or "studio",
        feature_dim=1,
        num_classes=1,
        overrides=job_overrides(params),
    )
