"""The whole loop with storage on S3 (a real S3 API server on loopback: moto's standalone
server): upload → proxy → thumbnails → features → train → predict → export → purge, run by
two workers that share only the database and the bucket — each with its own media folder
and scratch folder, none with the API's."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from model.timebase import snippet_index
from server.demo import demo_plan, write_clip
from server.models import Job, JobKind, JobStatus, ModelVersion, Prediction, Video
from server.worker.loop import Worker
from tests.server.helpers import FAST_WORKER, upload
from tests.server.storage.conftest import s3_env, s3_fields


@pytest.fixture
def settings(settings, s3_endpoint):  # type: ignore[no-untyped-def]
    """The test's settings (SQLite and PostgreSQL) with storage in a fresh S3 bucket."""
    from server.storage import open_storage

    s = settings.model_copy(update={**FAST_WORKER, **s3_fields(s3_endpoint)})
    open_storage(s).ensure_bucket()  # type: ignore[attr-defined]
    return s


@pytest.fixture(scope="module")
def clips(tmp_path_factory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("s3clips")
    plan = demo_plan(4, seed=3)
    for clip in plan:
        write_clip(clip, folder / f"{clip.name}.mp4", w=96, h=72)
    return folder, plan


def _worker(settings: Any, tmp_path: Path, name: str, kinds: list[JobKind]) -> Worker:
    own = settings.model_copy(
        update={"media_dir": tmp_path / f"{name}-media", "scratch_dir": tmp_path / f"{name}-scr"}
    )
    return Worker(own, worker_id=name, kinds=kinds)


def _run_both(a: Worker, b: Worker) -> int:
    done = 0
    while True:
        ran = a.run_one() + b.run_one()
        done += ran
        if not ran:
            return done


def _files(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and not p.name.endswith(".lock")
    )


def test_upload_to_predictions_with_two_workers_and_no_shared_media(  # type: ignore[no-untyped-def]
    app, client, admin, alice, settings, clips, tmp_path
) -> None:
    storage = app.state.storage
    folder, plan = clips
    ids = {}
    for clip in plan:
        r = upload(client, alice, (folder / f"{clip.name}.mp4").read_bytes(), f"{clip.name}.mp4")
        assert r.status_code == 201, r.text
        ids[clip.name] = r.json()["id"]
    # the original is in the bucket, not in the API's media folder
    originals = [o.key for o in storage.list("originals/")]
    assert len(originals) == 4
    assert _files(settings.media_dir) == []

    media = _worker(settings, tmp_path, "wa", [JobKind.media, JobKind.train])
    feats = _worker(settings, tmp_path, "wb", [JobKind.features, JobKind.predict])
    try:
        assert _run_both(media, feats) == 8  # 4 media + 4 features jobs
        for vid in ids.values():
            d = client.get(f"/api/v1/videos/{vid}", headers=alice.h).json()
            assert d["status"] == "ready" and d["proxy"] and d["features"], d
        keys = {o.key for o in storage.list("")}
        for vid in ids.values():
            assert {f"proxies/{vid}.mp4", f"thumbnails/{vid}.jpg", f"thumbnails/{vid}.json"} <= keys
            assert f"features/{vid}/tiny-stats.npy" in keys
        with app.state.sessionmaker() as s:
            by_kind = {
                (j.kind, j.worker_id)
                for j in s.scalars(select(Job).where(Job.video_id.is_not(None)))
            }
        assert by_kind == {(JobKind.media, "wa"), (JobKind.features, "wb")}

        # the proxy plays with range requests, served from the bucket through the API
        vid = ids[plan[0].name]
        size = storage.stat(f"proxies/{vid}.mp4").size
        whole = client.get(f"/api/v1/videos/{vid}/proxy", headers=alice.h)
        assert whole.status_code == 200 and len(whole.content) == size
        assert whole.headers["accept-ranges"] == "bytes"
        part = client.get(
            f"/api/v1/videos/{vid}/proxy", headers={**alice.h, "Range": "bytes=100-1099"}
        )
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes 100-1099/{size}"
        assert part.content == whole.content[100:1100]
        tail = client.get(f"/api/v1/videos/{vid}/proxy", headers={**alice.h, "Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == whole.content[-10:]
        beyond = client.get(
            f"/api/v1/videos/{vid}/proxy", headers={**alice.h, "Range": f"bytes={size}-"}
        )
        assert beyond.status_code == 416
        assert beyond.headers["content-range"] == f"bytes */{size}"
        index = client.get(f"/api/v1/videos/{vid}/thumbnails", headers=alice.h).json()
        assert index["count"] > 0
        sprite = client.get(index["sprite_url"], headers=alice.h)
        assert sprite.status_code == 200 and sprite.content[:2] == b"\xff\xd8"  # JPEG
        original = client.get(f"/api/v1/videos/{vid}/file", headers=alice.h)
        assert original.content == (folder / f"{plan[0].name}.mp4").read_bytes()

        # labels and background clicks, then train and predict on S3 features
        for name in ("Bounce", "Spin"):
            client.post("/api/v1/classes", headers=admin.h, json={"name": name})
        classes = {
            c["name"]: c["id"] for c in client.get("/api/v1/classes", headers=alice.h).json()
        }
        sent: dict[str, list[float]] = {}  # background clicks per video, as sent
        for clip in plan:
            vid = ids[clip.name]
            present = sorted({classes[c] for _, _, c in clip.segments})
            r = client.put(
                f"/api/v1/videos/{vid}/labels", headers=alice.h, json={"class_ids": present}
            )
            assert r.status_code == 200
            sent[clip.name] = [0.2] + [max(0.0, s - 2.5) for s, _, _ in clip.segments]
            for k, t in enumerate(sent[clip.name]):
                r = client.post(
                    f"/api/v1/videos/{vid}/clicks",
                    headers=alice.h,
                    json={"t_s": t, "client_key": f"{clip.name}-{k}"},
                )
                assert r.status_code in (200, 201), r.text
        # one action click, in the middle of the first clip's first action
        a0, b0, c0 = plan[0].segments[0]
        action = ((a0 + b0) / 2, ["Bounce", "Spin"].index(c0))
        r = client.post(
            f"/api/v1/videos/{ids[plan[0].name]}/clicks",
            headers=alice.h,
            json={"t_s": action[0], "kind": "action", "class_id": classes[c0]},
        )
        assert r.status_code == 201, r.text
        r = client.post(
            "/api/v1/training-jobs",
            headers=admin.h,
            json={"supervision": "bg-click", "epochs": 2, "hidden": 16},
        )
        assert r.status_code == 202, r.text
        assert _run_both(media, feats) == 2  # train (wa), then predict (wb)
        with app.state.sessionmaker() as s:
            version = s.scalar(select(ModelVersion).where(ModelVersion.is_active))
            assert version is not None
            assert storage.exists(version.checkpoint_path)
            assert version.checkpoint_path.startswith("models/")
            assert s.scalar(select(Prediction.id).limit(1)) is not None
            train_job = s.scalar(select(Job).where(Job.kind == JobKind.train))
            predict_job = s.scalar(select(Job).where(Job.kind == JobKind.predict))
            assert train_job.worker_id == "wa" and predict_job.worker_id == "wb"
            assert predict_job.status == JobStatus.succeeded

        # no media folder was used by anyone: the API's holds nothing, the workers' nothing
        for folder_ in (settings.media_dir, tmp_path / "wa-media", tmp_path / "wb-media"):
            assert _files(folder_) == [], folder_
    finally:
        media.close()
        feats.close()
    # the scratch folders are private and empty once the workers stop
    assert _files(tmp_path / "wa-scr") == [] and _files(tmp_path / "wb-scr") == []
    assert (tmp_path / "wa-scr" / "worker-0").is_dir() and (
        tmp_path / "wb-scr" / "worker-0"
    ).is_dir()

    # the data-set export reads the features from the bucket: every video's arrays are the
    # stored features (cut in halves: tiny-stats is one stream), its labels and its clicks
    r = client.get("/api/v1/export/dataset", headers=admin.h)
    assert r.status_code == 200, r.text
    C = len(classes)
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert sorted(n for n in zf.namelist() if n.endswith(".npz")) == sorted(
            f"val/{clip.name}.npz" for clip in plan
        )
        assert json.loads(zf.read("classes.json")) == ["Bounce", "Spin"]
        for clip in plan:
            vid = ids[clip.name]
            stored = np.load(
                io.BytesIO(storage.read_bytes(f"features/{vid}/tiny-stats.npy")), allow_pickle=False
            )  # (T, D)
            T, D = stored.shape
            duration = client.get(f"/api/v1/videos/{vid}", headers=alice.h).json()["duration_s"]
            with np.load(io.BytesIO(zf.read(f"val/{clip.name}.npz")), allow_pickle=False) as a:
                assert str(a["vid_name"]) == clip.name
                assert a["feat_spa"].shape == (D // 2, T) and a["feat_tem"].shape == (D - D // 2, T)
                np.testing.assert_array_equal(
                    np.concatenate([a["feat_spa"], a["feat_tem"]]).T, stored
                )
                present = {["Bounce", "Spin"].index(c) for _, _, c in clip.segments}
                np.testing.assert_array_equal(
                    a["cls_label"], [float(i in present) for i in range(C)]
                )
                expected = np.full(T, -100, dtype=np.int64)
                for t in sent[clip.name]:
                    expected[snippet_index(t, duration, T)] = C
                np.testing.assert_array_equal(a["point_label"], expected)
                actions = np.full(T, -100, dtype=np.int64)
                if clip is plan[0]:
                    actions[snippet_index(action[0], duration, T)] = action[1]
                np.testing.assert_array_equal(a["action_point_label"], actions)

    # purge: a deleted video's objects leave the bucket; the others stay
    gone = ids[plan[1].name]
    assert client.delete(f"/api/v1/videos/{gone}", headers=admin.h).status_code == 204
    from server.cli import main as cli_main

    env_settings = {
        "BACKTAL_DATABASE_URL": settings.database_url,
        "BACKTAL_MEDIA_DIR": str(settings.media_dir),
        **s3_env(settings),
    }
    mp = pytest.MonkeyPatch()
    try:
        for k, v in env_settings.items():
            mp.setenv(k, v)
        assert cli_main(["purge", "--older-than", "0"]) == 0
    finally:
        mp.undo()
    keys = {o.key for o in storage.list("")}
    with app.state.sessionmaker() as s:
        purged = s.get(Video, gone)
        assert purged.file_path == "" and purged.proxy_path is None
    assert not any(k.startswith((f"proxies/{gone}.", f"thumbnails/{gone}.")) for k in keys)
    assert not any(k.startswith(f"features/{gone}/") for k in keys)
    kept = ids[plan[0].name]
    assert f"proxies/{kept}.mp4" in keys and f"features/{kept}/tiny-stats.npy" in keys
    assert len([k for k in keys if k.startswith("originals/")]) == 3


def test_bucket_import_twice_and_non_videos_listed_as_failed(  # type: ignore[no-untyped-def]
    app, client, admin, alice, settings, clips, tmp_path
) -> None:
    storage = app.state.storage
    folder, plan = clips
    storage.put_file("incoming/a/first.mp4", folder / f"{plan[0].name}.mp4")
    storage.put_file("incoming/b/second.mp4", folder / f"{plan[1].name}.mp4")
    storage.put_bytes("incoming/notes.txt", b"camera 2, day 1")
    storage.put_bytes("incoming/broken.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x07" * 5000)
    storage.put_bytes("elsewhere/third.mp4", (folder / f"{plan[2].name}.mp4").read_bytes())

    r = client.post("/api/v1/videos/register", headers=admin.h, json={"prefix": "incoming/"})
    assert r.status_code == 201, r.text
    first = r.json()
    assert sorted(v["name"] for v in first["created"]) == ["first", "second"]
    assert first["existing"] == []
    failed = {f["key"]: f["reason"] for f in first["failed"]}
    assert set(failed) == {"incoming/notes.txt", "incoming/broken.mp4"}
    assert all(reason.startswith("not a usable video") for reason in failed.values()), failed

    # again, by the bucket URL: nothing new, the same two listed as existing
    bucket, prefix = settings.storage_url[len("s3://") :].split("/", 1)
    again = client.post(
        "/api/v1/videos/register",
        headers=admin.h,
        json={"prefix": f"s3://{bucket}/{prefix}/incoming"},
    ).json()
    assert again["created"] == []
    assert sorted(v["id"] for v in again["existing"]) == sorted(v["id"] for v in first["created"])
    assert len(again["failed"]) == 2
    with app.state.sessionmaker() as s:
        rows = list(s.scalars(select(Video).order_by(Video.id)))
    assert [v.file_path for v in rows] == ["incoming/a/first.mp4", "incoming/b/second.mp4"]

    # the imported videos are processed like uploads (the objects stay where they are)
    w = _worker(settings, tmp_path, "wi", [JobKind.media, JobKind.features])
    try:
        assert w.run(once=True) == 4
    finally:
        w.close()
    d = client.get(f"/api/v1/videos/{rows[0].id}", headers=alice.h).json()
    assert d["status"] == "ready" and d["proxy"] and d["features"]
    assert storage.exists("incoming/a/first.mp4")

    # refusals a person can act on
    for body, status, words in (
        ({"prefix": "s3://other-bucket/x/"}, 422, "is in bucket 'other-bucket'"),
        ({"prefix": f"s3://{bucket}/not-ours/"}, 422, "outside this server's storage prefix"),
        ({"prefix": "nothing-here/"}, 404, "no objects under"),
        ({"prefix": "../up"}, 400, "relative to the storage root"),
        ({"paths": ["x.mp4"]}, 422, "send 'prefix'"),
        ({}, 422, "either 'paths'"),
    ):
        r = client.post("/api/v1/videos/register", headers=admin.h, json=body)
        assert r.status_code == status and words in r.json()["detail"], (body, r.text)
    assert (
        client.post(
            "/api/v1/videos/register", headers=alice.h, json={"prefix": "incoming/"}
        ).status_code
        == 403
    )

    # the CLI does the same, and is idempotent too
    import subprocess
    import sys

    env = {
        **__import__("os").environ,
        "BACKTAL_DATABASE_URL": settings.database_url,
        "BACKTAL_MEDIA_DIR": str(tmp_path / "cli-media"),
        **s3_env(settings),
    }
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "register", f"s3://{bucket}/{prefix}/elsewhere/"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "created video" in out.stdout and "elsewhere/third.mp4" in out.stdout
    out2 = subprocess.run(
        [sys.executable, "-m", "server.cli", "register", "elsewhere/"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out2.returncode == 0 and "0 created, 1 already registered" in out2.stderr, out2.stderr
