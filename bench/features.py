"""Benchmark: feature extraction and proxy transcoding speed on generated clips.

    .venv/bin/python -m bench.features [--seconds 20] [--extractor effnet-lite0+dis-flow]

Prints seconds of video processed per wall-clock second ("x real time") for the feature
extractor at 320×240 and 640×480, and for the H.264 proxy transcode, together with the
machine's core count and load average (the numbers depend on both). The extractor runs on
one thread, so its CPU-time figure is what one otherwise idle core would give; libx264 uses
several threads, so the proxy's wall time is the meaningful number. Runs in about two
minutes on a 2-core machine; clips are generated in a temporary folder and deleted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from model.features import get_extractor
from model.features.synthetic import write_barcode_clip
from server.media import make_proxy


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}/{fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.features", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="clip length in seconds")
    parser.add_argument("--extractor", default="effnet-lite0+dis-flow")
    parser.add_argument("--fps", type=int, default=25, help="frame rate of the generated clips")
    args = parser.parse_args()

    print(f"cores={os.cpu_count()} {_load()} extractor={args.extractor} clip={args.seconds:g}s")
    n_frames = round(args.seconds * args.fps)
    extractor = get_extractor(args.extractor)
    with tempfile.TemporaryDirectory() as tmp:
        warm = write_barcode_clip(Path(tmp, "warm.mp4"), n_frames=32, fps=args.fps)
        extractor.extract(warm)  # loads the model; not timed

        for width, height in ((320, 240), (640, 480)):
            clip = write_barcode_clip(
                Path(tmp, f"clip_{width}x{height}.mp4"),
                n_frames=n_frames,
                fps=args.fps,
                width=width,
                height=height,
                codec="libx264",
            )
            duration = n_frames / args.fps
            start, cpu = time.perf_counter(), time.process_time()
            feats = extractor.extract(clip)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            print(
                f"features {args.extractor} {width}x{height}: {duration:.1f}s video in "
                f"{wall:.2f}s wall = {duration / wall:.1f}x real time "
                f"(CPU {cpu:.2f}s = {duration / cpu:.1f}x per busy core), "
                f"T={feats.shape[0]} D={feats.shape[1]} ({_load()})"
            )

            start, cpu = time.perf_counter(), time.process_time()
            info = make_proxy(clip, Path(tmp, f"proxy_{width}x{height}.mp4"))
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            print(
                f"proxy h264 {width}x{height} -> {info.width}x{info.height}: {duration:.1f}s "
                f"video in {wall:.2f}s wall = {duration / wall:.1f}x real time "
                f"(CPU {cpu:.2f}s, all threads), {info.size_bytes / 1e6:.2f} MB ({_load()})"
            )


if __name__ == "__main__":
    main()
