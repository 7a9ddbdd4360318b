"""The model on every video: new videos get the active version's predictions without a
retrain (one predict job for many), activating a version re-predicts every video, the videos
list says which version a video's predictions come from, and the predictions export filters
by score and class."""

from __future__ import annotations

import io

import numpy as np
import pytest
from sqlalchemy import select

from annotator_ui.pages import COOKIE
from server.demo import DemoClip, write_clip
from server.models import ActivationCurve, Job, JobKind, JobStatus, ModelVersion
from tests.server.helpers import run_worker, upload
from tests.server.training.test_retrain import train


@pytest.fixture(scope="session")
def new_clips(tmp_path_factory):  # type: ignore[no-untyped-def]
    """Three clips that are not in the training set."""
    folder = tmp_path_factory.mktemp("new_clips")
    out = []
    for k, (dur, cls) in enumerate([(9.0, "Bounce"), (8.0, "Spin"), (10.0, "Bounce")]):
        clip = DemoClip(f"fresh_{k}", dur, [(2.0 + k * 0.5, 4.5 + k * 0.5, cls)])
        path = folder / f"{clip.name}.mp4"
        write_clip(clip, path, w=96, h=72)
        out.append(path)
    return out


def predict_jobs(app) -> list[Job]:  # type: ignore[no-untyped-def]
    with app.state.sessionmaker() as s:
        return list(s.scalars(select(Job).where(Job.kind == JobKind.predict).order_by(Job.id)))


def train_jobs(app) -> int:  # type: ignore[no-untyped-def]
    with app.state.sessionmaker() as s:
        return len(list(s.scalars(select(Job.id).where(Job.kind == JobKind.train))))


def curves_of(app, version_id: int) -> set[int]:  # type: ignore[no-untyped-def]
    with app.state.sessionmaker() as s:
        return set(
            s.scalars(
                select(ActivationCurve.video_id).where(
                    ActivationCurve.model_version_id == version_id
                )
            )
        )


def page_cell(client, actor, video_id: int) -> str:  # type: ignore[no-untyped-def]
    """The Predictions cell of the video's row on the videos page."""
    client.cookies.set(COOKIE, actor.token)
    try:
        html = client.get("/videos").text
    finally:
        client.cookies.clear()
    row = html.split(f'<tr data-video-id="{video_id}"', 1)[1].split("</tr>", 1)[0]
    return row.split('data-col="predictions"', 1)[1]


def trained_version(client, settings, admin, **body):  # type: ignore[no-untyped-def]
    r = train(client, admin, holdout_fraction=0.25, **body)
    assert r.status_code == 202, r.text
    assert run_worker(settings) == 2  # train, then predict
    return max(client.get("/api/v1/model-versions", headers=admin.h).json(), key=lambda v: v["id"])


def listed(client, actor) -> dict[int, dict]:  # type: ignore[no-untyped-def]
    items = client.get("/api/v1/videos?limit=500", headers=actor.h).json()["items"]
    return {v["id"]: v["predictions"] for v in items}


def test_new_video_gets_the_active_versions_predictions_without_a_retrain(
    client, app, settings, admin, alice, annotated, new_clips
):
    version = trained_version(client, settings, admin)
    assert version["is_active"]
    before_train = train_jobs(app)
    (first_predict,) = predict_jobs(app)
    assert first_predict.params.get("video_ids") is None  # the training's job: every video

    vid = upload(client, alice, new_clips[0].read_bytes(), "fresh_0.mp4").json()["id"]
    # proxy and features only: the list says a prediction is on its way
    run_worker(settings, kinds=[JobKind.media, JobKind.features])
    state = listed(client, alice)[vid]
    assert state == {"model_version_id": None, "active": False, "pending": True}
    (_, job) = predict_jobs(app)
    assert job.status == JobStatus.queued and job.model_version_id == version["id"]
    assert job.params["video_ids"] == [vid]
    assert "predicting…" in page_cell(client, alice, vid)

    assert run_worker(settings) == 1  # the predict job, no training
    assert train_jobs(app) == before_train
    done = client.get(f"/api/v1/jobs/{job.id}", headers=admin.h).json()
    assert done["status"] == "succeeded" and done["progress"] == 1.0, done
    assert "on 1 videos" in done["message"], done
    p = client.get(f"/api/v1/videos/{vid}/predictions", headers=alice.h).json()
    assert p["model_version_id"] == version["id"]
    assert len(p["curves"]["times_s"]) > 0 and set(p["curves"]["classes"]) == {"1", "2"}
    assert curves_of(app, version["id"]) == set(annotated.values()) | {vid}
    state = listed(client, alice)[vid]
    assert state == {"model_version_id": version["id"], "active": True, "pending": False}
    single = client.get(f"/api/v1/videos/{vid}", headers=alice.h).json()
    assert single["predictions"] == state
    cell = page_cell(client, alice, vid)
    assert f"version {version['id']}" in cell and "predicting" not in cell
    assert "not the active version" not in cell


def test_many_new_videos_make_one_predict_job(
    client, app, settings, admin, alice, annotated, new_clips
):
    version = trained_version(client, settings, admin)
    ids = [
        upload(client, alice, p.read_bytes(), p.name).json()["id"] for p in new_clips
    ]  # 3 media jobs, then 3 features jobs: the predict job queued by the first collects all
    assert run_worker(settings) == 3 + 3 + 1
    new_jobs = predict_jobs(app)[1:]
    assert len(new_jobs) == 1, [j.params for j in new_jobs]
    assert new_jobs[0].params["video_ids"] == sorted(ids)
    assert new_jobs[0].status == JobStatus.succeeded
    assert curves_of(app, version["id"]) >= set(ids)


def test_imported_features_queue_a_predict_job(
    client, app, settings, admin, alice, annotated, new_clips, tmp_path, monkeypatch
):
    """``POST /videos/{id}/features`` and ``server.cli import-features`` (one job for the
    whole import); features of another extractor than the version's queue nothing."""
    version = trained_version(client, settings, admin)
    D = version["config"]["model"]["feature_dim"]
    # the API import
    vid = upload(client, alice, new_clips[0].read_bytes(), "fresh_0.mp4").json()["id"]
    run_worker(settings, kinds=[JobKind.media])  # proxy only: the features come by import
    with app.state.sessionmaker() as s:  # the queued features job would make its own
        for job in s.scalars(select(Job).where(Job.kind == JobKind.features)):
            job.status = JobStatus.cancelled
        s.commit()
    rng = np.random.default_rng(0)

    def npy(T: int, dim: int) -> bytes:
        buf = io.BytesIO()
        np.save(buf, rng.random((T, dim), dtype=np.float32))
        return buf.getvalue()

    other = client.post(
        f"/api/v1/videos/{vid}/features",
        headers=admin.h,
        files={"file": ("f.npy", npy(20, D), "application/octet-stream")},
    )
    assert other.status_code == 201, other.text  # extractor "imported": not the version's
    assert len(predict_jobs(app)) == 1
    r = client.post(
        f"/api/v1/videos/{vid}/features",
        headers=admin.h,
        files={"file": ("f.npy", npy(20, D), "application/octet-stream")},
        data={"extractor": "tiny-stats"},
    )
    assert r.status_code == 201, r.text
    (_, job) = predict_jobs(app)
    assert job.params["video_ids"] == [vid]
    # the CLI import of three official npz files (video records created): the same job
    folder = tmp_path / "feats"
    folder.mkdir()
    for k in range(3):
        T = 15 + k
        np.savez(
            folder / f"npz_{k}.npz",
            feat_spa=rng.random((D // 2, T), dtype=np.float32),
            feat_tem=rng.random((D - D // 2, T), dtype=np.float32),
            vid_name=np.array(f"npz_{k}"),
            fps=np.array(25.0),
            duration=np.array(T * 16 / 25.0),
            frame_num=np.array(T * 16),
        )
    from server import cli

    monkeypatch.setenv("BACKTAL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("BACKTAL_MEDIA_DIR", str(settings.media_dir))
    argv = ["import-features", str(folder), "--create-videos", "--extractor", "tiny-stats"]
    assert cli.main(argv) == 0
    jobs = predict_jobs(app)
    assert len(jobs) == 2  # still queued: the three were added to it
    created = {
        v["name"]: v["id"]
        for v in client.get("/api/v1/videos?limit=500", headers=admin.h).json()["items"]
    }
    npz_ids = [created[f"npz_{k}"] for k in range(3)]
    assert jobs[1].params["video_ids"] == sorted([vid, *npz_ids])
    assert run_worker(settings) == 1
    assert curves_of(app, version["id"]) >= {vid, *npz_ids}


def test_activating_a_version_repredicts_every_video(
    client, app, settings, admin, alice, annotated, new_clips
):
    v1 = trained_version(client, settings, admin)
    v2 = trained_version(client, settings, admin, activate=False, seed=1)
    assert not v2["is_active"]
    assert curves_of(app, v2["id"]) == set(annotated.values())  # its training predicted them
    new = upload(client, alice, new_clips[1].read_bytes(), "fresh_1.mp4").json()["id"]
    assert run_worker(settings) == 3  # media, features, predict (the active v1)
    assert new in curves_of(app, v1["id"]) and new not in curves_of(app, v2["id"])
    assert listed(client, alice)[new]["model_version_id"] == v1["id"]
    jobs_before = len(predict_jobs(app))

    r = client.post(f"/api/v1/model-versions/{v2['id']}/activate", headers=admin.h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["is_active"] and body["videos_without_predictions"] == 1
    job = body["predict_job"]
    assert job["kind"] == "predict" and job["status"] == "queued"
    assert job["model_version_id"] == v2["id"] and "video_ids" not in job["params"]
    # until it has run, the new video still shows v1's predictions, with a job on its way
    state = listed(client, alice)[new]
    assert state == {"model_version_id": v1["id"], "active": False, "pending": True}
    cell = page_cell(client, alice, new)
    assert f"version {v1['id']}" in cell and "not the active version" in cell

    assert run_worker(settings) == 1
    done = client.get(f"/api/v1/jobs/{job['id']}", headers=admin.h).json()
    assert done["status"] == "succeeded" and done["progress"] == 1.0
    every = set(annotated.values()) | {new}
    assert f"on {len(every)} videos" in done["message"]  # every video, not only the new one
    assert curves_of(app, v2["id"]) == every
    assert all(
        s == {"model_version_id": v2["id"], "active": True, "pending": False}
        for s in listed(client, alice).values()
    )
    assert (
        client.get(f"/api/v1/videos/{new}/predictions", headers=alice.h).json()["model_version_id"]
        == v2["id"]
    )

    # v1 has predicted every video: activating it queues nothing
    r = client.post(f"/api/v1/model-versions/{v1['id']}/activate", headers=admin.h)
    assert r.status_code == 200, r.text
    assert r.json()["predict_job"] is None and r.json()["videos_without_predictions"] == 0
    assert len(predict_jobs(app)) == jobs_before + 1
    assert all(s["model_version_id"] == v1["id"] for s in listed(client, alice).values())

    # a version whose checkpoint is gone cannot predict the video that came since: no job,
    # and the answer says why
    later = upload(client, alice, new_clips[2].read_bytes(), "fresh_2.mp4").json()["id"]
    assert run_worker(settings) == 3  # predicted by the active v1
    with app.state.sessionmaker() as s:
        version2 = s.get(ModelVersion, v2["id"])
        assert version2 is not None
        (settings.media_dir / version2.checkpoint_path).unlink()
    r = client.post(f"/api/v1/model-versions/{v2['id']}/activate", headers=admin.h)
    assert r.status_code == 200 and r.json()["is_active"], r.text
    assert r.json()["predict_job"] is None and r.json()["videos_without_predictions"] == 1
    assert "checkpoint" in r.json()["note"] and "retrain" in r.json()["note"]
    assert len(predict_jobs(app)) == jobs_before + 2
    assert listed(client, alice)[later]["model_version_id"] == v1["id"]


def test_predictions_export_with_a_threshold_and_classes(
    client, app, settings, admin, alice, annotated
):
    version = trained_version(client, settings, admin)
    full = client.get("/api/v1/export/predictions", headers=alice.h).json()
    assert set(full["results"]) == {f"demo_0{k}" for k in range(1, 5)}  # every predicted video
    scores = sorted(s["score"] for segs in full["results"].values() for s in segs)
    assert len(scores) >= 2, "the tiny model predicted too little to test a threshold"
    threshold = scores[len(scores) // 2]
    cut = client.get(
        f"/api/v1/export/predictions?min_score={threshold}&model_version={version['id']}",
        headers=alice.h,
    )
    assert cut.status_code == 200, cut.text
    kept = [s for segs in cut.json()["results"].values() for s in segs]
    assert kept and all(s["score"] >= threshold for s in kept)
    assert len(kept) == sum(1 for s in scores if s >= threshold) < len(scores)
    assert set(cut.json()["results"]) == set(full["results"])  # videos stay, maybe empty
    assert f"score >= {threshold:g}" in cut.json()["external_data"]["details"]

    classes = {c["name"]: c["id"] for c in client.get("/api/v1/classes", headers=alice.h).json()}
    only = client.get(
        f"/api/v1/export/predictions?class_ids={classes['Spin']}", headers=alice.h
    ).json()
    labels = {s["label"] for segs in only["results"].values() for s in segs}
    assert labels <= {"Spin"}
    spin = [s for segs in full["results"].values() for s in segs if s["label"] == "Spin"]
    assert sum(len(v) for v in only["results"].values()) == len(spin)

    unknown = client.get("/api/v1/export/predictions?class_ids=999", headers=alice.h)
    assert unknown.status_code == 404 and "999" in unknown.json()["detail"]
    bad = client.get("/api/v1/export/predictions?min_score=nan", headers=alice.h)
    assert bad.status_code == 422 and "min_score" in bad.json()["detail"]
    none = client.get("/api/v1/export/predictions?model_version=77", headers=alice.h)
    assert none.status_code == 404


def test_a_trained_version_keeps_predicting_after_rename_merge_and_retire(
    client, app, settings, admin, alice, annotated, new_clips
):
    """The version maps its outputs to classes by name: rename and merge keep its predict
    jobs working; a retired class is left out of the next training, not of old versions."""
    v1 = trained_version(client, settings, admin)
    ids = {c["name"]: c["id"] for c in client.get("/api/v1/classes", headers=alice.h).json()}
    r = client.patch(f"/api/v1/classes/{ids['Bounce']}", headers=admin.h, json={"name": "Ball"})
    assert r.status_code == 200, r.text
    r = client.post(
        f"/api/v1/classes/{ids['Spin']}/merge", headers=admin.h, json={"into": ids["Bounce"]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["moved"]["model_versions"] == 1
    version = client.get(f"/api/v1/model-versions/{v1['id']}", headers=alice.h).json()
    assert version["class_names"] == ["Ball", "Ball"]
    vid = upload(client, alice, new_clips[0].read_bytes(), "fresh_0.mp4").json()["id"]
    assert run_worker(settings) == 3  # media, features, predict
    (_, job) = predict_jobs(app)
    assert job.status == JobStatus.succeeded, job.error
    p = client.get(f"/api/v1/videos/{vid}/predictions", headers=alice.h).json()
    assert p["model_version_id"] == v1["id"]
    assert set(p["curves"]["classes"]) == {str(ids["Bounce"])}  # two outputs, one class
    assert {s["class_name"] for s in p["segments"]} <= {"Ball"}

    # a new class, then retire it and train: the new version does not know it
    jump = client.post("/api/v1/classes", headers=admin.h, json={"name": "Jump"}).json()
    for v in list(annotated.values())[:2]:
        r = client.put(
            f"/api/v1/videos/{v}/labels",
            headers=alice.h,
            json={"class_ids": [ids["Bounce"], jump["id"]]},
        )
        assert r.status_code == 200, r.text
    assert client.post(f"/api/v1/classes/{jump['id']}/retire", headers=admin.h).status_code == 200
    v2 = trained_version(client, settings, admin, seed=1)
    assert v2["class_names"] == ["Ball"] and v2["data_summary"]["classes"] == ["Ball"]
