"""``server.cli reset``: after the demo, ``--demo`` removes what the demo made (and what was
computed from it) and leaves the lab's own data; ``--all --yes`` removes everything the
server made but not files the lab registered; a running job stops both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from server import cli, demo
from server.models import (
    ActionClass,
    Click,
    Feature,
    GroundTruthSegment,
    Job,
    JobStatus,
    ModelVersion,
    User,
    Video,
    VideoLabel,
)
from tests.conftest import make_user
from tests.server.helpers import FAST_WORKER, run_worker, upload


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    # no token cache: the reset runs as another process, whose changes a cache would hide for
    # BACKTAL_TOKEN_CACHE_S (tests/server/users tests that lifetime)
    return settings.model_copy(update={**FAST_WORKER, "token_cache_s": 0})


@pytest.fixture
def run_cli(settings, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BACKTAL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("BACKTAL_MEDIA_DIR", str(settings.media_dir))
    monkeypatch.setenv("BACKTAL_FEATURE_EXTRACTOR", settings.feature_extractor)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def rows(app, model, *where) -> int:  # type: ignore[no-untyped-def]
    with app.state.sessionmaker() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture
def after_the_demo(client, app, settings, clip_bytes) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The demo seeded, processed and trained on; then the lab's own class, user, video,
    label and click."""
    out = demo.seed(settings, 2, log=lambda _: None)
    admin = {"Authorization": f"Bearer {out.admin_token}"}
    run_worker(settings)  # proxies, thumbnails, features of the demo clips
    r = client.post(
        "/api/v1/training-jobs", headers=admin, json={"epochs": 2, "hidden": 16, "seed": 0}
    )
    assert r.status_code == 202, r.text
    run_worker(settings)  # train, predict
    with app.state.sessionmaker() as s:
        version = s.scalar(select(ModelVersion))
        assert version is not None and version.is_active
        checkpoint = version.checkpoint_path
        demo_ids = list(s.scalars(select(Video.id).order_by(Video.id)))
    lab = make_user(app, "lab1", "annotator")
    dive = client.post("/api/v1/classes", headers=admin, json={"name": "Dive"}).json()
    mine = upload(client, lab, clip_bytes, "mine.mp4").json()["id"]
    run_worker(settings)  # its proxy and features; the active demo version predicts it
    client.put(f"/api/v1/videos/{mine}/labels", headers=lab.h, json={"class_ids": [dive["id"]]})
    client.post(f"/api/v1/videos/{mine}/clicks", headers=lab.h, json={"t_s": 1.0})
    return {
        "admin_token": out.admin_token,
        "annotator_token": out.annotator_token,
        "demo_ids": demo_ids,
        "mine": mine,
        "lab": lab,
        "checkpoint": checkpoint,
    }


def media_files(settings) -> set[str]:  # type: ignore[no-untyped-def]
    root: Path = settings.media_dir
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_reset_demo_removes_the_demo_and_keeps_your_own(
    client, app, settings, after_the_demo, run_cli
):
    d = after_the_demo
    files_before = media_files(settings)
    demo_files = {
        f
        for f in files_before
        if f.startswith("demo/")
        or any(
            f.startswith(f"{p}/{i}")
            for p in ("proxies", "thumbnails", "features")
            for i in d["demo_ids"]
        )
    }
    assert {"demo/demo_01.mp4", "demo/ground_truth.json", d["checkpoint"]} <= files_before
    mine_files = {f for f in files_before if f.startswith(f"features/{d['mine']}/")}
    assert mine_files

    dry_code, dry, _ = run_cli("reset", "--demo", "--dry-run")
    assert dry_code == 0 and "would remove video" in dry and "'demo_01'" in dry
    assert rows(app, Video) == 3 and media_files(settings) == files_before  # nothing went

    code, out, err = run_cli("reset", "--demo")
    assert code == 0, err
    # the demo's rows are gone, with everything computed from them
    with app.state.sessionmaker() as s:
        assert [v.name for v in s.scalars(select(Video))] == ["mine"]
        assert sorted(c.name for c in s.scalars(select(ActionClass))) == ["Dive"]
        assert sorted(u.name for u in s.scalars(select(User))) == ["admin", "lab1"]
        assert s.scalar(select(func.count()).select_from(ModelVersion)) == 0
        assert s.scalar(select(func.count()).select_from(GroundTruthSegment)) == 0
        assert {j.video_id for j in s.scalars(select(Job))} == {d["mine"]}
        assert [c.annotator_id for c in s.scalars(select(Click))] == [d["lab"].id]
        assert [lab.annotator_id for lab in s.scalars(select(VideoLabel))] == [d["lab"].id]
        assert [f.video_id for f in s.scalars(select(Feature))] == [d["mine"]]
    after = media_files(settings)
    assert not (after & demo_files), sorted(after & demo_files)
    assert d["checkpoint"] not in after
    assert mine_files <= after
    # the admin stays with a new token; every token the demo printed stops working
    token = next(
        line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("admin token")
    )
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    for old in (d["admin_token"], d["annotator_token"]):
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {old}"}).status_code == 401
        )
    assert client.get("/api/v1/me", headers=d["lab"].h).status_code == 200
    # the lab's video still plays and lists
    assert client.get(f"/api/v1/videos/{d['mine']}/proxy", headers=d["lab"].h).status_code == 200
    # again: nothing more to remove
    code, out, _ = run_cli("reset", "--demo")
    assert code == 0 and "removed video" not in out


def test_demo_class_and_user_used_by_your_own_data_stay(client, app, after_the_demo, run_cli):
    d = after_the_demo
    annotator = {"Authorization": f"Bearer {d['annotator_token']}"}
    with app.state.sessionmaker() as s:
        bounce = s.scalar(select(ActionClass.id).where(ActionClass.name == "Bounce"))
    # the demo's annotator account labelled the lab's video with a demo class
    r = client.put(
        f"/api/v1/videos/{d['mine']}/labels", headers=annotator, json={"class_ids": [bounce]}
    )
    assert r.status_code == 200, r.text
    code, out, err = run_cli("reset", "--demo")
    assert code == 0, err
    assert "kept: class 'Bounce' stays: 1 label(s)" in out
    assert "kept: user 'annotator' stays" in out
    with app.state.sessionmaker() as s:
        assert sorted(c.name for c in s.scalars(select(ActionClass))) == ["Bounce", "Dive"]
        assert sorted(u.name for u in s.scalars(select(User))) == ["admin", "annotator", "lab1"]
        assert s.scalar(select(func.count()).select_from(ModelVersion)) == 0  # knew Spin


def test_reset_all_needs_yes_and_keeps_files_you_registered(
    client, app, settings, after_the_demo, run_cli, clip2_bytes
):
    d = after_the_demo
    own = settings.media_dir / "incoming" / "field.mp4"
    own.parent.mkdir(parents=True)
    own.write_bytes(clip2_bytes)
    admin = {"Authorization": f"Bearer {d['admin_token']}"}
    r = client.post("/api/v1/videos/register", headers=admin, json={"paths": ["incoming"]})
    assert r.status_code == 201, r.text
    code, _, err = run_cli("reset", "--all")
    assert code == 2 and "--yes" in err
    assert rows(app, Video) == 4
    code, out, err = run_cli("reset", "--all", "--yes")
    assert code == 0, err
    assert "kept: 1 registered file(s) stay where you put them" in out
    assert "create-user" in err
    for model in (Video, ActionClass, User, Click, VideoLabel, Job, ModelVersion, Feature):
        assert rows(app, model) == 0, model
    left = media_files(settings)
    assert left == {"incoming/field.mp4"}, sorted(left)


def test_a_running_job_stops_the_reset(client, app, settings, after_the_demo, run_cli):
    d = after_the_demo
    with app.state.sessionmaker() as s:
        job = s.scalar(select(Job).where(Job.video_id == d["demo_ids"][0]))
        assert job is not None
        job.status = JobStatus.running
        s.commit()
    before = media_files(settings)
    for args in (("--demo",), ("--all", "--yes")):
        code, _, err = run_cli("reset", *args)
        assert code == 1 and f"job {job.id} (media) is running" in err and "stop the workers" in err
    assert rows(app, Video) == 3 and media_files(settings) == before


def test_reset_without_the_demo_changes_nothing(client, app, admin, alice, clip_bytes, run_cli):
    upload(client, alice, clip_bytes)
    code, out, _ = run_cli("reset", "--demo")
    assert code == 0 and "removed" not in out and "admin token" not in out
    assert rows(app, Video) == 1 and rows(app, User) == 2
    assert client.get("/api/v1/me", headers=admin.h).status_code == 200  # not re-issued
