"""make_proxy: browser-friendly H.264, fast start, frame-exact timing, atomic output."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from model.features.synthetic import read_barcode, write_barcode_clip
from server.media import MediaCancelled, MediaError, ProxyInfo, make_proxy, probe_video
from server.media.proxy import proxy_size
from tests.server.media.media_helpers import (
    barcodes,
    decode_all,
    frame_at,
    mean_abs_diff,
    top_level_atoms,
    write_rotated_clip,
)


@pytest.fixture(scope="module")
def proxies(clips: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("proxies")
    return {key: Path(make_proxy(clips[key], d / f"{key}.mp4").path) for key in ("mp4", "avi")}


@pytest.mark.parametrize("key", ["mp4", "avi"])
def test_proxy_stream_is_browser_playable_h264(proxies: dict[str, Path], key: str):
    with av.open(str(proxies[key])) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264"
        assert s.codec_context.pix_fmt == "yuv420p"
        assert s.codec_context.width % 2 == 0 and s.codec_context.height % 2 == 0
        packets = [p for p in c.demux(s) if p.size]
    # No B-frames: decode order is display order (pts == dts), timing is plain.
    assert all(p.pts == p.dts for p in packets)
    assert packets[0].is_keyframe


@pytest.mark.parametrize("key", ["mp4", "avi"])
def test_moov_atom_is_before_mdat(proxies: dict[str, Path], key: str):
    atoms = top_level_atoms(proxies[key])
    assert atoms[0] == "ftyp"
    assert atoms.index("moov") < atoms.index("mdat")


@pytest.mark.parametrize("key", ["mp4", "avi"])
def test_same_frames_and_rate_as_original(
    clips: dict[str, Path], proxies: dict[str, Path], key: str
):
    src, proxy = probe_video(clips[key]), probe_video(proxies[key])
    assert proxy.frame_count == src.frame_count
    assert proxy.fps == pytest.approx(src.fps, rel=1e-9)
    with av.open(str(clips[key])) as a, av.open(str(proxies[key])) as b:
        rate_a, rate_b = a.streams.video[0].average_rate, b.streams.video[0].average_rate
        assert rate_a is not None and rate_b is not None and Fraction(rate_a) == Fraction(rate_b)
    # Every proxy frame is the original frame with the same index.
    assert barcodes(proxies[key]) == list(range(src.frame_count))


@pytest.mark.parametrize("key", ["mp4", "avi"])
def test_time_t_shows_original_frame_floor_t_fps(
    clips: dict[str, Path], proxies: dict[str, Path], key: str
):
    info = probe_video(clips[key])
    originals = decode_all(clips[key])
    times = [0.0, 0.5 / info.fps, 0.3, 1.0, 1.23, (info.frame_count - 0.5) / info.fps]
    for t in times:
        expected = math.floor(t * info.fps)
        shown = frame_at(proxies[key], t)
        assert read_barcode(shown) == expected, t
        # The picture matches the original's frame (lossy codec: small tolerance) and is
        # clearly closer to it than to the neighbouring frame.
        same = mean_abs_diff(shown, originals[expected])
        assert same < 6.0, (t, same)
        other = originals[expected + 1] if expected + 1 < len(originals) else originals[-2]
        assert same < mean_abs_diff(shown, other)


def test_large_input_is_scaled_down_to_even_size(tmp_path: Path):
    src = write_barcode_clip(tmp_path / "hd.mp4", n_frames=6, width=1280, height=720, codec="mpeg4")
    info = make_proxy(src, tmp_path / "hd_proxy.mp4", max_height=480)
    assert isinstance(info, ProxyInfo)
    assert (info.width, info.height) == (852, 480)
    assert info.frame_count == 6 and info.codec == "h264" and info.pix_fmt == "yuv420p"
    assert barcodes(tmp_path / "hd_proxy.mp4") == list(range(6))


def test_rotation_tag_is_applied_to_the_pixels(tmp_path: Path):
    src = write_rotated_clip(tmp_path / "phone.mp4", rotation=90)
    info = make_proxy(src, tmp_path / "phone_proxy.mp4")
    assert (info.width, info.height) == (240, 320)
    frames = decode_all(tmp_path / "phone_proxy.mp4")
    # Displayed = stored frame turned 90° counter-clockwise; turn back to read the barcode.
    assert [read_barcode(np.rot90(f, k=-1)) for f in frames] == list(range(5))


@pytest.mark.parametrize(
    ("size", "max_height", "sar", "expected"),
    [
        ((320, 240), 480, None, (320, 240)),
        ((1920, 1080), 480, None, (852, 480)),
        ((321, 241), 480, None, (320, 240)),
        ((1080, 1920), 480, None, (270, 480)),
        ((720, 480), 480, Fraction(32, 27), (852, 480)),  # anamorphic 16:9 DVD
        ((1920, 1080), None, None, (1920, 1080)),
    ],
)
def test_proxy_size(size, max_height, sar, expected):
    assert proxy_size(*size, max_height=max_height, sar=sar) == expected


def test_progress_and_atomic_replace(clips: dict[str, Path], tmp_path: Path):
    dst = tmp_path / "p.mp4"
    dst.write_bytes(b"old proxy")
    seen: list[float] = []
    make_proxy(clips["mp4"], dst, progress=seen.append)
    assert seen and seen[-1] == 1.0
    assert all(0.0 <= a <= b <= 1.0 for a, b in itertools.pairwise(seen))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.mp4"]
    assert top_level_atoms(dst)[0] == "ftyp"


def test_cancel_leaves_nothing_behind(clips: dict[str, Path], tmp_path: Path):
    dst = tmp_path / "p.mp4"
    dst.write_bytes(b"old proxy")
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 10

    with pytest.raises(MediaCancelled):
        make_proxy(clips["mp4"], dst, should_stop=stop)
    assert dst.read_bytes() == b"old proxy"  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["p.mp4"]  # no temporary file left


def test_unreadable_source_raises_media_error(tmp_path: Path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(MediaError):
        make_proxy(bad, tmp_path / "out.mp4")
    assert [p.name for p in tmp_path.iterdir()] == ["bad.mp4"]
