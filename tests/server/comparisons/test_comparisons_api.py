"""Comparison jobs through the API: refusals with sentences, the job's table, paired
per-video differences and learning curve, progress while it runs, cancel."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from server.models import Job, JobKind
from tests.server.comparisons.seed import API, mark_validation, seed_project
from tests.server.helpers import FAST_WORKER, count, run_worker

SMALL = {"epochs": 2, "hidden": 16}


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={**FAST_WORKER, "validation_min_videos": 3})


def compare(client: Any, actor: Any, **body: Any) -> Any:
    return client.post(f"{API}/comparisons", headers=actor.h, json={**SMALL, **body})


def test_no_validation_set_is_refused_with_a_sentence(client, app, admin, alice):
    world = seed_project(client, app, admin, alice, videos=5, validation=0)
    r = compare(client, admin)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(
        "there is no validation set to measure the trainings on: mark videos that have ground "
        "truth (imported, or drawn segments) as validation first"
    )
    mark_validation(client, admin, world["ids"]["v4"])  # marked, but nothing drawn on it
    r = compare(client, admin)
    assert r.status_code == 422
    assert (
        "(1 video is marked as validation but has no segments yet: draw or import them)"
        in (r.json()["detail"])
    )
    assert count(app, Job, Job.kind == JobKind.compare) == 0
    assert compare(client, alice).status_code == 403


def test_bad_options_are_refused_with_a_sentence(client, app, admin, alice):
    seed_project(client, app, admin, alice, videos=5, validation=2)
    r = compare(client, admin, click_fractions=[0.5, 1.0])
    assert r.status_code == 422 and "click fractions must lie between 0 and 1" in r.text
    r = compare(client, admin, overrides={"supervision": "weak"})
    assert r.status_code == 422 and "sets the supervision of each training itself" in r.text
    r = compare(client, admin, overrides={"learning_rate": 1})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("training options: unknown training option")
    assert count(app, Job, Job.kind == JobKind.compare) == 0


def test_comparison_table_paired_differences_and_learning_curve(
    client, app, settings, admin, alice
):
    seed_project(client, app, admin, alice, videos=9, validation=3)
    r = compare(client, admin, seed=3)
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    assert job["kind"] == "compare" and job["params"]["arms"] == ["weak", "bg-click"]
    busy = compare(client, admin)
    assert busy.status_code == 409 and f"comparison job {job['id']} is queued" in busy.text
    queued = compare(client, admin, queue=True)
    assert queued.status_code == 202
    cancel = client.post(f"{API}/jobs/{queued.json()['job']['id']}/cancel", headers=admin.h)
    assert cancel.status_code == 200, cancel.text
    run_worker(settings)

    out = client.get(f"{API}/comparisons/{job['id']}", headers=admin.h).json()
    assert out["job"]["status"] == "succeeded", out["job"]
    res = out["result"]
    assert [r["key"] for r in res["runs"]] == ["weak", "bg-click", "bg-click@25%", "bg-click@50%"]
    assert res["videos"]["validation"] == ["v6", "v7", "v8"]
    assert set(res["videos"]["training"]) | set(res["videos"]["held_out"]) == {
        f"v{k}" for k in range(6)
    }
    assert len(res["videos"]["held_out"]) == 1  # 20 % of 6, the same for every training
    assert res["seed"] == 3 and res["recipe"]["train"]["seed"] == 3
    assert res["recipe"]["text"].startswith("studio + ")
    runs = {r["key"]: r for r in res["runs"]}
    for run in runs.values():
        assert set(run["per_video"]) == {"v6", "v7", "v8"}
        assert 0.0 <= run["avg_0.1_0.7"] <= 1.0 and run["mAP@0.5"] == run["mAP"]["0.5"]
        assert run["fp_summary"] is not None
    # the learning curve: none (weak), nested quarter and half, all 18 background clicks
    curve = res["learning_curve"]
    assert [p["key"] for p in curve] == ["weak", "bg-click@25%", "bg-click@50%", "bg-click"]
    assert [p["background_clicks"] for p in curve] == [0, 4, 9, 18]
    assert [p["fraction"] for p in curve] == [0.0, 0.25, 0.5, 1.0]
    assert curve[-1]["avg_0.1_0.7"] == runs["bg-click"]["avg_0.1_0.7"]
    # paired per-video differences against weak
    paired = res["paired"]["bg-click"]["avg_0.1_0.7"]
    for video in ("v6", "v7", "v8"):
        expected = (
            runs["bg-click"]["per_video"][video]["avg_0.1_0.7"]
            - runs["weak"]["per_video"][video]["avg_0.1_0.7"]
        )
        assert paired["diff"][video] == pytest.approx(expected, abs=1e-12)
    assert paired["videos"] == 3 and paired["better"] + paired["worse"] + paired["tied"] == 3
    assert paired["mean"] == pytest.approx(sum(paired["diff"].values()) / 3)
    assert out["job"]["message"].startswith("bg-click − weak on 3 videos of the validation set:")
    log = out["job"]["log_tail"]
    line = "the 3 videos of the validation set (4 segments) never train and only measure"
    assert line in log, log
    assert "4 trainings" in log and "bg-click@50% (4 of 4): best epoch" in log
    listed = client.get(f"{API}/comparisons", headers=admin.h).json()
    assert [c["job"]["id"] for c in listed] == [queued.json()["job"]["id"], job["id"]]
    assert listed[0]["job"]["status"] == "cancelled"
    trainings = client.get(f"{API}/jobs?kind=train", headers=admin.h).json()
    assert trainings == []  # no training job, no model version: the comparison keeps its numbers
    assert client.get(f"{API}/model-versions", headers=admin.h).json() == []
    assert client.get(f"{API}/comparisons/999999", headers=admin.h).status_code == 404


def test_action_clicks_add_action_click_and_both(client, app, settings, admin, alice):
    seed_project(client, app, admin, alice, videos=6, validation=2, action_clicks=True)
    r = compare(client, admin, epochs=1, click_fractions=[0.5])
    assert r.status_code == 202, r.text
    assert r.json()["job"]["params"]["arms"] == ["weak", "bg-click", "action-click", "both"]
    run_worker(settings)
    res = client.get(f"{API}/comparisons/{r.json()['job']['id']}", headers=admin.h).json()
    assert res["job"]["status"] == "succeeded", res["job"]
    result = res["result"]
    assert [r["key"] for r in result["runs"]] == [
        "weak", "bg-click", "action-click", "both", "bg-click@50%"
    ]  # fmt: skip
    assert set(result["paired"]) == {"bg-click", "action-click", "both"}
    used = {r["key"]: (r["background_clicks"], r["action_clicks"]) for r in result["runs"]}
    assert used == {
        "weak": (0, 0),
        "bg-click": (12, 0),
        "action-click": (0, 4),
        "both": (12, 4),
        "bg-click@50%": (6, 0),
    }


def test_progress_and_partial_table_while_it_runs(client, app, settings, admin, alice, monkeypatch):
    """The job's progress and its finished trainings are readable while it runs (the second
    training is held at its first epoch)."""
    import model.train

    seed_project(client, app, admin, alice, videos=6, validation=2)
    real_fit = model.train.fit
    calls: list[int] = []
    held, release = threading.Event(), threading.Event()

    def gated_fit(*args: Any, on_progress: Any, **kwargs: Any) -> Any:
        calls.append(1)
        mine = len(calls)

        def report(info: dict[str, Any]) -> None:
            on_progress(info)
            if mine == 2 and info["epoch"] == 1:
                held.set()
                release.wait(60)

        return real_fit(*args, on_progress=report, **kwargs)

    monkeypatch.setattr(model.train, "fit", gated_fit)
    r = compare(client, admin, click_fractions=[0.5])
    job_id = r.json()["job"]["id"]
    thread = threading.Thread(target=run_worker, args=(settings,), daemon=True)
    thread.start()
    try:
        assert held.wait(60), "the second training never started"
        out = client.get(f"{API}/comparisons/{job_id}", headers=admin.h).json()
        assert out["job"]["status"] == "running"
        # 3 trainings: the first done, the second at epoch 1 of 2 -> (1 + 1/2) / 3
        assert out["job"]["progress"] == pytest.approx(0.5)
        assert out["job"]["message"] == "training bg-click (2 of 3), epoch 1/2"
        res = out["result"]
        assert [r["key"] for r in res["runs"]] == ["weak"]
        assert res["current"] == {"key": "bg-click", "epoch": 1, "epochs": 2}
        assert [p["key"] for p in res["plan"]] == ["weak", "bg-click", "bg-click@50%"]
    finally:
        release.set()
        thread.join(120)
    done = client.get(f"{API}/comparisons/{job_id}", headers=admin.h).json()
    assert done["job"]["status"] == "succeeded" and len(done["result"]["runs"]) == 3
    assert done["result"]["current"] is None


def test_retrain_versions_carry_per_video_validation_numbers(client, app, settings, admin, alice):
    seed_project(client, app, admin, alice, videos=6, validation=3)
    r = client.post(f"{API}/training-jobs", headers=admin.h, json={**SMALL})
    assert r.status_code == 202, r.text
    run_worker(settings)
    (version,) = client.get(f"{API}/model-versions", headers=admin.h).json()
    per_video = version["metrics"]["validation"]["per_video"]
    assert set(per_video) == {"v3", "v4", "v5"}
    assert all(set(x) == {"mAP@0.5", "avg_0.1_0.7", "mAP"} for x in per_video.values())
