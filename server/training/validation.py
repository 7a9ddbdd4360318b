"""The validation set of a training: which videos pick the best epoch, and the measure of
every trained version on the validation videos.

Validation videos (``videos.is_validation``) never train (``build_dataset`` keeps them out
of the training items). When at least ``BACKTAL_VALIDATION_MIN_VIDEOS`` of them have ground
truth (imported, or an annotator's segments) they replace the random held-out fraction of
the training videos for choosing the epoch. Otherwise the held-out fraction stays, and the
job log says in a sentence why. When that fraction would hold out fewer than
``BACKTAL_VALIDATION_MIN_VIDEOS`` videos, none is held out: every video trains and the last
epoch is kept. An epoch chosen on a handful of videos is chosen by noise (on THUMOS14-sim a
40-video fold's mAP@0.5 moves by 3–6 points between two trainings that differ only in the
seed: docs/research/click-losses.md), and with the studio recipe the last epochs are the
best ones on average; a small project also needs every labelled video for training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from model.data import VideoItem
from server.training.dataset import Dataset

if TYPE_CHECKING:
    from model.config import PostConfig
    from model.network import BackTAL


@dataclass
class HeldOut:
    """What a training fits on and what picks its epoch."""

    train_items: list[VideoItem]
    val_items: list[VideoItem]
    source: str  # "validation" (the validation videos) | "holdout" (a fraction of training)
    report: bool  # False: too few held-out videos for their metrics to mean anything
    note: str  # one sentence for the job log


def _videos(n: int) -> str:
    return f"{n} video{'' if n == 1 else 's'}"


def choose_held_out(data: Dataset, fraction: float, seed: int, min_videos: int) -> HeldOut:
    """The validation videos when there are ``min_videos`` with ground truth, else the
    seeded held-out ``fraction`` of the training videos (``model.train.split_holdout``)."""
    from model.train import split_holdout

    have = len(data.validation)
    if have >= min_videos and have > 0:
        return HeldOut(
            list(data.items),
            list(data.validation),
            "validation",
            True,
            f"the best epoch is chosen on the {_videos(have)} of the validation set "
            f"({data.summary.get('validation_segments', 0)} segments); none of them trains",
        )
    train, held = split_holdout(data.items, fraction, seed)
    why = (
        f"only {_videos(have)} of the validation set ha{'s' if have == 1 else 've'} segments "
        f"({min_videos} needed, BACKTAL_VALIDATION_MIN_VIDEOS)"
    )
    if not held:
        return HeldOut(
            train,
            [],
            "holdout",
            False,
            f"{why} and no training video is held out: the last epoch is kept and "
            "no held-out metrics are reported",
        )
    if len(held) < min_videos:
        return HeldOut(
            list(data.items),
            [],
            "holdout",
            False,
            f"{why}, and holding out a fraction of the {_videos(len(data.items))} would leave "
            f"{_videos(len(held))} — too few to choose an epoch or measure the model: every "
            f"video trains and the last epoch is kept; mark at least {min_videos} videos with "
            "segments as validation to measure versions",
        )
    note = (
        f"{why}, so the best epoch is chosen on {_videos(len(held))} held out of the "
        f"{_videos(len(data.items))} for training"
    )
    return HeldOut(train, held, "holdout", True, note)


def evaluate(
    model: BackTAL,
    items: Sequence[VideoItem],
    class_names: Sequence[str],
    post: PostConfig,
    refiner: Any = None,
) -> dict[str, Any]:
    """mAP per tIoU (ActivityNet, ``model.evaluate.compute_map``), the DETAD
    false-positive breakdown (``model.analysis.false_positive_analysis``) and each video's
    own mAP (``model.compare.per_video_map``: paired comparisons of versions) of ``model`` on
    ``items`` (videos with ground truth). JSON-able."""
    from model.analysis import false_positive_analysis
    from model.compare import per_video_map
    from model.evaluate import compute_map
    from model.train import predict

    with_gt = [it for it in items if it.gt_segments]
    if not with_gt:
        raise ValueError("no video with ground truth to evaluate on")
    results = predict(model, with_gt, post, refiner=refiner)
    gt = {it.name: [(s, e, class_names[c]) for s, e, c in it.gt_segments or []] for it in with_gt}
    preds = {
        name: [(s, e, class_names[c], score) for s, e, c, score in res.segments]
        for name, res in results.items()
    }
    result = compute_map(gt, preds)
    return {
        "videos": [it.name for it in with_gt],
        "segments": int(sum(len(v) for v in gt.values())),
        "mAP": result["mAP"],
        "avg_0.1_0.7": result["avg_0.1_0.7"],
        "avg_0.3_0.7": result["avg_0.3_0.7"],
        "ap": result["ap"],
        "fp_analysis": false_positive_analysis(gt, preds),
        "per_video": per_video_map(gt, preds),
    }


def training_fit(
    model: BackTAL, data: Dataset, post: PostConfig, refiner: Any = None
) -> tuple[dict[str, Any] | None, str | None]:
    """mAP of the version on the *training* videos that have imported ground truth, and a
    line for the job log (None, None when none has): these videos trained the model, so this
    checks that it learned what it was shown — it does not measure how it generalizes (the
    validation set does)."""
    from model.evaluate import compute_map
    from model.train import predict

    with_gt = [
        it
        for it in data.items
        if it.gt_segments
        and all(g.origin == "imported" for g in data.ground_truth.get(it.name, []))
    ]
    if not with_gt:
        return None, None
    results = predict(model, with_gt, post, refiner=refiner)
    names = data.class_names
    gt = {it.name: [(s, e, names[c]) for s, e, c in it.gt_segments or []] for it in with_gt}
    preds = {n: [(s, e, names[c], sc) for s, e, c, sc in r.segments] for n, r in results.items()}
    result = compute_map(gt, preds)
    out = {
        "videos": len(with_gt),
        "mAP": result["mAP"],
        "avg_0.1_0.7": result["avg_0.1_0.7"],
    }
    line = (
        f"fit on the imported ground truth of the {_videos(len(with_gt))} it trained on: "
        f"mAP@0.5 {out['mAP'].get('0.5', float('nan')):.3f}, avg 0.1:0.7 "
        f"{out['avg_0.1_0.7']:.3f} (a check that it learned what it was shown, not a measure "
        "of new videos: that is the validation set's)"
    )
    return out, line


def measure(
    model: BackTAL, data: Dataset, post: PostConfig, min_videos: int, refiner: Any = None
) -> tuple[dict[str, Any] | None, str]:
    """The version's measure on the validation set (``metrics["validation"]``) and a line
    for the job log; None when no validation video has ground truth."""
    if not data.validation:
        return None, (
            "not measured on a validation set: no validation video has segments (an admin "
            "marks videos as validation; their imported ground truth or drawn segments count)"
        )
    out = evaluate(model, data.validation, data.class_names, post, refiner)
    out["enough"] = len(data.validation) >= min_videos
    line = (
        f"validation set ({_videos(len(data.validation))}, {out['segments']} segments): "
        f"mAP@0.5 {out['mAP'].get('0.5', float('nan')):.3f}, "
        f"avg 0.1:0.7 {out['avg_0.1_0.7']:.3f}"
    )
    if not out["enough"]:
        line += f" — fewer than {min_videos} videos: a rough measure"
    return out, line
