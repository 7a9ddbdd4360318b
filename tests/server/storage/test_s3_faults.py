"""S3 faults: the object store goes away in the middle of an upload, of a worker's publish,
while a video is served, and under a worker that is SIGKILLed. The store is the session's
real S3 server (moto, a subprocess) behind a TCP relay that the test switches off (open
connections reset, new ones refused) and on again, the server's state intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from sqlalchemy import select

from server.models import Job, JobKind, JobStatus, Video
from server.storage.s3 import S3Storage
from server.worker.loop import Worker
from tests.s3server import Relay
from tests.server.helpers import FAST_WORKER, count, upload, worker_env, worker_once
from tests.server.storage.conftest import s3_env, s3_fields

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def relay(s3_endpoint: str) -> Iterator[Relay]:
    r = Relay(s3_endpoint)
    yield r
    r.close()


@pytest.fixture
def settings(settings, relay):  # type: ignore[no-untyped-def]
    from server.storage import open_storage

    s = settings.model_copy(
        update={
            **FAST_WORKER,
            **s3_fields(relay.url),
            "s3_max_attempts": 2,
            "max_upload_bytes": 64 * 1024 * 1024,
        }
    )
    open_storage(s).ensure_bucket()  # type: ignore[attr-defined]
    return s


@pytest.fixture(scope="module")
def big_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A valid video of ~13 MiB (noise, MPEG-4 at qscale 1): a multipart upload of 3 parts."""
    path = tmp_path_factory.mktemp("big") / "noise.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        s.bit_rate = 50_000_000
        s.options = {"qscale": "1"}
        for _ in range(150):
            frame = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    data = path.read_bytes()
    assert len(data) > 10 * 1024 * 1024
    return data


def _objects(app: Any, prefix: str = "") -> list[str]:
    return [o.key for o in app.state.storage.list(prefix)]


def test_store_stopped_mid_upload_503_and_nothing_published(  # type: ignore[no-untyped-def]
    app, client, alice, relay, big_clip, monkeypatch
) -> None:
    real_part = S3Storage._upload_part
    sent: list[int] = []

    def part_then_outage(self, name, upload_id, number, data):  # type: ignore[no-untyped-def]
        out = real_part(self, name, upload_id, number, data)
        sent.append(number)
        if number == 1:
            relay.stop()  # the store goes away after the first 5 MiB part
        return out

    monkeypatch.setattr(S3Storage, "_upload_part", part_then_outage)
    r = upload(client, alice, big_clip, "noise.mp4")
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"]
    assert "file storage is unavailable" in r.json()["detail"]
    assert sent == [1]
    assert count(app, Video) == 0 and count(app, Job) == 0
    relay.start()
    assert _objects(app) == []  # the incomplete multipart upload is invisible
    assert list((app.state.settings.media_dir / "tmp").glob("*")) == []  # temp file gone
    monkeypatch.undo()
    ok = upload(client, alice, big_clip, "noise.mp4")  # the store is back: it works
    assert ok.status_code == 201, ok.text
    (key,) = _objects(app, "originals/")
    assert app.state.storage.stat(key).size == len(big_clip)
    assert app.state.storage.read_bytes(key, 0, 64) == big_clip[:64]


def test_store_stopped_before_a_small_upload_503(  # type: ignore[no-untyped-def]
    app, client, alice, relay, clip_bytes
) -> None:
    relay.stop()
    r = upload(client, alice, clip_bytes)
    assert r.status_code == 503, r.text
    assert count(app, Video) == 0
    relay.start()
    assert upload(client, alice, clip_bytes).status_code == 201


def test_store_stopped_mid_publish_job_retried_no_incomplete_reference(  # type: ignore[no-untyped-def]
    app, client, alice, settings, relay, clip_bytes, tmp_path, monkeypatch
) -> None:
    video_id = upload(client, alice, clip_bytes).json()["id"]
    worker = Worker(
        settings.model_copy(update={"scratch_dir": tmp_path / "scratch"}),
        worker_id="w1",
        kinds=[JobKind.media],
    )
    real_put = S3Storage.put_file
    puts: list[str] = []

    def put_then_outage(self, key, path, *, move=False):  # type: ignore[no-untyped-def]
        out = real_put(self, key, path, move=move)
        puts.append(key)
        relay.stop()  # after the sprite: the index and the proxy cannot be published
        return out

    try:
        monkeypatch.setattr(S3Storage, "put_file", put_then_outage)
        assert worker.run_one()
        monkeypatch.undo()
        assert puts == [f"thumbnails/{video_id}.jpg"]
        with app.state.sessionmaker() as s:
            job = s.scalar(select(Job).where(Job.kind == JobKind.media))
            video = s.get(Video, video_id)
            assert job.status == JobStatus.queued and job.attempts == 1, job.message
            assert "StorageUnavailable" in (job.message or "") + (job.error or "")
            assert video.proxy_path is None and video.thumbnails_path is None
        assert [p for p in (tmp_path / "scratch").rglob("*") if p.is_file()] == [
            tmp_path / "scratch" / "worker-0.lock"
        ]
        # the API answers 404 (no proxy yet), and 503 while the store is down for the file
        r = client.get(f"/api/v1/videos/{video_id}/proxy", headers=alice.h)
        assert r.status_code == 404
        r = client.get(f"/api/v1/videos/{video_id}/file", headers=alice.h)
        assert r.status_code == 503 and "retry" in r.json()["detail"]
        relay.start()
        assert worker.run_one()  # the retry publishes complete objects
    finally:
        worker.close()
    with app.state.sessionmaker() as s:
        job = s.scalar(select(Job).where(Job.kind == JobKind.media))
        video = s.get(Video, video_id)
        assert job.status == JobStatus.succeeded and job.attempts == 2
        proxy_key = video.proxy_path
    proxy = client.get(f"/api/v1/videos/{video_id}/proxy", headers=alice.h)
    assert proxy.status_code == 200
    assert len(proxy.content) == app.state.storage.stat(proxy_key).size > 0


def test_sigkilled_worker_leaves_nothing_in_scratch_after_restart(  # type: ignore[no-untyped-def]
    app, client, alice, settings, clip_bytes, tmp_path
) -> None:
    """The worker copies the original from the bucket into its scratch folder and is killed
    while encoding the proxy there; the next worker to start on that scratch folder empties
    it, and nothing was published."""
    upload(client, alice, clip_bytes)
    scratch = tmp_path / "worker-scratch"
    env = worker_env(
        settings,
        CRASH_AT="proxy-file",
        BACKTAL_MEDIA_DIR=str(tmp_path / "worker-media"),
        BACKTAL_SCRATCH_DIR=str(scratch),
        **s3_env(settings),
    )
    victim = subprocess.run(
        [sys.executable, "-m", "tests.security.crash_worker", "--id", "victim", "--once"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=180,
    )
    assert victim.returncode == -signal.SIGKILL, victim.stderr[-3000:]
    left = sorted(p.name for p in scratch.rglob("*") if p.is_file() and p.suffix != ".lock")
    assert any(name.endswith(".mp4") for name in left), left  # the copied original at least
    assert _objects(app, "proxies/") == []
    env.pop("CRASH_AT")
    restarted = worker_once(env, "--kinds", "train")
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert [p for p in scratch.rglob("*") if p.is_file() and p.suffix != ".lock"] == []
    assert "leftover entries" in restarted.stderr
    assert not (tmp_path / "worker-media").exists() or not any(
        p.is_file() for p in (tmp_path / "worker-media").rglob("*")
    )
    assert os.path.isdir(scratch / "worker-0")
