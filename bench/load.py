"""Load test: N simulated annotators clicking against a running server on loopback.

Each annotator makes ``--clicks`` clicks with client keys; 10 % are sent a second time (a
retry: must answer 200 with the same id) and 2 % are deleted afterwards. The server runs in
its own process (uvicorn, one worker, no access log), on SQLite and on PostgreSQL. In the
same run, and with the same client and the same uvicorn settings, a bare FastAPI endpoint
that does nothing is measured: its p99 is the figure to beat (goal: click p99 within 3x of
it on both databases). At the end the stored clicks are compared with the expected set.

    .venv/bin/python -m bench.load               # 20 annotators x 500 clicks, both DBs, 3 rounds
    .venv/bin/python -m bench.load --clicks 100 --db sqlite
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RETRY_SHARE = 0.10
DELETE_SHARE = 0.02


# ------------------------------------------------------------------------ server processes


def bare_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/bare")
    def bare() -> dict[str, str]:
        return {}

    return app


def serve_main(argv: list[str]) -> None:
    import uvicorn

    kind, port = argv[0], int(argv[1])
    if kind == "bare":
        app = bare_app()
    else:
        from server.app import create_app
        from server.config import Settings

        app = create_app(Settings(database_url=argv[2], media_dir=Path(argv[3])))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.load", "--serve", args[0], str(self.port), *args[1:]],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for _ in range(600):  # 60 s at most
            try:
                httpx.get(self.base + "/", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


# ----------------------------------------------------------------------------- the load


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    acked: dict[str, int] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    server_cpu_s: float = float("nan")  # CPU time the server process spent on the load

    def line(self, name: str) -> str:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000
        rps = len(lat) / self.seconds
        cpu_ms = 1000 * self.server_cpu_s / len(lat)
        return (
            f"{name:<22} {len(lat):>7} req  {rps:>8.0f} req/s  "
            f"p50 {p50:>6.2f} ms  p99 {p99:>7.2f} ms  server CPU {cpu_ms:.2f} ms/req"
        )

    def p99(self) -> float:
        lat = sorted(self.latencies)
        return lat[min(len(lat) - 1, int(0.99 * len(lat)))]


def run_load(
    n: int, clicks: int, base: str, request: Callable[[httpx.Client, int, int, Result], None]
) -> Result:
    result = Result()
    lock = threading.Lock()
    barrier = threading.Barrier(n + 1)

    def annotator(i: int) -> None:
        mine = Result()
        with httpx.Client(base_url=base, timeout=60) as http:
            barrier.wait()
            for k in range(clicks):
                request(http, i, k, mine)
        with lock:
            result.latencies += mine.latencies
            result.errors += mine.errors
            result.acked.update(mine.acked)
            result.deleted |= mine.deleted

    threads = [threading.Thread(target=annotator, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - t0
    return result


def timed(mine: Result, send: Callable[[], httpx.Response]) -> httpx.Response:
    t0 = time.perf_counter()
    r = send()
    mine.latencies.append(time.perf_counter() - t0)
    return r


def bare_request(http: httpx.Client, i: int, k: int, mine: Result) -> None:
    rng = random.Random(i * 1_000_003 + k)
    body = {"t_s": 1.0, "client_key": f"u{i}-c{k}"}
    for _ in range(2 if rng.random() < RETRY_SHARE else 1):
        r = timed(mine, lambda: http.post("/bare", json=body))
        if r.status_code != 200:
            mine.errors.append(f"bare {r.status_code}")


def click_request(
    tokens: list[str], video_id: int, duration: float
) -> Callable[[httpx.Client, int, int, Result], None]:
    def request(http: httpx.Client, i: int, k: int, mine: Result) -> None:
        rng = random.Random(i * 1_000_003 + k)
        key = f"u{i}-c{k}"
        body = {"t_s": round(rng.uniform(0, duration), 3), "client_key": key}
        headers = {"Authorization": f"Bearer {tokens[i]}"}
        url = f"/api/v1/videos/{video_id}/clicks"
        r = timed(mine, lambda: http.post(url, json=body, headers=headers))
        if r.status_code != 201:
            mine.errors.append(f"{key}: {r.status_code} {r.text[:100]}")
            return
        click_id = r.json()["id"]
        mine.acked[key] = click_id
        if rng.random() < RETRY_SHARE:
            again = timed(mine, lambda: http.post(url, json=body, headers=headers))
            if again.status_code != 200 or again.json()["id"] != click_id:
                mine.errors.append(f"{key}: retry gave {again.status_code}")
        if rng.random() < DELETE_SHARE:
            d = http.delete(f"/api/v1/clicks/{click_id}", headers=headers)
            if d.status_code != 204:
                mine.errors.append(f"{key}: delete gave {d.status_code}")
            else:
                mine.deleted.add(key)

    return request


# ------------------------------------------------------------------------------ databases


def prepare(url: str, media: Path, n: int) -> tuple[list[str], int, float]:
    from server.config import Settings
    from server.db import make_engine, make_sessionmaker, session_scope
    from server.migrate import upgrade
    from server.models import Role
    from server.users.service import create_user
    from server.videos.service import create_video_record

    settings = Settings(database_url=url, media_dir=media)
    upgrade(settings)
    engine = make_engine(settings)
    with session_scope(make_sessionmaker(engine)) as s:
        tokens = [create_user(s, f"annotator{i}", Role.annotator)[1] for i in range(n)]
        video = create_video_record(s, name="bench", fps=25.0, frame_count=25 * 600)
        vid, duration = video.id, video.duration_s
    engine.dispose()
    return tokens, vid, duration


def verify(url: str, result: Result) -> tuple[int, int]:
    """(lost, duplicated): stored live clicks against the acknowledged, undeleted ones."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT client_key, id, deleted_at FROM clicks")).all()
    engine.dispose()
    keys = [r[0] for r in rows]
    duplicated = len(keys) - len(set(keys))
    live = {r[0]: r[1] for r in rows if r[2] is None}
    deleted = {r[0] for r in rows if r[2] is not None}
    expected = {k: v for k, v in result.acked.items() if k not in result.deleted}
    lost = len(set(expected) - set(live)) + sum(1 for k in expected if live.get(k) != expected[k])
    extra = len(set(live) - set(expected)) + len(deleted ^ result.deleted)
    return lost, duplicated + extra


def create_pg(base_url: str) -> tuple[str, Callable[[], None]]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(base_url)
    name = f"backtal_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def one_round(db: str, args: argparse.Namespace, tmp: Path) -> tuple[Result, Result, int, int]:
    """A fresh database, then the bare endpoint, then the click API: (bare, clicks, lost,
    duplicated)."""
    drop: Callable[[], None] = lambda: None  # noqa: E731
    if db == "sqlite":
        url = f"sqlite:///{tmp / 'bench.db'}"
    else:
        url, drop = create_pg(args.pg_url)
    try:
        tokens, vid, duration = prepare(url, tmp / "media", args.annotators)
        bare_server = Server("bare")
        try:
            cpu0 = bare_server.cpu_seconds()
            bare = run_load(args.annotators, args.clicks, bare_server.base, bare_request)
            bare.server_cpu_s = bare_server.cpu_seconds() - cpu0
        finally:
            bare_server.stop()
        app_server = Server("app", url, str(tmp / "media"))
        try:
            cpu0 = app_server.cpu_seconds()
            clicks = run_load(
                args.annotators, args.clicks, app_server.base, click_request(tokens, vid, duration)
            )
            clicks.server_cpu_s = app_server.cpu_seconds() - cpu0
        finally:
            app_server.stop()
        lost, duplicated = verify(url, clicks)
    finally:
        drop()
    return bare, clicks, lost, duplicated


def bench_db(db: str, args: argparse.Namespace) -> bool:
    print(
        f"\n== {db}: {args.annotators} annotators x {args.clicks} clicks "
        f"(retries {RETRY_SHARE:.0%}, deletes {DELETE_SHARE:.0%}), {args.rounds} round(s)",
        flush=True,
    )
    ratios, ok = [], True
    for r in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory(prefix=f"backtal-load-{db}-") as tmp:
            bare, clicks, lost, duplicated = one_round(db, args, Path(tmp))
        ratio = clicks.p99() / bare.p99()
        ratios.append(ratio)
        print(f"-- round {r}")
        print(bare.line("bare endpoint"))
        print(clicks.line("clicks (POST)"))
        print(f"click p99 / bare p99 = {ratio:.2f}x")
        print(
            f"acknowledged {len(clicks.acked)}, deleted {len(clicks.deleted)}, "
            f"lost {lost}, duplicated {duplicated}, errors {len(clicks.errors) + len(bare.errors)}",
            flush=True,
        )
        for line in (clicks.errors + bare.errors)[:10]:
            print("  error:", line)
        ok = ok and lost == 0 and duplicated == 0 and not clicks.errors and not bare.errors
    print(
        f"{db}: median click p99 / bare p99 over {len(ratios)} round(s) = "
        f"{statistics.median(ratios):.2f}x (rounds: {', '.join(f'{x:.2f}' for x in ratios)}; "
        "goal: <= 3x, on PostgreSQL and on SQLite)"
    )
    return ok


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve_main(sys.argv[2:])
        return 0
    p = argparse.ArgumentParser(
        prog="python -m bench.load",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    p.add_argument("--annotators", type=int, default=20)
    p.add_argument("--clicks", type=int, default=500)
    p.add_argument("--db", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    p.add_argument("--pg-url", default=os.environ.get("BACKTAL_TEST_PG_URL") or PG_DEFAULT)
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="fresh database + bare + clicks per round; the median ratio is reported "
        "(the bare endpoint's p99 alone varies by ~2x between runs on a shared machine)",
    )
    args = p.parse_args()
    ok = True
    for db in args.db.split(","):
        ok = bench_db(db.strip(), args) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
