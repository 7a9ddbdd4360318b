"""The validation set: validation videos never train; their ground truth (imported, else an
annotator's segments) picks the epoch when there are enough of them, and every training
measures its version on them (mAP per tIoU, DETAD false-positive breakdown). With too few
the job says so in a sentence instead of printing metrics of a one-video split."""

from __future__ import annotations

import json

import numpy as np
import pytest

from server.db import session_scope
from server.features.service import attach_features
from server.training.dataset import build_dataset
from server.videos.service import create_video_record
from tests.server.helpers import FAST_WORKER, run_worker

API = "/api/v1"
EXTRACTOR = "tiny-stats"
T, D, DURATION, FPS = 32, 16, 16.0, 25.0


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={**FAST_WORKER, "validation_min_videos": 5})


@pytest.fixture
def world(client, app, admin, alice):
    """Nine feature-only videos v0..v8 with labels and background clicks by alice; an action
    of Bounce at [4, 8] s (and Spin at [10, 13] s on odd videos) in the features."""
    for name in ("Bounce", "Spin"):
        client.post(f"{API}/classes", headers=admin.h, json={"name": name})
    classes = {c["name"]: c["id"] for c in client.get(f"{API}/classes", headers=admin.h).json()}
    rng = np.random.default_rng(0)
    direction = {c: rng.normal(size=D).astype(np.float32) for c in classes}
    ids: dict[str, int] = {}
    with session_scope(app.state.sessionmaker) as s:
        for k in range(9):
            video = create_video_record(
                s, name=f"v{k}", fps=FPS, frame_count=int(DURATION * FPS), duration_s=DURATION
            )
            feats = rng.normal(scale=0.3, size=(T, D)).astype(np.float32)  # (T, D)
            feats[8:16] += 2 * direction["Bounce"]  # 4 s .. 8 s
            if k % 2:
                feats[20:26] += 2 * direction["Spin"]  # 10 s .. 13 s
            attach_features(s, app.state.storage, video, feats, EXTRACTOR)
            ids[video.name] = video.id
    for k, vid in enumerate(ids.values()):
        present = [classes["Bounce"]] + ([classes["Spin"]] if k % 2 else [])
        r = client.put(f"{API}/videos/{vid}/labels", headers=alice.h, json={"class_ids": present})
        assert r.status_code == 200, r.text
        for t in (1.0, 9.0, 15.0):
            r = client.post(f"{API}/videos/{vid}/clicks", headers=alice.h, json={"t_s": t})
            assert r.status_code == 201, r.text
    return {"ids": ids, "classes": classes}


def mark_validation(client, admin, vid: int, on: bool = True) -> None:
    r = client.patch(f"{API}/videos/{vid}", headers=admin.h, json={"is_validation": on})
    assert r.status_code == 200 and r.json()["is_validation"] is on, r.text


def draw(client, actor, vid: int, cls: int, start: float, end: float) -> None:
    r = client.post(
        f"{API}/videos/{vid}/segments",
        headers=actor.h,
        json={"class_id": cls, "start_s": start, "end_s": end},
    )
    assert r.status_code == 201, r.text


def names(items) -> list[str]:
    return [it.name for it in items]


def test_validation_videos_never_appear_in_a_training_set(client, app, admin, alice, bob, world):
    ids, classes = world["ids"], world["classes"]
    bounce, spin = classes["Bounce"], classes["Spin"]
    draw(client, alice, ids["v7"], bounce, 4.0, 8.0)
    draw(client, alice, ids["v7"], spin, 10.0, 13.0)
    draw(client, bob, ids["v7"], bounce, 3.0, 9.0)  # fewer segments than alice: not used
    mark_validation(client, admin, ids["v7"])
    mark_validation(client, admin, ids["v8"])  # no segments: in no set at all
    with app.state.sessionmaker() as s:
        data = build_dataset(s, None, load_features=False)
        assert names(data.items) == [f"v{k}" for k in range(7)]
        assert names(data.validation) == ["v7"]
        assert data.validation[0].gt_segments == [(4.0, 8.0, 0), (10.0, 13.0, 1)]
        assert [g.origin for g in data.ground_truth["v7"]] == ["drawn", "drawn"]
        assert [g.annotator_id for g in data.ground_truth["v7"]] == [alice.id, alice.id]
        assert data.summary["validation_videos"] == 1
        assert data.summary["validation_videos_without_segments"] == 1
        assert data.summary["videos"] == 7
        # naming validation videos for a training does not bring them into it
        named = build_dataset(
            s, None, load_features=False, video_ids=[ids["v1"], ids["v7"], ids["v8"]]
        )
        assert names(named.items) == ["v1"] and names(named.validation) == ["v7"]
        # prediction still covers every video
        every = build_dataset(s, None, load_features=False, labelled_only=False)
        assert names(every.items) == [f"v{k}" for k in range(9)] and every.validation == []
    # imported ground truth comes before drawn segments
    gt = {"database": {"v7": {"subset": "test", "annotations": [
        {"segment": [4.5, 7.5], "label": "Bounce"}
    ]}}}  # fmt: skip
    r = client.post(
        f"{API}/import/ground-truth",
        headers=admin.h,
        files={"file": ("gt.json", json.dumps(gt).encode(), "application/json")},
    )
    assert r.status_code == 200, r.text
    with app.state.sessionmaker() as s:
        data = build_dataset(s, None, load_features=False)
        assert data.validation[0].gt_segments == [(4.5, 7.5, 0)]
        assert [g.origin for g in data.ground_truth["v7"]] == ["imported"]
    # unmarked, the video trains again
    mark_validation(client, admin, ids["v7"], on=False)
    with app.state.sessionmaker() as s:
        assert "v7" in names(build_dataset(s, None, load_features=False).items)


def train(client, admin, **body):
    body = {"supervision": "bg-click", "epochs": 2, "hidden": 16, "holdout_fraction": 0.2, **body}
    r = client.post(f"{API}/training-jobs", headers=admin.h, json=body)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def finished(client, admin, job_id: int) -> dict:
    job = client.get(f"{API}/jobs/{job_id}", headers=admin.h).json()
    assert job["status"] == "succeeded", job
    return job


def test_too_few_validation_videos_say_so_instead_of_one_video_metrics(
    client, app, settings, admin, alice, world
):
    ids, classes = world["ids"], world["classes"]
    draw(client, alice, ids["v8"], classes["Bounce"], 4.0, 8.0)
    mark_validation(client, admin, ids["v8"])
    job_id = train(client, admin)
    run_worker(settings)
    job = finished(client, admin, job_id)
    log = job["log_tail"]
    assert (
        "only 1 video of the validation set has segments (5 needed, "
        "BACKTAL_VALIDATION_MIN_VIDEOS), and holding out a fraction of the 8 videos would "
        "leave 2 videos — too few to choose an epoch or measure the model: every video trains "
        "and the last epoch is kept" in log
    ), log
    epoch_lines = [line for line in log.splitlines() if "epoch 2/2" in line]
    assert epoch_lines and all("held-out" not in line for line in epoch_lines), log
    (version,) = client.get(f"{API}/model-versions", headers=admin.h).json()
    metrics = version["metrics"]
    assert metrics["holdout"] == {} and metrics["held_out_from"] == "holdout"
    assert metrics["holdout_videos"] == [] and metrics["best_epoch"] == 2  # the last epoch
    assert metrics["selection"] == "no held-out videos: the last epoch"
    # the version is measured on the validation set all the same, and says how rough that is
    val = metrics["validation"]
    assert val["videos"] == ["v8"] and val["segments"] == 1 and val["enough"] is False
    tious = {"0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7"}
    assert tious <= set(val["mAP"])
    assert 0.0 <= val["avg_0.1_0.7"] <= 1.0
    fp = val["fp_analysis"]
    assert fp["num_gt"] == 1 and set(fp["per_tiou"]) == tious
    assert "validation set (1 video, 1 segments): mAP@0.5" in log
    assert "a rough measure" in log
    assert version["data_summary"]["validation_videos"] == 1
    assert version["data_summary"]["videos"] == 8


def test_enough_validation_videos_replace_the_held_out_fraction(
    client, app, settings, admin, alice, world
):
    settings_two = settings.model_copy(update={"validation_min_videos": 2})
    ids, classes = world["ids"], world["classes"]
    for name in ("v7", "v8"):
        draw(client, alice, ids[name], classes["Bounce"], 4.0, 8.0)
        mark_validation(client, admin, ids[name])
    draw(client, alice, ids["v7"], classes["Spin"], 10.0, 13.0)
    job_id = train(client, admin, include_video_ids=[ids[f"v{k}"] for k in range(6)])
    run_worker(settings_two)
    log = finished(client, admin, job_id)["log_tail"]
    assert (
        "the best epoch is chosen on the 2 videos of the validation set (3 segments); "
        "none of them trains" in log
    ), log
    assert "held-out" in next(line for line in log.splitlines() if "epoch 2/2" in line)
    (version,) = client.get(f"{API}/model-versions", headers=admin.h).json()
    metrics = version["metrics"]
    assert metrics["held_out_from"] == "validation"
    assert metrics["holdout_videos"] == ["v7", "v8"]
    assert metrics["holdout"]["mAP_videos"] == 2.0  # the epoch was picked on their segments
    assert metrics["selection"].startswith("held-out mAP@0.1:0.7 on 2 videos")
    assert metrics["validation"]["videos"] == ["v7", "v8"] and metrics["validation"]["enough"]
    assert version["data_summary"]["videos"] == 6
    assert "not measured" not in log


def test_no_validation_set_is_said_in_the_log(client, app, settings, admin, world):
    job_id = train(client, admin, holdout_fraction=0.0)
    run_worker(settings)
    log = finished(client, admin, job_id)["log_tail"]
    assert "only 0 videos of the validation set have segments" in log
    assert "no training video is held out: the last epoch is kept" in log
    assert "not measured on a validation set: no validation video has segments" in log
    (version,) = client.get(f"{API}/model-versions", headers=admin.h).json()
    assert "validation" not in version["metrics"]
