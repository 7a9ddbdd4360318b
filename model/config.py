"""Frozen configuration dataclasses, storable as plain JSON (``to_dict`` / ``from_dict``).

The defaults are the ``studio`` recipe (:mod:`model.recipes`): the published THUMOS14 settings
of BackTAL (VividLe/BackTAL, experiments/THUMOS14) plus what the benchmark showed the published
recipe needs to learn at any width (docs/benchmarks.md). ``model.recipes.resolve("published")``
gives the published settings exactly; every field says which value is published.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Self

SUPERVISION_MODES = ("weak", "action-click", "bg-click", "both")
AFFINITY_MODES = ("paper", "official")
FILTER_NORMS = ("none", "topk")
INPUT_NORMS = ("none", "standardize")
LR_SCALINGS = ("none", "width")
INIT_SCALINGS = ("none", "width")
# Shapes of the published network: the reference of lr_scaling and init_scaling "width".
PUBLISHED_FEATURE_DIM = 2048
PUBLISHED_HIDDEN = 2048
PUBLISHED_AUX_HIDDEN = 512
PRECISIONS = ("fp32", "bf16")
# What background clicks train (model.losses): "published" = the paper's three terms on the
# class logits and the embedding; the others are the candidates of docs/benchmarks.md.
CLICK_LOSSES = ("published", "no-click-ce", "filter", "keep-labelled", "separation")


class _PlainDict:
    """Mixin: dataclass <-> dict of JSON types (tuples become lists, nested configs dicts)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, _PlainDict):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown keys {sorted(unknown)}")
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            hint = hints[name]
            if isinstance(hint, type) and issubclass(hint, _PlainDict):
                value = hint.from_dict(value)
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)


@dataclass(frozen=True)
class ModelConfig(_PlainDict):
    """Network shape. ``hidden`` = 2048 as published; smaller widths train on a CPU."""

    feature_dim: int
    num_classes: int
    hidden: int = 2048
    embed_dim: int = 32
    embed_hidden: int = 512
    filter_hidden: int = 512
    affinity: str = "paper"  # "paper": per-tap weighting; "official": released-code behaviour
    dropout: float = 0.7
    topk_ratio: int = 8  # video score = mean of the top floor(T / topk_ratio) activations
    leaky_slope: float = 0.01
    # "none": a_t as published. "topk": a_t divided by the mean of its top-k values (the same
    # k as the video score), so the filter can only suppress some snippets relative to others
    # and cannot shrink the whole video (see docs/benchmarks.md, "filter collapse").
    filter_norm: str = "none"
    # "none": features as given (published). "standardize" (studio): the network z-scores every
    # feature dimension with the mean and std of the training snippets, stored with the
    # weights (set by ``fit``), so raw features go in at training and at inference alike.
    input_norm: str = "standardize"

    def __post_init__(self) -> None:
        if self.input_norm not in INPUT_NORMS:
            raise ValueError(f"input_norm must be one of {INPUT_NORMS}, got {self.input_norm!r}")
        if self.affinity not in AFFINITY_MODES:
            raise ValueError(f"affinity must be one of {AFFINITY_MODES}, got {self.affinity!r}")
        if self.filter_norm not in FILTER_NORMS:
            raise ValueError(f"filter_norm must be one of {FILTER_NORMS}, got {self.filter_norm!r}")
        if self.feature_dim < 1 or self.num_classes < 1 or self.hidden < 1:
            raise ValueError("feature_dim, num_classes and hidden must be positive")


@dataclass(frozen=True)
class LossWeights(_PlainDict):
    """Loss weights and embedding margins published for THUMOS14."""

    video_base: float = 1.0
    video_supp: float = 1.0
    fg_norm: float = 1e-4  # L1 norm of the foreground weights
    click: float = 1.0  # cross-entropy of the base CAS at clicked snippets
    separation: float = 1.0  # top-k video score vs mean CAS at background clicks
    embedding: float = 0.8
    similar_min: float = 0.5  # fg-fg and bg-bg cosine must be at least this
    different_max: float = 0.1  # fg-bg cosine must be at most this


def _frange(start: float, stop: float, step: float) -> tuple[float, ...]:
    count = round((stop - start) / step)
    return tuple(round(start + i * step, 6) for i in range(count))


@dataclass(frozen=True)
class PostConfig(_PlainDict):
    """Inference thresholds of the official THUMOS14 post-processing."""

    class_threshold: float = 0.25
    cas_thresholds: tuple[float, ...] = _frange(0.0, 0.25, 0.025)  # 10 values
    magnitude_thresholds: tuple[float, ...] = _frange(0.3, 0.8, 0.075)  # 7 values
    use_magnitudes: bool = True
    outer_lambda: float = 0.25
    gamma: float = 0.2  # weight of the video score in a proposal's score
    nms_threshold: float = 0.55
    nms_plus_one: bool = False  # official quirk: +1 on lengths measured in seconds


@dataclass(frozen=True)
class TrainConfig(_PlainDict):
    """Optimisation and model selection. Adam as published (lr 1e-4, wd 5e-4, batch 16); the
    defaults are the studio recipe (``recipe`` names the recipe these values were resolved from,
    see :mod:`model.recipes`)."""

    recipe: str = "studio"
    supervision: str = "bg-click"
    epochs: int = 40
    batch_size: int = 16
    lr: float = 1e-4
    weight_decay: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    seed: int = 0
    device: str = "auto"  # "auto" = cuda when available, else cpu
    precision: str = "fp32"  # "bf16": autocast the network to bfloat16 (losses stay fp32)
    holdout_fraction: float = 0.1  # training videos held out for choosing the best epoch
    # "none": one Adam lr for every weight (published). "width" (studio): each weight matrix's lr is
    # multiplied by (published fan-in / its fan-in) — 1 at the published shapes — so that a
    # narrower network's logits move per step as the published one's do (Adam's step per
    # weight is ~lr whatever the width; a layer's output change sums fan-in such steps).
    lr_scaling: str = "width"
    # "none": PyTorch's default initialisation (published). "width" (studio): the classifier
    # starts at its default weights x sqrt(published width / width) — 1 at the published
    # shapes — so that, with lr_scaling="width", one Adam step of the base module moves the
    # logits as far as in the published network (its output change reaches the logits through
    # the classifier, summed coherently over the width; see docs/benchmarks.md, "dead start").
    init_scaling: str = "width"
    # 0: every loss term at full weight from the first step (published). N > 0 (studio: 2): the
    # click cross-entropy's weight is multiplied by min(1, (epoch - 1) / N) (epoch 1-based): off
    # in the first epoch, full from epoch N + 1; the other terms are not scheduled.
    click_rampup_epochs: int = 2
    # which terms background clicks train (CLICK_LOSSES, model.losses): "published" = the
    # paper's click cross-entropy, score separation and embedding loss.
    click_loss: str = "published"
    # Early stopping: 0 = train all ``epochs`` (published). N > 0: stop once the held-out
    # selection criterion has not improved for N epochs (never before ``min_epochs``); the best
    # epoch's weights are returned either way. Needs held-out videos.
    patience: int = 0
    min_epochs: int = 0
    # A second stage (model.refine): click-bounded pseudo-segments from this model and a
    # boundary-regressing localizer trained on them, which re-draws every predicted segment's
    # edges. False: the published single stage.
    second_stage: bool = False
    loss_weights: LossWeights = field(default_factory=LossWeights)
    post: PostConfig = field(default_factory=PostConfig)

    def __post_init__(self) -> None:
        if self.supervision not in SUPERVISION_MODES:
            raise ValueError(
                f"supervision must be one of {SUPERVISION_MODES}, got {self.supervision!r}"
            )
        if self.lr_scaling not in LR_SCALINGS:
            raise ValueError(f"lr_scaling must be one of {LR_SCALINGS}, got {self.lr_scaling!r}")
        if self.init_scaling not in INIT_SCALINGS:
            raise ValueError(
                f"init_scaling must be one of {INIT_SCALINGS}, got {self.init_scaling!r}"
            )
        if self.click_rampup_epochs < 0:
            raise ValueError("click_rampup_epochs must be >= 0")
        if self.click_loss not in CLICK_LOSSES:
            raise ValueError(f"click_loss must be one of {CLICK_LOSSES}, got {self.click_loss!r}")
        if self.patience < 0 or self.min_epochs < 0:
            raise ValueError("patience and min_epochs must be >= 0")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ValueError("holdout_fraction must be in [0, 1)")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")
