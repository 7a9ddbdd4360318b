"""Importing pre-extracted features: the API (npy / official npz) and the folder CLI."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from server.models import Feature, Video
from tests.server.helpers import count, upload

ROOT = Path(__file__).resolve().parents[3]


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def npz_bytes(**arrays: object) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def post_features(client, actor, video_id, data: bytes, name: str, extractor=None):
    return client.post(
        f"/api/v1/videos/{video_id}/features",
        headers=actor.h,
        files={"file": (name, data, "application/octet-stream")},
        data={"extractor": extractor} if extractor else None,
    )


@pytest.fixture
def video(client, alice, clip_bytes):
    return upload(client, alice, clip_bytes).json()


def test_import_npy_and_npz(client, app, admin, alice, video):
    feats = np.arange(12 * 6, dtype=np.float32).reshape(12, 6)
    r = post_features(client, admin, video["id"], npy_bytes(feats), "f.npy")
    assert r.status_code == 201, r.text
    assert r.json() == {"extractor": "imported", "T": 12, "D": 6}
    spa = np.ones((4, 9), np.float32)
    tem = np.zeros((4, 9), np.float32)
    r = post_features(
        client, admin, video["id"], npz_bytes(feat_spa=spa, feat_tem=tem, fps=25.0), "v.npz"
    )
    assert r.status_code == 201 and r.json() == {"extractor": "i3d-npz", "T": 9, "D": 8}
    with app.state.sessionmaker() as s:
        row = s.scalar(select(Feature).where(Feature.extractor == "i3d-npz"))
        stored = np.load(app.state.settings.media_dir / row.path)
    assert stored.shape == (9, 8)
    assert (stored[:, :4] == 1).all() and (stored[:, 4:] == 0).all()  # [spa, tem] per snippet
    v = client.get(f"/api/v1/videos/{video['id']}", headers=alice.h).json()
    assert v["status"] == "ready" and v["features"]["D"] in (6, 8)


def test_replacing_features_removes_the_old_file(client, app, admin, video):
    media = app.state.settings.media_dir
    post_features(client, admin, video["id"], npy_bytes(np.zeros((3, 2), np.float32)), "a.npy")
    post_features(client, admin, video["id"], npy_bytes(np.ones((5, 2), np.float32)), "b.npy")
    files = list((media / "features" / str(video["id"])).glob("*.npy"))
    assert len(files) == 1 and np.load(files[0]).shape == (5, 2)
    assert count(app, Feature) == 1


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (npy_bytes(np.array([{"a": 1}], dtype=object)), "x.npy", "not a readable"),
        (npy_bytes(np.array([[1.0, np.nan]])), "x.npy", "NaN or infinite"),
        (npy_bytes(np.zeros(5)), "x.npy", "must be a 2-D array"),
        (b"just text, not numpy", "x.npy", "not a readable"),
        (npz_bytes(features=np.zeros((2, 2))), "x.npz", "must hold 'feat_spa' and 'feat_tem'"),
        (npz_bytes(feat_spa=np.zeros((2, 3)), feat_tem=np.zeros((2, 4))), "x.npz", "(D/2, T)"),
        (npy_bytes(np.array([["a", "b"]])), "x.npy", "must hold numbers"),
    ],
    ids=["pickle", "nan", "1d", "text", "npz-keys", "npz-shapes", "strings"],
)
def test_bad_feature_files_store_nothing(client, app, admin, video, data, name, message):
    r = post_features(client, admin, video["id"], data, name)
    assert r.status_code == 422, r.text
    assert message in r.json()["detail"]
    assert count(app, Feature) == 0
    assert not (app.state.settings.media_dir / "features").exists()


def test_feature_import_rules(client, app, admin, alice, video):
    data = npy_bytes(np.zeros((3, 2), np.float32))
    assert post_features(client, alice, video["id"], data, "a.npy").status_code == 403
    bad = post_features(client, admin, video["id"], data, "a.npy", extractor="../x")
    assert bad.status_code == 422 and "extractor name" in bad.json()["detail"]
    assert post_features(client, admin, 999, data, "a.npy").status_code == 404
    assert count(app, Feature) == 0


def test_cli_imports_an_official_folder(settings, tmp_path):
    folder = tmp_path / "thumos" / "val"
    folder.mkdir(parents=True)
    for i, t in enumerate([7, 11]):
        np.savez(
            folder / f"video_validation_{i}.npz",
            feat_spa=np.full((3, t), i, np.float32),
            feat_tem=np.zeros((3, t), np.float32),
            vid_name=np.array(f"video_validation_{i}"),
            fps=np.array(30.0),
            duration=np.array(t * 0.5),
            frame_num=np.array(int(t * 15)),
        )
    env = {
        **os.environ,
        "BACKTAL_DATABASE_URL": settings.database_url,
        "BACKTAL_MEDIA_DIR": str(settings.media_dir),
    }
    cmd = [sys.executable, "-m", "server.cli", "import-features", str(tmp_path / "thumos")]
    refused = subprocess.run(
        [*cmd, "--split", "val"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert refused.returncode == 1 and "no video named 'video_validation_0'" in refused.stderr
    ok = subprocess.run(
        [*cmd, "--split", "val", "--create-videos"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert "attached features to 2 videos (2 created)" in ok.stdout
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    engine = create_engine(settings.database_url)
    with Session(engine) as s:
        videos = {v.name: v for v in s.scalars(select(Video))}
        feats = {f.video_id: f for f in s.scalars(select(Feature))}
    engine.dispose()
    v1 = videos["video_validation_1"]
    assert (v1.fps, v1.duration_s, v1.frame_count) == (30.0, 5.5, 165)
    assert (feats[v1.id].num_snippets, feats[v1.id].dim) == (11, 6)
