"""``server.cli purge``: a dry run lists exactly what a real purge removes; clicks stay;
checkpoint retention after a training publishes."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from server.cli import main as cli
from server.db import session_scope
from server.housekeeping.tempfiles import HOST
from server.models import (
    ActivationCurve,
    Click,
    Feature,
    Job,
    JobKind,
    JobStatus,
    ModelVersion,
    Prediction,
    Suggestion,
    SuggestionResponse,
    SuggestionResponseKind,
    Video,
    VideoLabel,
    utcnow,
)
from tests.server.helpers import FAST_WORKER, media_files, run_worker, upload


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={**FAST_WORKER, "checkpoint_keep_last": 0})


def _rows(app: Any) -> dict[str, set[str]]:
    """Every row of the tables a purge may touch, as the purge's own line format."""
    with app.state.sessionmaker() as s:
        return {
            "features": {f"row features id={i}" for i in s.scalars(select(Feature.id))},
            "predictions": {f"row predictions id={i}" for i in s.scalars(select(Prediction.id))},
            "curves": {
                f"row activation_curves model_version_id={m} video_id={v}"
                for m, v in s.execute(
                    select(ActivationCurve.model_version_id, ActivationCurve.video_id)
                )
            },
            "suggestions": {f"row suggestions id={i}" for i in s.scalars(select(Suggestion.id))},
            "responses": {
                f"row suggestion_responses suggestion_id={a} annotator_id={b}"
                for a, b in s.execute(
                    select(SuggestionResponse.suggestion_id, SuggestionResponse.annotator_id)
                )
            },
            "clicks": {str(r) for r in s.execute(select(Click.id, Click.deleted_at))},
            "labels": {str(r) for r in s.execute(select(VideoLabel.video_id, VideoLabel.class_id))},
            "videos": {
                "|".join(map(str, r))
                for r in s.execute(
                    select(Video.id, Video.file_path, Video.proxy_path, Video.thumbnails_path)
                )
            },
        }


def _purge(monkeypatch, capsys, settings, *args: str) -> list[str]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BACKTAL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("BACKTAL_MEDIA_DIR", str(settings.media_dir))
    monkeypatch.setenv("BACKTAL_CHECKPOINT_KEEP_LAST", "0")
    capsys.readouterr()
    assert cli(["purge", *args]) == 0
    out = capsys.readouterr()
    return out.out.splitlines()


def test_dry_run_lists_exactly_what_a_purge_removes(  # type: ignore[no-untyped-def]
    app, client, settings, admin, alice, clip_bytes, clip2_bytes, monkeypatch, capsys
) -> None:
    a = upload(client, alice, clip_bytes, "a.mp4").json()["id"]
    b = upload(client, alice, clip2_bytes, "b.mp4").json()["id"]
    keep = upload(client, alice, clip_bytes[:-1] + b"\0", "keep.mp4")
    assert keep.status_code == 201, keep.text  # a third video that stays
    kept = keep.json()["id"]
    run_worker(settings)
    cls = client.post("/api/v1/classes", headers=admin.h, json={"name": "Bounce"}).json()["id"]
    for vid in (a, b, kept):
        r = client.put(f"/api/v1/videos/{vid}/labels", headers=alice.h, json={"class_ids": [cls]})
        assert r.status_code == 200
        for k, t in enumerate((0.2, 2.8)):
            r = client.post(
                f"/api/v1/videos/{vid}/clicks",
                headers=alice.h,
                json={"t_s": t, "client_key": f"{vid}-{k}"},
            )
            assert r.status_code == 201
    body = {"supervision": "bg-click", "epochs": 2, "hidden": 16, "holdout_fraction": 0.0}
    for _ in range(2):  # two trainings: retention (keep 0 + active) drops the first file
        assert client.post("/api/v1/training-jobs", headers=admin.h, json=body).status_code == 202
        run_worker(settings)
    with app.state.sessionmaker() as s:
        v1, v2 = s.scalars(select(ModelVersion).order_by(ModelVersion.id))
        trains = list(s.scalars(select(Job).where(Job.kind == JobKind.train).order_by(Job.id)))
    # a suggestion on the video to purge, whatever the tiny model happened to suggest
    with session_scope(app.state.sessionmaker) as s:
        suggestion = Suggestion(
            model_version_id=v2.id, video_id=a, rank=99, t_s=3.1, score=0.5, reason="low_confidence"
        )
        s.add(suggestion)
        s.flush()
        sid = suggestion.id
    assert [j.status for j in trains] == [JobStatus.succeeded] * 2
    assert v2.is_active and (settings.media_dir / v2.checkpoint_path).is_file()
    assert not (settings.media_dir / v1.checkpoint_path).exists()  # removed after publishing
    assert "1 old checkpoint file(s) removed" in (trains[1].message or "")
    # an annotator's answer to that suggestion: the purge takes it with the suggestion
    r = client.put(
        f"/api/v1/suggestions/{sid}/response",
        headers=alice.h,
        json={"response": SuggestionResponseKind.passed.value},
    )
    assert r.status_code == 200, r.text
    # a re-uploaded copy of b shares b's original file: b's purge must not take it
    assert client.delete(f"/api/v1/videos/{a}", headers=admin.h).status_code == 204
    assert client.delete(f"/api/v1/videos/{b}", headers=admin.h).status_code == 204
    again = upload(client, alice, clip2_bytes, "b-again.mp4").json()
    run_worker(settings)
    with session_scope(app.state.sessionmaker) as s:
        s.execute(
            update(Video).where(Video.id.in_([a, b])).values(deleted_at=utcnow() - timedelta(10))
        )
        shared = s.get(Video, b).file_path
    assert again["id"] not in (a, b)
    dead = settings.media_dir / "proxies" / f".x.mp4@{HOST}@999999999@abc@ff.part"
    dead.write_bytes(b"partial")  # a dead writer's temporary file (pid beyond pid_max)

    assert _purge(monkeypatch, capsys, settings, "--older-than", "30", "--dry-run") == [
        f"temporary file {dead.relative_to(settings.media_dir).as_posix()}"
    ]
    files_before, rows_before = set(media_files(app)), _rows(app)
    planned = _purge(monkeypatch, capsys, settings, "--older-than", "7", "--dry-run")
    assert set(media_files(app)) == files_before and _rows(app) == rows_before  # nothing gone
    removed = _purge(monkeypatch, capsys, settings, "--older-than", "7")
    assert removed == planned

    files_after, rows_after = set(media_files(app)), _rows(app)
    listed_files = {
        line.split()[-1] if line.startswith("  file ") else line.split()[2]
        for line in planned
        if line.startswith(("  file ", "temporary file "))
    }
    assert files_before - files_after == listed_files
    assert files_after <= files_before
    assert not any(f.startswith(".trash") for f in files_after)
    for vid in (a, b):  # everything derived from the purged videos went
        assert f"proxies/{vid}.mp4" in listed_files and f"thumbnails/{vid}.jpg" in listed_files
        assert not any(f.startswith(f"features/{vid}/") for f in files_after)
    assert shared in files_after and shared not in listed_files
    listed_rows = {line.strip() for line in planned if line.strip().startswith("row ")}
    gone_rows = {r for t in rows_before if t != "videos" for r in rows_before[t] - rows_after[t]}
    assert gone_rows == listed_rows and listed_rows
    assert {
        f"row suggestions id={sid}",
        f"row suggestion_responses suggestion_id={sid} annotator_id={alice.id}",
    } <= listed_rows
    assert not rows_after["responses"]  # the only answer was to a purged video's suggestion
    changed = {int(r.split("|")[0]) for r in rows_before["videos"] - rows_after["videos"]}
    updates = {int(m[1]) for line in planned if (m := re.search(r"update videos id=(\d+):", line))}
    assert changed == updates == {a, b}
    with app.state.sessionmaker() as s:
        assert not s.scalars(select(Feature).where(Feature.video_id.in_([a, b]))).all()
        assert not s.scalars(select(Prediction).where(Prediction.video_id.in_([a, b]))).all()
        assert s.scalars(select(Prediction).where(Prediction.video_id == kept)).all()
        purged = s.get(Video, a)
        assert purged is not None and purged.file_path == "" and purged.proxy_path is None
    # on record: clicks, labels; the remaining videos are untouched
    for table in ("clicks", "labels"):
        assert rows_after[table] == rows_before[table]
    assert client.get(f"/api/v1/videos/{kept}/proxy", headers=alice.h).status_code == 200
    assert client.get(f"/api/v1/videos/{again['id']}/file", headers=alice.h).status_code == 200
    assert _purge(monkeypatch, capsys, settings, "--older-than", "7", "--dry-run") == []
    # the version whose checkpoint went cannot run again, and says why
    with session_scope(app.state.sessionmaker) as s:
        from server.jobs import service as jobs

        job_id = jobs.enqueue(s, JobKind.predict, model_version_id=v1.id).id
    run_worker(settings)
    with app.state.sessionmaker() as s:
        job = s.get(Job, job_id)
    assert job is not None and job.status == JobStatus.failed and job.attempts == 1
    assert "checkpoint" in (job.error or "") and "gone" in (job.error or "")


def test_purge_skips_a_video_a_job_still_works_on(  # type: ignore[no-untyped-def]
    app, client, settings, admin, alice, clip_bytes, monkeypatch, capsys
) -> None:
    vid = upload(client, alice, clip_bytes).json()["id"]  # its media job stays queued
    assert client.delete(f"/api/v1/videos/{vid}", headers=admin.h).status_code == 204
    with session_scope(app.state.sessionmaker) as s:
        s.execute(update(Video).where(Video.id == vid).values(deleted_at=utcnow() - timedelta(9)))
    before = set(media_files(app))
    assert _purge(monkeypatch, capsys, settings, "--older-than", "1") == []
    assert set(media_files(app)) == before


def test_checkpoint_retention_keeps_active_newest_and_needed(app, settings) -> None:  # type: ignore[no-untyped-def]
    from server.housekeeping.checkpoints import checkpoints_to_drop
    from server.jobs import service as jobs

    media: Path = settings.media_dir
    (media / "models").mkdir(parents=True, exist_ok=True)
    with session_scope(app.state.sessionmaker) as s:
        ids = []
        for i in range(6):
            path = f"models/v{i}.pt"
            (media / path).write_bytes(b"w")
            v = ModelVersion(
                supervision="bg-click",
                checkpoint_path=path,
                is_active=(i == 1),
                created_at=utcnow() + timedelta(seconds=i),
            )
            s.add(v)
            s.flush()
            ids.append(v.id)
        jobs.enqueue(s, JobKind.predict, model_version_id=ids[2])  # still needs v2
        (media / "models" / "v0.pt").unlink()  # already gone: not listed again
    with app.state.sessionmaker() as s:
        dropped = checkpoints_to_drop(s, app.state.storage, keep_last=2)
        assert [d.version_id for d in dropped] == [ids[3]]  # not 0 (gone), 1 (active),
        # 2 (a job needs it), 4 and 5 (newest two)
        assert [
            d.version_id for d in checkpoints_to_drop(s, app.state.storage, keep_last=0)
        ] == ids[3:]
