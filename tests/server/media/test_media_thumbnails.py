"""make_thumbnail_sprite: one JPEG grid + an index that says where each time's tile is."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import pytest

from model.features.synthetic import read_barcode
from server.media import MediaError, make_thumbnail_sprite


def test_sprite_and_index(clips: dict[str, Path], tmp_path: Path):
    dst = tmp_path / "sprite.jpg"
    index = make_thumbnail_sprite(clips["avi"], dst, every_s=0.25, tile_width=160, columns=4)
    fps = 30000 / 1001
    duration = 45 / fps
    count = math.ceil(duration / 0.25)
    assert index["count"] == count == len(index["times"]) == len(index["frames"])
    assert index["times"] == pytest.approx([0.25 * j for j in range(count)])
    assert index["frames"] == [math.floor(t * fps) for t in index["times"]]
    assert (index["tile_width"], index["tile_height"]) == (160, 120)
    assert index["columns"] == 4 and index["rows"] == math.ceil(count / 4)
    assert index["image"] == "sprite.jpg" and index["every_s"] == 0.25
    json.dumps(index)  # JSON-able

    sprite = cv2.imread(str(dst))
    assert sprite is not None
    assert sprite.shape == (index["height"], index["width"], 3)
    assert sprite.shape[:2] == (index["rows"] * 120, 4 * 160)
    for j, frame in enumerate(index["frames"]):
        y, x = (j // 4) * 120, (j % 4) * 160
        tile = cv2.cvtColor(sprite[y : y + 120, x : x + 160], cv2.COLOR_BGR2RGB)
        assert read_barcode(tile) == frame
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sprite.jpg"]


def test_tile_cap_widens_interval_and_index_file(clips: dict[str, Path], tmp_path: Path):
    index_path = tmp_path / "sprite.json"
    index = make_thumbnail_sprite(
        clips["mp4"], tmp_path / "s.jpg", every_s=0.1, max_tiles=5, index_path=index_path
    )
    # 60 frames at 25 fps = 2.4 s -> 24 tiles at 0.1 s; capped at 5 -> every 0.5 s.
    assert index["every_s"] == pytest.approx(0.5)
    assert index["count"] == 5
    assert index["frames"] == [0, 12, 25, 37, 50]
    assert json.loads(index_path.read_text()) == index


def test_bad_source(tmp_path: Path):
    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"\0" * 100)
    with pytest.raises(MediaError):
        make_thumbnail_sprite(bad, tmp_path / "s.jpg")
    assert not (tmp_path / "s.jpg").exists()
