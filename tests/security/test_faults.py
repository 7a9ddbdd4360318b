"""Fault tests: the database going away during clicks, a full disk or unwritable media
folder on upload, a worker killed at each job stage, the server killed while jobs run."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text, update

from server.models import Click, Feature, Job, JobKind, JobStatus, Video, VideoStatus, utcnow
from server.worker.loop import Worker
from tests.conftest import make_user
from tests.security.live import free_port, serve, wait_for
from tests.server.helpers import FAST_WORKER, count, media_files, upload, worker_env

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------ database restart (PostgreSQL)

CLICKERS = 4
CLICKS = 120


@pytest.mark.postgres
def test_connections_killed_during_clicks_lose_no_acknowledged_click(app, clip_bytes) -> None:  # type: ignore[no-untyped-def]
    """What a PostgreSQL restart looks like to the app, without restarting the shared server:
    every connection of the test database is terminated (``pg_terminate_backend``) again and
    again while 4 clients click. Clients resend a failed click with the same client_key until
    it is acknowledged; afterwards every click is stored exactly once."""
    url = app.state.settings.database_url
    if url.startswith("sqlite"):
        pytest.skip("PostgreSQL only")
    users = [make_user(app, f"clicker{i}", "annotator") for i in range(CLICKERS)]
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        video = upload(c, users[0], clip_bytes).json()
    acked: dict[str, int] = {}
    errors: list[str] = []
    lock = threading.Lock()
    done = threading.Event()
    killed = {"backends": 0, "rounds": 0}
    dbname = app.state.engine.url.database

    def killer() -> None:
        admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=None)
        try:
            for _ in range(200):  # bounded: stops by itself
                if done.wait(0.15):
                    break
                with admin.connect() as conn:
                    n = conn.execute(
                        text(
                            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM "
                            "pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()) t"
                        ),
                        {"db": dbname},
                    ).scalar_one()
                killed["backends"] += int(n)
                killed["rounds"] += 1
                admin.dispose()  # the killer's own connection goes too, next round is fresh
        finally:
            admin.dispose()

    def click(i: int, base: str) -> None:
        with httpx.Client(base_url=base, headers=users[i].h, timeout=30) as http:
            for k in range(CLICKS):
                key = f"u{i}-c{k}"
                body = {"t_s": (k % 40) / 10, "client_key": key}
                for _attempt in range(100):  # retry the same key until acknowledged
                    try:
                        r = http.post(f"/api/v1/videos/{video['id']}/clicks", json=body)
                    except httpx.TransportError as exc:
                        with lock:
                            errors.append(type(exc).__name__)
                        continue
                    if r.status_code in (200, 201):
                        with lock:
                            acked[key] = r.json()["id"]
                        break
                    with lock:
                        errors.append(str(r.status_code))
                    assert r.status_code == 503, r.text  # retryable, never a 500
                    assert r.headers.get("retry-after")
                    time.sleep(0.02)
                else:
                    raise AssertionError(f"{key} was never acknowledged")

    with serve(app) as base:
        kt = threading.Thread(target=killer)
        kt.start()
        try:
            with ThreadPoolExecutor(CLICKERS) as pool:
                for f in [pool.submit(click, i, base) for i in range(CLICKERS)]:
                    f.result(300)
        finally:
            done.set()
            kt.join(30)
    print(
        f"\nterminated {killed['backends']} backends in {killed['rounds']} rounds; "
        f"client errors: {len(errors)} ({sorted(set(errors))})"
    )
    assert killed["backends"] > 0, "the fault was never injected"
    expected = {f"u{i}-c{k}" for i in range(CLICKERS) for k in range(CLICKS)}
    assert set(acked) == expected
    # the killer's last round may have terminated connections the pool still holds (no
    # pre-ping: the app answers 503 and is retried, as tested above); the check reads fresh
    app.state.engine.dispose()
    with app.state.sessionmaker() as s:
        rows = list(s.execute(select(Click.client_key, Click.id)))
    assert len(rows) == len(expected), "duplicated or extra clicks"
    assert dict(rows) == acked  # each acknowledged id is the stored one


def _terminate_backends(url: str, dbname: str | None) -> int:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM "
                        "pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()) t"
                    ),
                    {"db": dbname},
                ).scalar_one()
            )
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_worker_survives_its_database_connections_being_killed(app, alice, clip_bytes) -> None:  # type: ignore[no-untyped-def]
    """A worker whose pooled connections die (a PostgreSQL restart, a failover) logs, waits
    and carries on: the next job is still done by the same, still running, worker."""
    settings = app.state.settings.model_copy(update=FAST_WORKER)
    if settings.database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only")
    from fastapi.testclient import TestClient

    worker = Worker(settings, worker_id="survivor")
    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    try:
        time.sleep(1.0)  # it has polled: its pool holds a live connection
        assert _terminate_backends(settings.database_url, app.state.engine.url.database) > 0
        with TestClient(app) as c:
            r = upload(c, alice, clip_bytes)
            if r.status_code == 503:  # the API's own pooled connection was killed too
                r = upload(c, alice, clip_bytes)
            assert r.status_code == 201, r.text
        vid = r.json()["id"]

        def ready() -> bool:
            with app.state.sessionmaker() as s:
                return s.get(Video, vid).status == VideoStatus.ready  # type: ignore[union-attr]

        wait_for(ready, 120, "the video to be processed after the connections were killed")
        assert runner.is_alive()
        assert {j.worker_id for j in _jobs(app)} == {"survivor"}
    finally:
        worker.stop_event.set()
        runner.join(30)
        worker.close()


# ------------------------------------------------------------------- disk full on upload


class _FullDisk:
    """A file object whose writes fail with ENOSPC once ``room`` bytes were written."""

    def __init__(self, path: Any, room: int) -> None:
        self.fh = open(path, "wb")  # noqa: SIM115
        self.room = room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.fh.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fh, name)


def _enospc(*_: Any, **__: Any) -> Any:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _eacces(*_: Any, **__: Any) -> Any:
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))


@pytest.mark.parametrize(
    "fault", ["write-enospc", "fsync-enospc", "open-eacces", "mkdir-erofs", "move-erofs"]
)
def test_full_or_unwritable_disk_on_upload(
    app, client, alice, clip_bytes, monkeypatch, fault
) -> None:  # type: ignore[no-untyped-def]
    """The tests run as root, so chmod cannot make a folder unwritable: the file-system calls
    of the upload path are made to fail in-process the way a full or read-only disk does."""
    from server.videos import upload as upload_mod

    if fault == "write-enospc":
        monkeypatch.setattr(upload_mod, "open", lambda p, m: _FullDisk(p, 4096), raising=False)
    elif fault == "fsync-enospc":
        monkeypatch.setattr(upload_mod.os, "fsync", _enospc)
    elif fault == "open-eacces":
        monkeypatch.setattr(upload_mod, "open", _eacces, raising=False)
    elif fault == "mkdir-erofs":
        monkeypatch.setattr(Path, "mkdir", lambda *a, **k: _erofs())
    else:
        from server.storage import local as local_storage

        monkeypatch.setattr(local_storage.os, "replace", lambda *a: _erofs())
    r = upload(client, alice, clip_bytes)
    monkeypatch.undo()
    assert r.status_code == 507, r.text
    assert r.json()["detail"].startswith("could not store the")
    assert count(app, Video) == 0 and count(app, Job) == 0
    assert media_files(app) == []
    ok = upload(client, alice, clip_bytes)  # the disk is back: the same upload works
    assert ok.status_code == 201, ok.text


def _erofs() -> Any:
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))


def test_failure_after_the_move_leaves_no_file(app, client, alice, clip_bytes, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from server.videos import service

    monkeypatch.setattr(service.jobs, "enqueue", _enospc)
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        r = upload(c, alice, clip_bytes)
    assert r.status_code >= 500 and "Traceback" not in r.text
    assert count(app, Video) == 0
    assert media_files(app) == []


def test_feature_import_on_a_full_disk(app, client, admin, alice, clip_bytes, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import io

    import numpy as np

    from server.features import service

    vid = upload(client, alice, clip_bytes).json()["id"]
    buf = io.BytesIO()
    np.save(buf, np.zeros((6, 4), dtype=np.float32))
    monkeypatch.setattr(service.os, "replace", lambda *a: _enospc())
    r = client.post(
        f"/api/v1/videos/{vid}/features", headers=admin.h, files={"file": ("f.npy", buf.getvalue())}
    )
    assert r.status_code == 507, r.text
    assert count(app, Feature) == 0
    assert [f for f in media_files(app) if not f.startswith("originals/")] == []


# ------------------------------------------------------- worker killed at each job stage


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={**FAST_WORKER, "job_stale_after_s": 2.0})


def _jobs(app: Any) -> list[Job]:
    with app.state.sessionmaker() as s:
        return list(s.scalars(select(Job).order_by(Job.id)))


@pytest.mark.parametrize(
    "stage", ["proxy", "thumbnails", "publish-media", "features", "publish-features"]
)
def test_worker_killed_at_each_stage(app, settings, client, alice, clip_bytes, stage) -> None:  # type: ignore[no-untyped-def]
    video = upload(client, alice, clip_bytes).json()
    in_media = stage in ("proxy", "thumbnails", "publish-media")
    if not in_media:  # get to the features job first, in-process
        w = Worker(settings, kinds=[JobKind.media])
        try:
            assert w.run(once=True) == 1
        finally:
            w.close()
    log = settings.media_dir.parent / "victim.log"
    victim = subprocess.run(
        [sys.executable, "-m", "tests.security.crash_worker", "--id", "victim", "--once"],
        env=worker_env(settings, CRASH_AT=stage),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        timeout=180,
    )
    assert victim.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    kind = JobKind.media if in_media else JobKind.features
    (killed,) = [j for j in _jobs(app) if j.kind == kind]
    assert killed.status == JobStatus.running and killed.worker_id == "victim"
    with app.state.sessionmaker() as s:  # nothing of the killed stage was published
        v = s.get(Video, video["id"])
        feature = s.scalar(select(Feature))
    assert v.status == VideoStatus.processing and feature is None
    if in_media:
        assert v.proxy_path is None and v.thumbnails_path is None
        assert [j.kind for j in _jobs(app)] == [JobKind.media]
    # the killed worker's heartbeat stops; once it is older than job_stale_after_s the job is
    # handed to the next worker (moved back in time here instead of waiting for it)
    with app.state.sessionmaker.begin() as s:
        s.execute(
            update(Job)
            .where(Job.id == killed.id)
            .values(heartbeat_at=utcnow() - timedelta(seconds=60))
        )
    rescuer = Worker(settings, worker_id="rescuer")
    try:
        rescuer.run(once=True)
    finally:
        rescuer.close()
    jobs = _jobs(app)
    assert [(j.kind, j.status) for j in jobs] == [
        (JobKind.media, JobStatus.succeeded),
        (JobKind.features, JobStatus.succeeded),
    ], [(j.kind, j.status, j.message) for j in jobs]
    redone = next(j for j in jobs if j.id == killed.id)
    assert redone.attempts == 2 and redone.worker_id == "rescuer"
    v = client.get(f"/api/v1/videos/{video['id']}", headers=alice.h).json()
    assert v["status"] == "ready" and v["features"]["extractor"] == "tiny-stats"
    assert client.get(f"/api/v1/videos/{video['id']}/proxy", headers=alice.h).status_code == 200
    assert count(app, Feature) == 1
    vid = video["id"]
    published = {
        f"proxies/{vid}.mp4",
        f"thumbnails/{vid}.jpg",
        f"thumbnails/{vid}.json",
        f"features/{vid}/tiny-stats.npy",
    }
    files = {f for f in media_files(app) if not f.startswith("originals/")}
    leftovers = files - published
    assert published <= files
    # a SIGKILLed writer cannot remove its own temporary file; the rescuer swept it when it
    # started (its name says which process wrote it), see docs/reliability.md
    assert not leftovers, leftovers


# ------------------------------------------------------------ server restart while jobs run

VIDEOS = 8


def _start_server(settings: Any, port: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--with-worker", "--port", str(port)],
        env=worker_env(settings),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        start_new_session=True,  # its own process group: server and worker die together
    )


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    proc.wait(60)


def test_server_killed_while_jobs_run(app, settings, client, admin, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``serve --with-worker`` is killed (SIGKILL to the server and its worker) while jobs
    run, then started again: every job ends succeeded, each video is ready, and the API
    works with the data from before the crash."""
    from server.demo import DemoClip, write_clip

    media = settings.media_dir
    (media / "batch").mkdir(parents=True)
    for i in range(VIDEOS):
        # 6 s clips: each job runs long enough that the kill lands inside one, not between two
        write_clip(DemoClip(f"b{i}", 6.0, []), media / "batch" / f"b{i}.mp4", w=96, h=64)
    r = client.post("/api/v1/videos/register", headers=admin.h, json={"paths": ["batch"]})
    assert r.status_code == 201
    vid = r.json()["created"][0]["id"]
    before = client.post(f"/api/v1/videos/{vid}/clicks", headers=admin.h, json={"t_s": 0.5})
    assert before.status_code == 201
    port = free_port()
    log = tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    first = _start_server(settings, port, log)
    try:
        wait_for(up, 60, "the server to start", lambda: log.read_text()[-2000:])

        def mid_run() -> bool:
            jobs = _jobs(app)
            return any(j.status == JobStatus.running for j in jobs) and any(
                j.status == JobStatus.succeeded for j in jobs
            )

        wait_for(mid_run, 120, "jobs to be running", lambda: log.read_text()[-2000:])
    finally:
        _kill_group(first, signal.SIGKILL)
    assert not up()
    interrupted = [j.id for j in _jobs(app) if j.status == JobStatus.running]
    assert interrupted, "no job was running when the server was killed"

    second = _start_server(settings, port, log)
    try:
        wait_for(up, 60, "the server to start again", lambda: log.read_text()[-2000:])

        def all_done() -> bool:
            jobs = _jobs(app)
            return len(jobs) == 2 * VIDEOS and all(j.status == JobStatus.succeeded for j in jobs)

        wait_for(
            all_done,
            240,
            "every job to succeed after the restart",
            lambda: f"{[(j.kind, j.status) for j in _jobs(app)]} {log.read_text()[-2000:]}",
        )
        with httpx.Client(base_url=base, headers=admin.h, timeout=30) as http:
            videos = http.get("/api/v1/videos").json()["items"]
            assert len(videos) == VIDEOS and all(v["status"] == "ready" for v in videos)
            clicks = http.get(f"/api/v1/videos/{vid}/clicks").json()
            assert [c["id"] for c in clicks] == [before.json()["id"]]
            again = http.post(f"/api/v1/videos/{vid}/clicks", json={"t_s": 0.7})
            assert again.status_code == 201
    finally:
        _kill_group(second, signal.SIGTERM)
    jobs = {j.id: j for j in _jobs(app)}
    assert all(jobs[i].attempts == 2 for i in interrupted)
    assert all(j.attempts <= 2 for j in jobs.values())
