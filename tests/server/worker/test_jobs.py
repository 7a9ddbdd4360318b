"""Jobs and the worker: the upload pipeline, failures, cancel, stale recovery, crashes."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update

from server.db import session_scope
from server.jobs import service as jobs
from server.models import Feature, Job, JobKind, JobStatus, Video, VideoStatus, utcnow
from server.worker.context import JobContext
from server.worker.loop import Worker
from tests.server.helpers import FAST_WORKER, run_worker, upload, worker_env, worker_once

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update=FAST_WORKER)


def job_rows(app) -> list[Job]:
    with app.state.sessionmaker() as s:
        return list(s.scalars(select(Job).order_by(Job.id)))


def test_upload_runs_proxy_thumbnails_features_by_itself(client, app, settings, alice, clip_bytes):
    video = upload(client, alice, clip_bytes).json()
    queued = client.get("/api/v1/jobs", headers=alice.h).json()
    assert [(j["kind"], j["status"]) for j in queued] == [("media", "queued")]
    assert run_worker(settings) == 2
    kinds = [(j.kind, j.status, j.attempts) for j in job_rows(app)]
    assert kinds == [
        (JobKind.media, JobStatus.succeeded, 1),
        (JobKind.features, JobStatus.succeeded, 1),
    ]
    v = client.get(f"/api/v1/videos/{video['id']}", headers=alice.h).json()
    assert v["status"] == "ready" and v["proxy"] and v["thumbnails"]
    assert v["features"]["extractor"] == "tiny-stats" and v["features"]["D"] == 32
    # 4 s at 25 fps = 100 frames = 6 full 16-frame snippets + the partial one, which the
    # rule keeps (model/features/frames.py: T = ceil(N / 16) = 7)
    assert v["features"]["T"] == 7
    proxy = client.get(f"/api/v1/videos/{video['id']}/proxy", headers=alice.h)
    assert proxy.status_code == 200 and proxy.headers["content-type"] == "video/mp4"
    part = client.get(
        f"/api/v1/videos/{video['id']}/proxy", headers={**alice.h, "Range": "bytes=0-99"}
    )
    assert part.status_code == 206 and len(part.content) == 100
    thumbs = client.get(f"/api/v1/videos/{video['id']}/thumbnails", headers=alice.h).json()
    assert thumbs["count"] == len(thumbs["times_s"]) >= 4
    sprite = client.get(thumbs["sprite_url"], headers=alice.h)
    assert sprite.status_code == 200 and sprite.content[:2] == b"\xff\xd8"
    with app.state.sessionmaker() as s:
        feat = s.scalar(select(Feature))
        assert feat is not None
        arr = np.load(settings.media_dir / feat.path)
    assert arr.shape == (v["features"]["T"], 32) and arr.dtype == np.float32
    job = client.get(f"/api/v1/jobs/{queued[0]['id']}", headers=alice.h).json()
    assert job["progress"] == 1.0 and "proxy" in job["log_tail"]


def test_damaged_file_fails_job_with_reason(client, app, settings, alice, clip_bytes):
    video = upload(client, alice, clip_bytes).json()
    with app.state.sessionmaker() as s:
        path = settings.media_dir / s.get(Video, video["id"]).file_path
    data = bytearray(path.read_bytes())
    # keep the header, destroy the media data: the upload probe passed, the job cannot
    data[len(data) // 8 :] = bytes(len(data) - len(data) // 8)
    path.write_bytes(bytes(data))
    run_worker(settings)
    (job,) = [j for j in job_rows(app) if j.kind == JobKind.media]
    assert job.status == JobStatus.failed
    assert job.error and len(job.error) < 500 and "Traceback" not in job.error
    v = client.get(f"/api/v1/videos/{video['id']}", headers=alice.h).json()
    assert v["status"] == "failed"
    assert v["status_message"].startswith("media job failed:")
    assert client.get("/api/v1/health").status_code == 200
    assert client.get(f"/api/v1/videos/{video['id']}/proxy", headers=alice.h).status_code == 404


def test_cancel_queued_and_running(client, app, settings, admin, alice, clip_bytes):
    video = upload(client, alice, clip_bytes).json()
    (media_job,) = client.get("/api/v1/jobs", headers=admin.h).json()
    assert client.post(f"/api/v1/jobs/{media_job['id']}/cancel", headers=alice.h).status_code == 403
    r = client.post(f"/api/v1/jobs/{media_job['id']}/cancel", headers=admin.h)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/jobs/{media_job['id']}/cancel", headers=admin.h)
    assert again.status_code == 409 and "already finished" in again.json()["detail"]

    started = threading.Event()

    def blocking(ctx: JobContext):
        started.set()
        deadline = time.monotonic() + 20
        while not ctx.should_stop():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        ctx.check_stop()
        raise AssertionError("unreachable")

    with session_scope(app.state.sessionmaker) as s:
        job_id = jobs.enqueue(s, JobKind.features, video_id=video["id"]).id
    worker = Worker(settings, handlers={JobKind.features: blocking})
    t = threading.Thread(target=worker.run, kwargs={"once": True})
    t.start()
    assert started.wait(10)
    r = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=admin.h)
    assert r.status_code == 200 and r.json()["cancel_requested"]
    t.join(20)
    worker.close()
    final = client.get(f"/api/v1/jobs/{job_id}", headers=admin.h).json()
    assert final["status"] == "cancelled"


def test_stale_jobs_are_requeued_then_failed(app, settings, client, alice, clip_bytes):
    video = upload(client, alice, clip_bytes).json()
    factory = app.state.sessionmaker
    for attempt in range(1, 4):
        with session_scope(factory) as s:
            job = jobs.claim_next(s, "ghost")
            assert job is not None and job.attempts == attempt
            job.heartbeat_at = utcnow() - timedelta(seconds=60)
        with session_scope(factory) as s:
            (stale,) = jobs.recover_stale(s, settings.job_stale_after_s)
            expected = JobStatus.queued if attempt < 3 else JobStatus.failed
            assert stale.status == expected
            assert "stopped responding" in (stale.message or "")
    # a worker applies the same rule and marks the video failed with the reason
    with session_scope(factory) as s:
        s.execute(
            update(Job).values(
                status=JobStatus.running,
                heartbeat_at=utcnow() - timedelta(seconds=60),
                attempts=3,
                worker_id="ghost",
            )
        )
    Worker(settings).recover_stale()
    with factory() as s:
        v = s.get(Video, video["id"])
        assert v.status == VideoStatus.failed and "stopped responding" in v.status_message


def test_a_worker_that_lost_its_job_cannot_publish(app, settings, client, alice, clip_bytes):
    upload(client, alice, clip_bytes)
    factory = app.state.sessionmaker
    with session_scope(factory) as s:
        job = jobs.claim_next(s, "w1")
        job_id = job.id
    with session_scope(factory) as s:  # the stale rule gives the job to someone else
        s.execute(
            update(Job).where(Job.id == job_id).values(status=JobStatus.queued, worker_id=None)
        )
    with session_scope(factory) as s:
        assert jobs.heartbeat(s, job_id, "w1", progress=0.5) == (False, False)
        assert not jobs.finish(s, job_id, "w1", JobStatus.succeeded)
    with factory() as s:
        assert s.get(Job, job_id).status == JobStatus.queued


def _wait(predicate, timeout: float, what: str, details=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {details()}"
        time.sleep(0.1)


def test_kill_9_mid_features_job_then_second_worker_finishes(
    app, settings, client, alice, clip_bytes
):
    settings = settings.model_copy(update={"feature_extractor": "slow-test"})
    video = upload(client, alice, clip_bytes).json()
    run_worker(settings, kinds=[JobKind.media])  # proxy + thumbnails in-process
    env = worker_env(settings, SLOW_EXTRACTOR_DELAY_S="0.15")
    cmd = [sys.executable, "-m", "tests.server.worker.slow_extractor", "--id", "victim"]
    victim_log = settings.media_dir / "victim.log"
    victim = subprocess.Popen(
        cmd,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=victim_log.open("wb"),
    )
    factory = app.state.sessionmaker

    def features_job() -> Job | None:
        with factory() as s:
            return s.scalar(select(Job).where(Job.kind == JobKind.features))

    try:
        _wait(
            lambda: (
                (j := features_job()) is not None
                and j.status == JobStatus.running
                and j.progress >= 0.2
            ),
            60,
            "the features job to make progress",
            lambda: f"{features_job().__dict__} {victim_log.read_text()[-3000:]}",
        )
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    killed = features_job()
    assert killed.status == JobStatus.running and killed.worker_id == "victim"
    with factory() as s:
        assert s.scalar(select(Feature)) is None  # nothing published by the killed worker
    # the rescuer's --once run ends at an empty queue: the killed job becomes claimable only
    # once its heartbeat is older than job_stale_after_s, so run it until the job is done
    rescuer_cmd = [sys.executable, "-m", "tests.server.worker.slow_extractor", "--id", "rescuer"]
    deadline = time.monotonic() + 60
    while features_job().status != JobStatus.succeeded and time.monotonic() < deadline:
        rescuer = subprocess.run(
            [*rescuer_cmd, "--once"],
            env=worker_env(settings, SLOW_EXTRACTOR_DELAY_S="0.0"),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        time.sleep(0.5)
    done = features_job()
    assert done.status == JobStatus.succeeded, rescuer.stderr[-2000:]
    assert done.attempts == 2 and done.worker_id == "rescuer"
    v = client.get(f"/api/v1/videos/{video['id']}", headers=alice.h).json()
    assert v["status"] == "ready" and v["features"] == {"extractor": "slow-test", "T": 40, "D": 8}
    with factory() as s:
        feat = s.scalar(select(Feature))
    arr = np.load(settings.media_dir / feat.path)
    assert arr.shape == (40, 8) and float(arr[-1, 0]) == 39.0
    assert not feat.path.endswith(".tmp")


def test_three_workers_thirty_jobs_each_runs_once(app, settings, client, admin, tmp_path):
    from server.demo import DemoClip, write_clip

    media = settings.media_dir
    (media / "batch").mkdir(parents=True)
    for i in range(30):
        write_clip(
            DemoClip(f"batch{i:02d}", 1.0, []), media / "batch" / f"b{i:02d}.mp4", w=96, h=64
        )
    r = client.post("/api/v1/videos/register", headers=admin.h, json={"paths": ["batch"]})
    assert r.status_code == 201 and len(r.json()["created"]) == 30
    trace = tmp_path / "trace.txt"
    env = worker_env(settings, BACKTAL_JOB_TRACE_FILE=str(trace))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "server.worker", "--id", f"w{i}"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(3)
    ]
    try:

        def all_done() -> bool:
            rows = job_rows(app)
            return len(rows) == 60 and all(j.status == JobStatus.succeeded for j in rows)

        _wait(all_done, 240, "60 jobs (30 media + 30 features) to succeed")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)
    runs = [line.split() for line in trace.read_text().splitlines()]
    job_ids = [int(r[0]) for r in runs]
    assert sorted(job_ids) == sorted({j.id for j in job_rows(app)})  # each exactly once
    assert all(j.attempts == 1 for j in job_rows(app))
    assert len({r[1] for r in runs}) >= 2  # the work really was shared


@pytest.mark.parametrize("threads", ["2", None])
def test_worker_threads_setting(app, settings, threads):  # type: ignore[no-untyped-def]
    """BACKTAL_WORKER_THREADS sets the worker's torch threads; unset, it keeps one."""
    env = worker_env(settings)
    env.pop("BACKTAL_WORKER_THREADS", None)
    if threads is not None:
        env["BACKTAL_WORKER_THREADS"] = threads
    done = worker_once(env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"torch intra-op threads: {threads or 1}" in done.stderr, done.stderr[-3000:]
