"""Handler of ``compare`` jobs: "Does annotation pay here?" on the lab's own videos.

One job trains, one after another and through Retrain's own steps
(``server.worker.train_jobs.resolve_recipe`` / ``fit_model``, ``model.recipes``):

- ``weak`` and ``bg-click`` (and ``action-click`` and ``both`` when the training set has action
  clicks) on the same training videos, with the same recipe and seed;
- ``bg-click`` on nested subsets of the background clicks (``model.compare``; by default a
  quarter and a half: with all of them and with none — ``weak`` — they make the learning curve).

Every training chooses its epoch as the benchmark does (``bench/supervision.py``): on the
seeded held-out fraction of the training videos (``model.train.split_holdout``, the same
videos for every training); the validation set is never trained on and never picks an epoch,
it only measures (``server.training.validation.evaluate``: mAP per tIoU, per video, DETAD
breakdown). The result — the table, the paired per-video differences against ``weak`` and
the learning curve — is the job's ``metrics``, filled in run by run while the job runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from model.data import VideoItem
from server.comparisons.service import arms_for, check_comparable, training_params
from server.errors import ApiError
from server.models import Job
from server.training.dataset import build_dataset
from server.training.validation import evaluate
from server.worker.context import JobContext, PermanentJobError
from server.worker.train_jobs import fit_model, resolve_recipe

MEASURES = ("mAP@0.5", "avg_0.1_0.7")


@dataclass
class Run:
    key: str  # "weak", "bg-click", ..., "bg-click@25%"
    supervision: str
    fraction: float  # share of the background clicks it trains with
    items: list[VideoItem]


def _pct(fraction: float) -> str:
    return f"{100 * fraction:g}%"


def _videos(n: int) -> str:
    return f"{n} video{'' if n == 1 else 's'}"


def plan_runs(
    arms: list[str], fractions: list[float], items: list[VideoItem], seed: int
) -> list[Run]:
    """Every training of a comparison, in the order they run."""
    from model.compare import nested_click_subsets

    subsets = nested_click_subsets(items, fractions, seed)
    runs = [Run(arm, arm, 1.0, list(items)) for arm in arms]
    runs += [Run(f"bg-click@{_pct(f)}", "bg-click", f, subsets[f]) for f in fractions]
    return runs


def action_count(items: list[VideoItem]) -> int:
    return int(sum(len(it.action_clicks) for it in items))


def summarize(
    runs: list[dict[str, Any]], arms: list[str], fractions: list[float], seed: int
) -> dict[str, Any]:
    """Paired per-video differences of every arm against ``weak`` and the learning curve."""
    from model.compare import paired_differences

    by_key = {r["key"]: r for r in runs}
    weak = by_key["weak"]
    paired: dict[str, Any] = {}
    for arm in arms:
        if arm == "weak" or arm not in by_key:
            continue
        paired[arm] = {
            m: paired_differences(
                {v: x[m] for v, x in weak["per_video"].items()},
                {v: x[m] for v, x in by_key[arm]["per_video"].items()},
                seed=seed,
            )
            for m in MEASURES
        }
    curve = [
        {
            "key": r["key"],
            "fraction": 0.0 if r["key"] == "weak" else r["fraction"],
            "background_clicks": r["background_clicks"],
            **{m: r[m] for m in MEASURES},
        }
        for r in runs
        if r["key"] == "weak" or r["supervision"] == "bg-click"
    ]
    curve.sort(key=lambda point: point["fraction"])
    return {"paired": paired, "learning_curve": curve}


def run_compare(ctx: JobContext) -> Callable[[Session], str | None]:
    from model.compare import click_count
    from model.train import split_holdout

    p = ctx.params
    with ctx.session() as s:
        data = build_dataset(
            s, ctx.store(), extractor=p.get("extractor"), video_ids=p.get("include_video_ids")
        )
    try:
        check_comparable(data.summary)  # the labels may have changed since the job was queued
    except ApiError as exc:
        raise PermanentJobError(exc.detail) from exc
    arms = arms_for(data.summary)
    fractions = sorted({float(f) for f in p.get("click_fractions") or []})
    base = training_params(p)
    configs = {arm: resolve_recipe({**base, "supervision": arm}, data) for arm in arms}
    _, train_config, recipe = configs["bg-click"]
    seed = train_config.seed
    runs = plan_runs(arms, fractions, data.items, seed)
    trained, held = split_holdout(data.items, train_config.holdout_fraction, seed)
    min_val = ctx.settings.validation_min_videos
    validation = [it.name for it in data.validation]
    segments = int(sum(len(it.gt_segments or []) for it in data.validation))
    ctx.log(f"recipe: {recipe['text']} (seed {seed}, the same for every training)")
    ctx.log(
        f"comparing {', '.join(arms)} on {_videos(len(data.items))} "
        f"({data.background_clicks} background / {data.action_clicks} action click snippets), "
        f"and bg-click on {', '.join(_pct(f) for f in fractions) or 'no'} nested subsets of the "
        f"background clicks: {len(runs)} trainings"
    )
    ctx.log(
        f"each training picks its epoch on the same {_videos(len(held))} held out of the "
        f"{_videos(len(data.items))} (seed {seed}); the {_videos(len(validation))} of the "
        f"validation set ({segments} segments) never train and only measure"
        + (f" — fewer than {min_val}: a rough measure" if len(validation) < min_val else "")
    )
    doc: dict[str, Any] = {
        "arms": arms,
        "fractions": fractions,
        "seed": seed,
        "recipe": recipe,
        "videos": {
            "training": [it.name for it in trained],
            "held_out": [it.name for it in held],
            "validation": validation,
        },
        "validation_segments": segments,
        "validation_enough": len(validation) >= min_val,
        "data_summary": data.summary,
        "plan": [
            {
                "key": r.key,
                "supervision": r.supervision,
                "fraction": r.fraction,
                "background_clicks": click_count(r.items)
                if r.supervision in ("bg-click", "both")
                else 0,
                "action_clicks": action_count(r.items)
                if r.supervision in ("action-click", "both")
                else 0,
            }
            for r in runs
        ],
        "runs": [],
        "current": None,
    }
    done: list[dict[str, Any]] = doc["runs"]
    for k, run in enumerate(runs):
        ctx.check_stop()
        model_config, config, _ = configs[run.supervision]
        train_items, val_items = split_holdout(run.items, config.holdout_fraction, config.seed)
        label = f"{run.key} ({k + 1} of {len(runs)})"

        def on_progress(info: dict[str, Any], k: int = k, label: str = label) -> None:
            doc["current"] = {"key": runs[k].key, "epoch": info["epoch"], "epochs": info["epochs"]}
            message = f"training {label}, epoch {info['epoch']}/{info['epochs']}"
            ctx.progress((k + info["epoch"] / info["epochs"]) / len(runs), message, metrics=doc)

        ctx.progress(k / len(runs), f"training {label}", metrics=doc)
        result = fit_model(
            ctx, config, model_config, train_items, val_items, data.class_names, on_progress
        )
        ctx.check_stop()
        uses_bg = run.supervision in ("bg-click", "both")
        uses_action = run.supervision in ("action-click", "both")
        measured = evaluate(result.model, data.validation, data.class_names, config.post)
        entry = {
            "key": run.key,
            "supervision": run.supervision,
            "fraction": run.fraction,
            # the clicks this supervision trains on (weak: none, action-click: no background)
            "background_clicks": click_count(run.items) if uses_bg else 0,
            "action_clicks": action_count(run.items) if uses_action else 0,
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "selection": result.selection,
            "mAP@0.5": measured["mAP"].get("0.5"),
            "avg_0.1_0.7": measured["avg_0.1_0.7"],
            "avg_0.3_0.7": measured["avg_0.3_0.7"],
            "mAP": measured["mAP"],
            "per_video": {v: {m: x[m] for m in MEASURES} for v, x in measured["per_video"].items()},
            "fp_summary": measured["fp_analysis"].get("summary"),
        }
        done.append(entry)
        doc["current"] = None
        ctx.log(
            f"{label}: best epoch {result.best_epoch}; validation mAP@0.5 "
            f"{entry['mAP@0.5']:.3f}, avg 0.1:0.7 {entry['avg_0.1_0.7']:.3f}"
        )
        ctx.progress((k + 1) / len(runs), f"{label} done", metrics=doc)
    doc |= summarize(done, arms, fractions, seed)
    bg = doc["paired"]["bg-click"]["avg_0.1_0.7"]
    verdict = (
        f"bg-click − weak on {_videos(bg['videos'])} of the validation set: "
        f"{100 * bg['mean']:+.1f} points avg mAP 0.1:0.7 (better on {bg['better']}, worse on "
        f"{bg['worse']}, tied on {bg['tied']})"
    )
    ctx.log(verdict)

    def publish(s: Session) -> str:
        job = s.get(Job, ctx.job_id)
        if job is not None:
            job.metrics = doc
        return verdict

    return publish
