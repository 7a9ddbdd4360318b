"""Upload and proxy throughput with storage on S3 against the local media folder, measured
in one run (issue 14, must-show 5): the ratio S3 / local is what this prints.

- **upload**: ``POST /api/v1/videos`` of a ~13 MiB video (received, probed, stored: a rename
  into the media folder, or a multipart upload to the bucket), distinct content each time;
- **proxy read**: ``GET /api/v1/videos/{id}/proxy`` of that video's proxy, whole and as 1 MiB
  ranges (what a seeking ``<video>`` asks), served from the folder or streamed from the bucket;
- **proxy job**: the worker's media job (copy the original from storage into its scratch
  folder, encode the proxy and sprite, put them back).

The S3 server is moto's standalone server on loopback (what the tests use; a real MinIO or
AWS endpoint will differ: the ratio says what the storage layer costs here, on this
machine, not what a network costs). Both setups run through the in-process ASGI client and
an in-process worker with the same database kind (SQLite) on the same disk.

    python -m bench.storage_throughput [--uploads 5] [--reads 20] [--mib 13]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
from fastapi.testclient import TestClient
from pydantic import SecretStr

from server.app import create_app
from server.config import Settings
from server.db import session_scope
from server.migrate import upgrade
from server.models import JobKind, Role
from server.users.service import create_user
from server.worker.loop import Worker
from tests.s3server import ACCESS_KEY, REGION, SECRET_KEY, moto_server

MiB = 1024 * 1024


def noise_video(path: Path, mib: float, seed: int) -> bytes:
    """A valid MPEG-4 video of about ``mib`` MiB (noise frames at qscale 1: ~87 KiB each)."""
    rng = np.random.default_rng(seed)
    frames = max(25, int(mib * 11.5))
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        s.bit_rate = 50_000_000
        s.options = {"qscale": "1"}
        for _ in range(frames):
            img = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path.read_bytes()


def measure(label: str, settings: Settings, videos: list[bytes], reads: int) -> dict[str, Any]:
    upgrade(settings)
    app = create_app(settings)
    if settings.storage_url.startswith("s3://"):
        app.state.storage.ensure_bucket()
    with session_scope(app.state.sessionmaker) as s:
        _, token = create_user(s, "bench", Role.admin)
    h = {"Authorization": f"Bearer {token}"}
    out: dict[str, Any] = {"label": label}
    with TestClient(app) as client:
        times, ids = [], []
        for i, data in enumerate(videos):
            t0 = time.perf_counter()
            r = client.post(
                "/api/v1/videos", headers=h, files={"file": (f"v{i}.mp4", data, "video/mp4")}
            )
            times.append(time.perf_counter() - t0)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        size = sum(len(v) for v in videos)
        out["upload_MiBps"] = size / MiB / sum(times)
        worker = Worker(settings, worker_id=label, kinds=[JobKind.media])
        try:
            t0 = time.perf_counter()
            jobs = worker.run(once=True)
            out["proxy_job_s"] = (time.perf_counter() - t0) / max(1, jobs)
        finally:
            worker.close()
        url = f"/api/v1/videos/{ids[0]}/proxy"

        def whole() -> int:
            return len(client.get(url, headers=h).content)

        proxy_size = whole()

        def ranges() -> int:
            n = 0
            for start in range(0, proxy_size, MiB):
                r = client.get(url, headers={**h, "Range": f"bytes={start}-{start + MiB - 1}"})
                assert r.status_code == 206
                n += len(r.content)
            return n

        for name, fn in (("proxy_read_MiBps", whole), ("proxy_ranges_MiBps", ranges)):
            rates = []
            for _ in range(reads):
                t0 = time.perf_counter()
                n = fn()
                rates.append(n / MiB / (time.perf_counter() - t0))
            out[name] = statistics.median(rates)
        out["proxy_MiB"] = proxy_size / MiB
    app.state.engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.storage_throughput", description=__doc__.split("\n")[0]
    )
    p.add_argument("--uploads", type=int, default=5)
    p.add_argument("--reads", type=int, default=20)
    p.add_argument("--mib", type=float, default=13.0, help="size of each uploaded video")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        print(f"making {args.uploads} videos of ~{args.mib:.0f} MiB ...", flush=True)
        videos = [noise_video(tmp / f"v{i}.mp4", args.mib, i) for i in range(args.uploads)]
        with moto_server(tmp / "moto.log") as endpoint:
            setups: list[tuple[str, Callable[[], Settings]]] = [
                (
                    "local",
                    lambda: Settings(
                        database_url=f"sqlite:///{tmp}/local.db", media_dir=tmp / "local-media"
                    ),
                ),
                (
                    "s3",
                    lambda: Settings(
                        database_url=f"sqlite:///{tmp}/s3.db",
                        media_dir=tmp / "s3-media",
                        storage_url="s3://bench/studio",
                        s3_endpoint_url=endpoint,
                        s3_region=REGION,
                        s3_access_key_id=ACCESS_KEY,
                        s3_secret_access_key=SecretStr(SECRET_KEY),
                        s3_addressing_style="path",
                    ),
                ),
            ]
            results = []
            for label, make in setups:
                print(f"measuring {label} ...", flush=True)
                results.append(measure(label, make(), videos, args.reads))
        local, s3 = results
    rows = [
        ("upload (MiB/s)", "upload_MiBps", True),
        ("proxy read, whole (MiB/s)", "proxy_read_MiBps", True),
        ("proxy read, 1 MiB ranges (MiB/s)", "proxy_ranges_MiBps", True),
        ("media job per video (s)", "proxy_job_s", False),
    ]
    print(
        f"\n{args.uploads} uploads of {args.mib:.0f} MiB, proxy {local['proxy_MiB']:.1f} MiB, "
        f"{args.reads} reads each (median)"
    )
    print("| measure | local folder | S3 (moto, loopback) | S3 / local |")
    print("| --- | ---: | ---: | ---: |")
    for name, key, _higher_better in rows:
        print(f"| {name} | {local[key]:.1f} | {s3[key]:.1f} | {s3[key] / local[key]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
