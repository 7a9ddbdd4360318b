"""Handlers of ``train`` and ``predict`` jobs: database rows in, BackTAL out, and back."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from model.suggest import curve_points
from server.db import on_commit
from server.housekeeping.checkpoints import checkpoints_to_drop
from server.housekeeping.checkpoints import remove_files as remove_checkpoint_files
from server.jobs import service as jobs
from server.models import ActivationCurve, JobKind, ModelVersion, Prediction
from server.storage import ObjectNotFound
from server.storage.files import local_copy
from server.suggestions.compute import (
    background_click_times,
    model_labels,
    replace_suggestions,
    suggest_config,
)
from server.training.configs import resolve_job
from server.training.dataset import Dataset, build_dataset
from server.training.service import check_trainable
from server.training.validation import choose_held_out, training_fit
from server.training.validation import measure as measure_on_validation
from server.worker.context import JobCancelled, JobContext, PermanentJobError

if TYPE_CHECKING:
    from model.config import ModelConfig, TrainConfig
    from model.data import VideoItem
    from model.train import FitResult

MODELS = "models"


def _fmt_losses(losses: dict[str, float]) -> str:
    total = losses.get("total")
    rest = ", ".join(f"{k} {v:.3f}" for k, v in losses.items() if k != "total")
    return (f"loss {total:.4f}" if total is not None else "") + (f" ({rest})" if rest else "")


def resolve_recipe(
    params: dict[str, Any], data: Dataset
) -> tuple[ModelConfig, TrainConfig, dict[str, Any]]:
    """A training job's configs (``server.training.configs`` → ``model.recipes``) for this
    data set, and the recipe record a model version keeps (name, overrides, configs, text).
    Retrain and every training of a comparison job (server/worker/compare_jobs.py) go
    through here."""
    from model.recipes import describe, recipe_record

    feature_dim = int(data.items[0].features.shape[1])
    try:
        model_config, train_config = resolve_job(
            params, feature_dim, len(data.class_names), len(data.items)
        )
    except ValueError as exc:  # queued by an older server, or a feature set it cannot take
        raise PermanentJobError(f"training options: {exc}") from exc
    recipe = recipe_record(model_config, train_config)
    recipe["text"] = describe(model_config, train_config, skip=("supervision", "seed", "device"))
    return model_config, train_config, recipe


def fit_model(
    ctx: JobContext,
    train_config: TrainConfig,
    model_config: ModelConfig,
    train_items: list[VideoItem],
    val_items: list[VideoItem],
    class_names: list[str],
    on_progress: Callable[[dict[str, Any]], None],
) -> FitResult:
    """``model.train.fit`` under the job: cancelling the job stops the training."""
    from model.train import TrainingCancelled, fit

    try:
        return fit(
            train_config,
            model_config,
            train_items,
            val_items,
            class_names=class_names,
            on_progress=on_progress,
            should_stop=ctx.should_stop,
        )
    except TrainingCancelled as exc:
        raise JobCancelled(str(exc)) from exc


def run_train(ctx: JobContext) -> Callable[[Session], str | None]:
    """Build the dataset from the database, fit BackTAL, save a checkpoint, evaluate."""
    from model.evaluate import compute_map
    from model.train import predict, save_checkpoint

    p = ctx.params
    supervision = str(p.get("supervision", "bg-click"))
    with ctx.session() as s:
        data = build_dataset(
            s,
            ctx.store(),
            extractor=p.get("extractor"),
            video_ids=p.get("include_video_ids"),
            approved_only=bool(p.get("approved_only")),
        )
    try:
        check_trainable(data.summary, supervision)
    except Exception as exc:  # the labels changed since the job was queued
        raise PermanentJobError(getattr(exc, "detail", str(exc))) from exc
    feature_dim = int(data.items[0].features.shape[1])
    model_config, train_config, recipe = resolve_recipe(p, data)
    ctx.log(f"recipe: {recipe['text']}")
    ctx.log(
        f"training {supervision} on {len(data.items)} videos "
        f"({data.background_clicks} background / {data.action_clicks} action click snippets), "
        f"D={feature_dim}, C={len(data.class_names)}, hidden={model_config.hidden}"
    )
    min_val = ctx.settings.validation_min_videos
    held_out = choose_held_out(data, train_config.holdout_fraction, train_config.seed, min_val)
    ctx.log(held_out.note)
    history: list[dict[str, Any]] = []

    def on_progress(info: dict[str, Any]) -> None:
        history.append({"epoch": info["epoch"], "losses": info["losses"], "val": info["val"]})
        line = f"epoch {info['epoch']}/{info['epochs']}: {_fmt_losses(info['losses'])}"
        if info["val"] and held_out.report:
            line += " | held-out " + ", ".join(f"{k} {v:.3f}" for k, v in info["val"].items())
        ctx.log(line)
        ctx.progress(
            0.9 * info["epoch"] / info["epochs"],
            line,
            metrics={
                "history": history,
                "epochs": info["epochs"],
                "best_epoch": info["best_epoch"],
            },
        )

    result = fit_model(
        ctx,
        train_config,
        model_config,
        held_out.train_items,
        held_out.val_items,
        data.class_names,
        on_progress,
    )
    ctx.check_stop()

    metrics: dict[str, Any] = {
        "best_epoch": result.best_epoch,
        "selection": result.selection,
        "holdout_videos": result.holdout,
        "holdout": result.best_metrics if result.holdout and held_out.report else {},
        "held_out_from": held_out.source,
        "held_out_note": held_out.note,
        "history": history,
    }
    held = [it for it in data.items if it.name in set(result.holdout) and it.gt_segments]
    if held:  # mAP on held-out videos that have ground truth (logged when the split is enough)
        preds = predict(result.model, held, train_config.post, refiner=result.refiner)
        gt = {
            it.name: [(s, e, data.class_names[c]) for s, e, c in it.gt_segments or []]
            for it in held
        }
        pr = {
            name: [(s, e, data.class_names[c], sc) for s, e, c, sc in res.segments]
            for name, res in preds.items()
        }
        metrics["holdout_map"] = compute_map(gt, pr)
        if held_out.report:
            ctx.log(
                f"held-out mAP on {len(held)} videos with ground truth: "
                f"mAP@0.5 {metrics['holdout_map']['mAP'].get('0.5', float('nan')):.3f}, "
                f"avg 0.1:0.7 {metrics['holdout_map']['avg_0.1_0.7']:.3f}"
            )
    validation, line = measure_on_validation(
        result.model, data, train_config.post, min_val, result.refiner
    )
    if validation is not None:
        metrics["validation"] = validation
    ctx.log(line)
    fit_check, fit_line = training_fit(result.model, data, train_config.post, result.refiner)
    if fit_check is not None:
        metrics["training_fit"] = fit_check
        ctx.log(fit_line or "")
    storage = ctx.store()
    checkpoint_key = f"{MODELS}/job{ctx.job_id}-{uuid.uuid4().hex[:8]}.pt"
    with ctx.work_dir() as work:
        local = work / "checkpoint.pt"
        save_checkpoint(
            local,
            result.model,
            model_config,
            train_config,
            data.class_names,
            metrics,
            refiner=result.refiner,
        )
        storage.put_file(checkpoint_key, local, move=True)
    ctx.progress(0.95, "checkpoint written", force=True)
    summary = dict(data.summary)
    summary["holdout_videos"] = len(result.holdout)
    activate = bool(p.get("activate", True))

    def publish(s: Session) -> str:
        version = ModelVersion(
            job_id=ctx.job_id,
            supervision=supervision,
            config={
                "model": model_config.to_dict(),
                "train": train_config.to_dict(),
                "recipe": recipe,
                "extractor": data.extractor,
            },
            class_names=data.class_names,
            checkpoint_path=checkpoint_key,
            metrics=metrics,
            data_summary=summary,
            is_active=False,
        )
        s.add(version)
        s.flush()
        if activate:
            s.execute(update(ModelVersion).values(is_active=False))
            version.is_active = True
        jobs.enqueue(
            s,
            JobKind.predict,
            {"model_version_id": version.id},
            model_version_id=version.id,
            created_by=None,
            max_attempts=ctx.settings.job_max_attempts,
        )
        s.flush()
        # checkpoint retention: the active version's, the newest N, those a job still needs
        keep = ctx.settings.checkpoint_keep_last
        dropped = checkpoints_to_drop(s, storage, keep)
        on_commit(s, lambda: remove_checkpoint_files(storage, dropped))
        return (
            f"model version {version.id} (best epoch {result.best_epoch}); predictions queued"
            + (f"; {len(dropped)} old checkpoint file(s) removed" if dropped else "")
        )

    return publish


def class_curves(curve: np.ndarray, class_ids: list[int]) -> dict[str, list[float]]:
    """(C, T) curve → {"<class id>": [...]}; outputs that name the same class (merged
    classes) are combined by their maximum."""
    out: dict[str, np.ndarray] = {}
    for c, cid in enumerate(class_ids):
        row = np.where(np.isfinite(curve[c]), curve[c], 0.0)
        key = str(cid)
        out[key] = np.maximum(out[key], row) if key in out else row
    return {k: [round(float(v), 4) for v in row] for k, row in out.items()}


def run_predict(ctx: JobContext) -> Callable[[Session], str | None]:
    """Run a model version on every video with its features (or on the job's
    ``video_ids``: new videos, server/predictions); store segments, curves and suggestions
    (where a background click would teach this version most).

    The version's ``class_names`` follow renames and merges of classes (the checkpoint keeps
    the names it was trained with): model output ``c`` goes to the class named
    ``class_names[c]``; after a merge two outputs may name the same class (segments of both
    are kept, the curve is their maximum). Retired classes are still predicted."""
    from model.branches import foreground_beliefs
    from model.suggest import rank_suggestions
    from model.train import load_checkpoint, predict

    version_id = ctx.model_version_id or ctx.params.get("model_version_id")
    if version_id is None:
        raise PermanentJobError("the job names no model version")
    video_ids = ctx.params.get("video_ids")  # None: every video with features
    with ctx.session() as s:
        version = s.get(ModelVersion, int(version_id))
        if version is None:
            raise PermanentJobError(f"model version {version_id} does not exist")
        extractor = version.config.get("extractor")
        class_names = list(version.class_names)
        checkpoint_key = version.checkpoint_path
        data = build_dataset(
            s,
            ctx.store(),
            extractor=extractor,
            video_ids=[int(v) for v in video_ids] if video_ids is not None else None,
            labelled_only=False,
            include_retired=True,
        )
        click_times = background_click_times(s, list(data.video_ids.values()))
    try:
        if not checkpoint_key:
            raise ObjectNotFound("no checkpoint key")
        with ctx.work_dir() as work, local_copy(ctx.store(), checkpoint_key, work) as checkpoint:
            model, model_config, names, meta = load_checkpoint(checkpoint)
    except ObjectNotFound as exc:
        raise PermanentJobError(
            f"the checkpoint of model version {version_id} is gone (checkpoint retention keeps "
            "the active version's and the newest BACKTAL_CHECKPOINT_KEEP_LAST ones)"
        ) from exc
    if len(names) != len(class_names):
        raise PermanentJobError("the checkpoint's class list differs from the version's")
    by_name = dict(zip(data.class_names, data.class_ids, strict=True))
    missing = [n for n in class_names if n not in by_name]
    if missing:
        raise PermanentJobError(f"classes of the model no longer exist: {missing}")
    items = [it for it in data.items if it.features.shape[1] == model_config.feature_dim]
    ctx.log(
        f"predicting {len(items)} video(s) with model version {version_id}"
        + (f" (of the {len(video_ids)} asked for)" if video_ids is not None else "")
    )
    from model.config import PostConfig, TrainConfig

    train_cfg = meta.get("train_config")
    post_cfg = TrainConfig.from_dict(train_cfg).post if train_cfg else PostConfig()
    results: dict[str, Any] = {}
    ranked: dict[int, list[Any]] = {}
    suggest_cfg = suggest_config(ctx.settings)
    for i, item in enumerate(items):
        ctx.check_stop()
        res = predict(model, [item], post_cfg, refiner=meta.get("refiner"))[item.name]
        results[item.name] = res
        vid = data.video_ids[item.name]
        fg_filter, fg_base = foreground_beliefs(model, item.features)
        ranked[vid] = rank_suggestions(
            res.cas,
            res.video_scores,
            res.segments,
            item.duration,
            click_times_s=click_times.get(vid, []),
            labels=model_labels(item.labels, data.class_names, class_names),
            fg_filter=fg_filter,
            fg_base=fg_base,
            config=suggest_cfg,
        )
        ctx.progress((i + 1) / max(1, len(items)), f"predicted {i + 1}/{len(items)} videos")

    class_ids = [by_name[n] for n in class_names]  # model output index -> class id

    def publish(s: Session) -> str:
        if s.get(ModelVersion, int(version_id)) is None:
            raise JobCancelled("the model version was deleted")
        ids = [data.video_ids[n] for n in results]
        s.execute(
            delete(Prediction).where(
                Prediction.model_version_id == version_id, Prediction.video_id.in_(ids)
            )
        )
        s.execute(
            delete(ActivationCurve).where(
                ActivationCurve.model_version_id == version_id, ActivationCurve.video_id.in_(ids)
            )
        )
        count = 0
        for name, res in results.items():
            vid = data.video_ids[name]
            for start, end, c, score in res.segments:
                s.add(
                    Prediction(
                        model_version_id=version_id,
                        video_id=vid,
                        class_id=by_name[class_names[c]],
                        start_s=float(start),
                        end_s=float(end),
                        score=float(score),
                    )
                )
                count += 1
            item_duration = next(it.duration for it in items if it.name == name)
            centres, curve = curve_points(res.cas, item_duration)  # what click QA reads
            times = [round(t, 3) for t in centres]
            s.add(
                ActivationCurve(
                    model_version_id=version_id,
                    video_id=vid,
                    data={"times_s": times, "classes": class_curves(curve, class_ids)},
                )
            )
        suggested = replace_suggestions(s, int(version_id), ranked, class_ids)
        s.flush()
        return f"{count} segments and {suggested} suggestions on {len(results)} videos"

    return publish
