"""Which temporary files the sweep removes: dead writers' at once, anything old, no others."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from server.housekeeping import tempfiles
from server.housekeeping.tempfiles import stale_temp_files, sweep, temp_path


def _touch(path: Path, age_s: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    if age_s:
        t = time.time() - age_s
        os.utime(path, (t, t))
    return path


def _tag(pid: int, token: str = "abc123") -> str:
    return f"@{tempfiles.HOST}@{pid}@{token}@"


def test_sweep_removes_dead_writers_and_old_files_only(tmp_path: Path) -> None:
    media = tmp_path / "media"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        mine = _touch(Path(temp_path(media / "proxies" / "1.mp4")))  # this process, writing
        live = _touch(media / "proxies" / f".2.mp4{_tag(sleeper.pid)}ffff.part")
        gone = _touch(media / "features" / "3" / f".x.npy{_tag(dead.pid)}ffff.tmp")
        reborn = _touch(media / "models" / f".m.pt{_tag(os.getpid(), 'fedcba')}ff.part")
        other_host = _touch(media / "proxies" / f".4.mp4@elsewhere@{dead.pid}@abc@ff.part")
        old = _touch(media / "thumbnails" / ".5.jpg.1234-ab.part", age_s=3600)
        fresh_untagged = _touch(media / "thumbnails" / ".6.jpg.ab.part")
        old_upload = _touch(media / "tmp" / "upload-abc.part", age_s=3600)
        keep = [
            _touch(media / "proxies" / "7.mp4", age_s=3600),  # published files are not temp
            _touch(media / "demo" / ".hidden-video.mp4", age_s=3600),
            _touch(media / ".trash" / "1" / ".x.part", age_s=3600),  # the purge's own
        ]
        expected = sorted([gone, reborn, old, old_upload])
        assert stale_temp_files(media, older_than_s=600) == expected
        assert sweep(media, older_than_s=600) == expected
        for path in [mine, live, other_host, fresh_untagged, *keep]:
            assert path.exists(), path
        for path in expected:
            assert not path.exists(), path
    finally:
        sleeper.kill()
        sleeper.wait()


def test_temp_path_is_hidden_next_to_its_target_and_names_this_process(tmp_path: Path) -> None:
    path = Path(temp_path(tmp_path / "a" / "v.mp4", ".tmp"))
    assert path.parent == tmp_path / "a" and path.name.startswith(".v.mp4@")
    assert path.name.endswith(".tmp") and tempfiles.tag() in path.name
    assert not tempfiles.writer_is_gone(path.name)
