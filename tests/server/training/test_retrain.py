"""The retrain loop: labels and clicks → training job → model version → predictions."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from server.demo import demo_plan, ground_truth, write_clip
from server.models import Job, JobKind, ModelVersion, Prediction
from server.worker.loop import Worker
from tests.server.helpers import FAST_WORKER, run_worker, upload, worker_env

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update=FAST_WORKER)


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    clips = demo_plan(4, seed=1)
    for clip in clips:
        write_clip(clip, folder / f"{clip.name}.mp4", w=96, h=72)
    (folder / "gt.json").write_text(json.dumps(ground_truth(clips)))
    return folder, clips


@pytest.fixture
def annotated(client, app, settings, admin, alice, demo_files):
    """Demo clips uploaded and processed; classes, labels and background clicks via the API."""
    folder, clips = demo_files
    ids = {}
    for name in ("Bounce", "Spin"):
        client.post("/api/v1/classes", headers=admin.h, json={"name": name})
    classes = {c["name"]: c["id"] for c in client.get("/api/v1/classes", headers=alice.h).json()}
    for clip in clips:
        r = upload(client, alice, (folder / f"{clip.name}.mp4").read_bytes(), f"{clip.name}.mp4")
        ids[clip.name] = r.json()["id"]
    run_worker(settings)
    for clip in clips:
        vid = ids[clip.name]
        present = sorted({classes[c] for _, _, c in clip.segments})
        assert (
            client.put(
                f"/api/v1/videos/{vid}/labels", headers=alice.h, json={"class_ids": present}
            ).status_code
            == 200
        )
        # background clicks: 1 s before each action's context, and at the very start
        times = [0.2] + [max(0.0, s - 2.5) for s, _, _ in clip.segments]
        for k, t in enumerate(times):
            r = client.post(
                f"/api/v1/videos/{vid}/clicks",
                headers=alice.h,
                json={"t_s": t, "client_key": f"{clip.name}-{k}"},
            )
            assert r.status_code in (200, 201), r.text
    return ids


def train(client, admin, **body):
    body = {"supervision": "bg-click", "epochs": 3, "hidden": 32, **body}
    return client.post("/api/v1/training-jobs", headers=admin.h, json=body)


def versions(app) -> int:
    with app.state.sessionmaker() as s:
        return int(s.scalar(select(func.count()).select_from(ModelVersion)) or 0)


def test_end_to_end_retrain_predict_export_eval(
    client, app, settings, admin, alice, annotated, demo_files, tmp_path
):
    folder, _ = demo_files
    gt = client.post(
        "/api/v1/import/ground-truth",
        headers=admin.h,
        files={"file": ("gt.json", (folder / "gt.json").read_bytes(), "application/json")},
    )
    assert gt.status_code == 200 and gt.json()["videos"] == 4, gt.text
    r = train(client, admin, holdout_fraction=0.25)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "train" and job["status"] == "queued" and job["params"]["epochs"] == 3
    assert versions(app) == 0
    assert run_worker(settings) == 2  # train, then predict
    done = client.get(f"/api/v1/jobs/{job['id']}", headers=admin.h).json()
    assert done["status"] == "succeeded", done
    assert [h["epoch"] for h in done["metrics"]["history"]] == [1, 2, 3]
    assert "epoch 3/3" in done["log_tail"]
    (version,) = client.get("/api/v1/model-versions", headers=alice.h).json()
    assert version["is_active"] and version["supervision"] == "bg-click"
    assert version["data_summary"]["videos"] == 4
    assert version["data_summary"]["annotators"] == ["alice"]
    assert version["data_summary"]["background_clicks"] > 0
    assert version["class_names"] == ["Bounce", "Spin"]
    # one held-out video of four is too few to choose an epoch or measure the model: the job
    # log says so, every video trains and the last epoch is kept (no "video_acc 0.000" of
    # one video)
    assert version["metrics"]["holdout"] == {} and "holdout_map" not in version["metrics"]
    assert "too few to choose an epoch or measure the model" in done["log_tail"]
    assert "held-out mAP on" not in done["log_tail"]
    assert version["metrics"]["selection"] == "no held-out videos: the last epoch"
    assert version["metrics"]["best_epoch"] == 3
    # the imported GT of the videos it trained on: a fit check, labelled as such in the log
    fit_check = version["metrics"]["training_fit"]
    assert fit_check["videos"] == 4 and 0.0 <= fit_check["mAP"]["0.5"] <= 1.0
    assert (
        "fit on the imported ground truth of the 4 videos it trained on: mAP@0.5"
        in (done["log_tail"])
    )
    assert (settings.media_dir / version["config"]["extractor"]).name == "tiny-stats"
    # the resolved recipe: studio (the default), what the request and the product changed
    recipe = version["config"]["recipe"]
    assert recipe["name"] == "studio" and version["config"]["train"]["recipe"] == "studio"
    assert recipe["model"]["input_norm"] == "standardize"  # studio's, not published
    assert recipe["train"]["lr_scaling"] == "width" and recipe["train"]["epochs"] == 3
    assert recipe["overrides"]["hidden"] == 32 and recipe["overrides"]["holdout_fraction"] == 0.25
    assert recipe["text"].startswith("studio + ") and "epochs=3" in recipe["text"]
    assert "recipe: studio + " in done["log_tail"]
    for vid in annotated.values():
        p = client.get(f"/api/v1/videos/{vid}/predictions", headers=alice.h).json()
        assert p["model_version_id"] == version["id"]
        assert len(p["curves"]["times_s"]) > 0
        assert set(p["curves"]["classes"]) == {"1", "2"}
        by_id = client.get(
            f"/api/v1/videos/{vid}/predictions?model_version={version['id']}", headers=alice.h
        ).json()
        assert by_id == p
    with app.state.sessionmaker() as s:
        predicted = set(s.scalars(select(Prediction.video_id).distinct()))
    assert predicted  # at least some videos got segments
    export = client.get("/api/v1/export/predictions", headers=alice.h)
    assert export.status_code == 200
    pred_path = tmp_path / "pred.json"
    pred_path.write_text(export.text)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "model.cli",
            "eval",
            "--gt",
            str(folder / "gt.json"),
            "--pred",
            str(pred_path),
            "--subset",
            "validation",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"mAP", "avg_0.1_0.7", "avg_0.3_0.7"} <= set(result)
    assert 0.0 <= result["avg_0.1_0.7"] <= 1.0
    gt_rows = client.get(f"/api/v1/videos/{annotated['demo_01']}/ground-truth", headers=alice.h)
    assert gt_rows.status_code == 200 and len(gt_rows.json()) >= 1


def test_refusals(client, app, settings, admin, alice, demo_files):
    folder, clips = demo_files
    r = train(client, admin)
    assert r.status_code == 422 and "no video has features" in r.json()["detail"]
    client.post("/api/v1/classes", headers=admin.h, json={"name": "Bounce"})
    for clip in clips[:2]:
        upload(client, alice, (folder / f"{clip.name}.mp4").read_bytes(), f"{clip.name}.mp4")
    run_worker(settings)
    r = train(client, admin)
    assert r.status_code == 422 and "video-level label" in r.json()["detail"]
    vids = [v["id"] for v in client.get("/api/v1/videos", headers=alice.h).json()["items"]]
    for vid in vids:
        client.put(f"/api/v1/videos/{vid}/labels", headers=alice.h, json={"class_ids": [1]})
    r = train(client, admin)
    assert r.status_code == 422 and "needs background clicks" in r.json()["detail"]
    r = train(client, admin, supervision="action-click")
    assert r.status_code == 422 and "needs action clicks" in r.json()["detail"]
    assert train(client, alice, supervision="weak").status_code == 403
    first = train(client, admin, supervision="weak")
    assert first.status_code == 202
    second = train(client, admin, supervision="weak")
    assert second.status_code == 409 and "queue=true" in second.json()["detail"]
    assert train(client, admin, supervision="weak", queue=True).status_code == 202
    bad = train(client, admin, supervision="nonsense")
    assert bad.status_code == 422
    unknown = train(client, admin, supervision="weak", queue=True, overrides={"depth": 3})
    assert unknown.status_code == 422
    assert "unknown training option 'depth'" in unknown.json()["detail"]
    wrong = train(client, admin, supervision="weak", queue=True, overrides={"lr": "fast"})
    assert wrong.status_code == 422 and "lr: cannot read 'fast' as float" in wrong.json()["detail"]
    assert train(client, admin, supervision="weak", recipe="paper").status_code == 422
    ok = train(
        client, admin, supervision="weak", queue=True, recipe="published", overrides={"lr": 1e-3}
    )
    assert ok.status_code == 202 and ok.json()["params"]["recipe"] == "published"
    with app.state.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(Job).where(Job.kind == JobKind.train)) == 3


def wait_until_training(client, admin, job_id: int, timeout: float, poll: float) -> None:
    """Until the job runs and has reported at least one epoch."""
    deadline = time.monotonic() + timeout
    while True:
        state = client.get(f"/api/v1/jobs/{job_id}", headers=admin.h).json()
        if state["status"] == "running" and state["metrics"]:
            return
        assert time.monotonic() < deadline, state
        time.sleep(poll)


def test_cancel_mid_training_leaves_no_version(client, app, settings, admin, annotated):
    job = train(client, admin, epochs=500).json()
    worker = Worker(settings)
    t = threading.Thread(target=worker.run, kwargs={"once": True})
    t.start()
    wait_until_training(client, admin, job["id"], timeout=60, poll=0.1)
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=admin.h).status_code == 200
    t.join(60)
    worker.close()
    final = client.get(f"/api/v1/jobs/{job['id']}", headers=admin.h).json()
    assert final["status"] == "cancelled", final
    assert versions(app) == 0
    assert client.get("/api/v1/model-versions", headers=admin.h).json() == []


def test_kill_9_mid_training_requeues_and_leaves_no_version(
    client, app, settings, admin, annotated
):
    job = train(client, admin, epochs=1000).json()
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.worker", "--id", "doomed"],
        env=worker_env(settings),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_training(client, admin, job["id"], timeout=90, poll=0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert client.get("/api/v1/health").status_code == 200
    time.sleep(3.5)  # let the heartbeat go stale
    Worker(settings).recover_stale()
    state = client.get(f"/api/v1/jobs/{job['id']}", headers=admin.h).json()
    assert state["status"] == "queued" and "doomed stopped responding" in state["message"]
    assert versions(app) == 0
    assert not list(settings.media_dir.glob("models/*.pt"))  # no checkpoint was written
