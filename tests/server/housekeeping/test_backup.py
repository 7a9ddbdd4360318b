"""``server.cli backup`` / ``restore``: backup → wipe → restore gives the same export bytes
and playable media."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.cli import main as cli
from server.media import probe_video
from tests.server.helpers import FAST_WORKER, run_worker, upload


@pytest.fixture
def db_url(sqlite_template: Path, tmp_path: Path) -> str:  # SQLite only: PostgreSQL uses pg_dump
    path = tmp_path / "db" / "backtal.db"
    path.parent.mkdir()
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update=FAST_WORKER)


def _env(monkeypatch, settings) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BACKTAL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("BACKTAL_MEDIA_DIR", str(settings.media_dir))


def _snapshot(client, admin, vid: int, annotator: int) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    out = {}
    for fmt in ("json", "coin-csv"):
        q = f"format={fmt}&annotator_id={annotator}"
        r = client.get(f"/api/v1/export/clicks?{q}", headers=admin.h)
        assert r.status_code == 200, r.text
        out[fmt] = r.content
    for what in ("proxy", "file", "thumbnails.jpg"):
        r = client.get(f"/api/v1/videos/{vid}/{what}", headers=admin.h)
        assert r.status_code == 200, (what, r.text)
        out[what] = r.content
    return out


def test_backup_wipe_restore_round_trip(  # type: ignore[no-untyped-def]
    app, client, settings, admin, alice, clip_bytes, tmp_path, monkeypatch, capsys
) -> None:
    vid = upload(client, alice, clip_bytes).json()["id"]
    run_worker(settings)
    for k, t in enumerate((0.3, 1.7, 3.1)):
        r = client.post(
            f"/api/v1/videos/{vid}/clicks", headers=alice.h, json={"t_s": t, "client_key": str(k)}
        )
        assert r.status_code == 201
    before = _snapshot(client, admin, vid, alice.id)
    assert before["json"].count(b'"t_s"') == 3 and before["coin-csv"].startswith(b"\xef\xbb\xbf")
    _env(monkeypatch, settings)
    out = tmp_path / "backups" / "b.tar"
    assert cli(["backup", str(out)]) == 0
    assert cli(["backup", str(out)]) == 1  # never overwrites
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert "database.sqlite3" in names and f"media/proxies/{vid}.mp4" in names
    assert not [n for n in names if Path(n).name.startswith(".")]

    # wipe: the database (and its WAL) and the whole media folder
    app.state.engine.dispose()
    db = Path(settings.database_url.removeprefix("sqlite:///"))
    for path in db.parent.iterdir():
        path.unlink()
    shutil.rmtree(settings.media_dir)

    capsys.readouterr()
    assert cli(["restore", str(out)]) == 0
    assert "restored backup" in capsys.readouterr().err
    restored_app = create_app(settings)
    try:
        with TestClient(restored_app) as again:
            after = _snapshot(again, admin, vid, alice.id)  # the same tokens work: users came back
    finally:
        restored_app.state.engine.dispose()
    assert after == before
    for rel in (f"proxies/{vid}.mp4",):  # playable: probed and decoded by the media code
        probe = probe_video(settings.media_dir / rel)
        assert probe.frame_count > 0 and probe.duration_s > 3
    # a second restore over live data needs --force, and keeps the old data aside
    assert cli(["restore", str(out)]) == 1
    assert cli(["restore", str(out), "--force"]) == 0
    assert list(settings.media_dir.parent.glob("media.before-restore-*"))
    assert list(db.parent.glob("backtal.db.before-restore-*"))


def test_backup_on_postgresql_asks_for_pg_dump(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from server.config import Settings
    from server.housekeeping.backup import BackupError, backup

    settings = Settings(
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none", media_dir=tmp_path / "m"
    )
    with pytest.raises(BackupError, match="pg_dump"):
        backup(settings, tmp_path / "x.tar")
    (tmp_path / "m" / "proxies").mkdir(parents=True)
    (tmp_path / "m" / "proxies" / "1.mp4").write_bytes(b"v")
    info = backup(settings, tmp_path / "x.tar", media_only=True)
    assert info.files == 1 and info.database.startswith("none")


def test_backup_with_object_storage_says_where_the_files_are(tmp_path: Path) -> None:
    """The media folder holds no files when they are in a bucket: a backup of it would look
    complete and be empty, so it is refused with what to do instead; nothing is written."""
    from server.config import Settings
    from server.housekeeping.backup import BackupError, backup

    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        media_dir=tmp_path / "m",
        storage_url="s3://bucket/studio",
    )
    for media_only in (False, True):
        with pytest.raises(BackupError, match=r"object storage \(s3://bucket/studio\).*S3 tooling"):
            backup(settings, tmp_path / "x.tar", media_only=media_only)
    assert not (tmp_path / "x.tar").exists()
