"""A comparison job's request and its answer (the table, paired differences, learning curve)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from server.jobs.schemas import JobOut
from server.schemas import Schema

DEFAULT_FRACTIONS = [0.25, 0.5]


class ComparisonRequest(Schema):
    recipe: Literal["studio", "published"] = Field(
        default="studio", description="The recipe every training starts from (model.recipes)."
    )
    epochs: int | None = Field(default=None, ge=1, le=1000, description="Default: the recipe's.")
    hidden: int | None = Field(
        default=None, ge=8, le=4096, description="Base-module width. Default 256 (published: 2048)."
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="One seed for every training.")
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        max_length=64,
        description='Further training options for every training, as for Retrain (e.g. {"lr": '
        "0.001}); `supervision` is the comparison's to set.",
    )
    include_video_ids: list[int] | None = Field(default=None, max_length=100_000)
    extractor: str | None = Field(default=None, description="Default: the most common one.")
    holdout_fraction: float | None = Field(
        default=None,
        ge=0.0,
        lt=1.0,
        description="Training videos held out to choose each training's epoch (the same ones "
        "for every training; default 0.2). The validation set only measures.",
    )
    click_fractions: list[float] = Field(
        default_factory=lambda: list(DEFAULT_FRACTIONS),
        max_length=6,
        description="The learning curve's nested subsets of the background clicks, besides "
        "all of them (each in (0, 1)).",
    )
    queue: bool = Field(default=False, description="Queue behind a running comparison.")

    @field_validator("click_fractions")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        bad = [f for f in value if not 0.0 < f < 1.0]
        if bad:
            raise ValueError(
                f"click fractions must lie between 0 and 1 (all clicks are always used), got {bad}"
            )
        return sorted(set(value))

    @field_validator("overrides")
    @classmethod
    def _no_supervision(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "supervision" in value:
            raise ValueError("the comparison sets the supervision of each training itself")
        return value


class ComparisonOut(Schema):
    job: JobOut
    result: dict[str, Any] | None = Field(
        description="While it runs: the plan and the trainings finished so far; at the end also "
        "`paired` and `learning_curve` (README, Does annotation pay here?)."
    )
