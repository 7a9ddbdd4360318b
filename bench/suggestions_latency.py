"""Latency of ``GET /api/v1/videos/{id}/suggestions`` (goal: < 50 ms; issue 13) against the
bare ``GET /api/v1/health`` measured in the same run, through the in-process ASGI client on a
migrated SQLite database with a model version, its suggestions and 40 clicks on the video.

    python -m bench.suggestions_latency [--requests 200]

Prints median and p95 of both and their ratio. The request reads stored rows only (tested:
``tests/server/suggestions/test_suggestions_api.py``, no model is loaded or run).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from server.app import create_app
from server.config import Settings
from server.db import session_scope
from server.migrate import upgrade
from server.models import ModelVersion, Role, Suggestion, Video, VideoStatus
from server.users.service import create_user


def timed(client: TestClient, url: str, headers: dict[str, str], count: int) -> list[float]:
    client.get(url, headers=headers)  # warm
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        r = client.get(url, headers=headers)
        out.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text
    return sorted(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.suggestions_latency", description=__doc__.split("\n")[0]
    )
    p.add_argument("--requests", type=int, default=200)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/bench.db", media_dir=Path(tmp) / "media")
        upgrade(settings)
        app = create_app(settings)
        with session_scope(app.state.sessionmaker) as s:
            _, token = create_user(s, "annotator", Role.annotator)
            video = Video(
                name="v.mp4",
                title="v",
                original_name="v.mp4",
                sha256="0" * 64,
                size_bytes=1,
                file_path="videos/v.mp4",
                fps=25.0,
                frame_count=3000,
                duration_s=120.0,
                width=320,
                height=240,
                status=VideoStatus.ready,
            )
            version = ModelVersion(
                supervision="bg-click",
                checkpoint_path="models/none.pt",
                class_names=[],
                is_active=True,
            )
            s.add_all([video, version])
            s.flush()
            for rank in range(5):
                s.add(
                    Suggestion(
                        model_version_id=version.id,
                        video_id=video.id,
                        rank=rank,
                        t_s=10.0 + 20 * rank,
                        score=1 - 0.1 * rank,
                        reason="low_confidence",
                        class_id=None,
                    )
                )
            vid = int(video.id)
        headers = {"Authorization": f"Bearer {token}"}
        with TestClient(app) as client:
            for k in range(40):
                client.post(
                    f"/api/v1/videos/{vid}/clicks",
                    json={"t_s": 1.0 + 2.9 * k, "client_key": f"b{k}"},
                    headers=headers,
                )
            bare = timed(client, "/api/v1/health", {}, args.requests)
            sugg = timed(client, f"/api/v1/videos/{vid}/suggestions", headers, args.requests)
        app.state.engine.dispose()

    def p95(xs: list[float]) -> float:
        return xs[min(len(xs) - 1, int(0.95 * len(xs)))]

    for name, xs in (("health (bare)", bare), ("suggestions", sugg)):
        print(
            f"{name:14s} median {1000 * statistics.median(xs):6.2f} ms"
            f"  p95 {1000 * p95(xs):6.2f} ms"
        )
    print(
        f"suggestions / bare: median x{statistics.median(sugg) / statistics.median(bare):.2f}, "
        f"p95 x{p95(sugg) / p95(bare):.2f}; goal: suggestions median < 50 ms "
        f"({'met' if statistics.median(sugg) < 0.05 else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
