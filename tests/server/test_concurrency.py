"""8 threads × 100 clicks with client keys (20 % sent twice) against the running app."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from server.models import Click
from tests.conftest import make_user
from tests.server.helpers import count, upload

THREADS = 8
CLICKS = 100


def test_concurrent_idempotent_clicks(app, client, live_server, clip_bytes):
    users = [make_user(app, f"annotator{i}", "annotator") for i in range(THREADS)]
    video = upload(client, users[0], clip_bytes).json()
    statuses: list[int] = []
    lock = threading.Lock()

    def annotate(i: int) -> None:
        rng = random.Random(i)
        with httpx.Client(base_url=live_server, headers=users[i].h, timeout=60) as http:
            for k in range(CLICKS):
                body = {"t_s": rng.uniform(0, video["duration_s"]), "client_key": f"u{i}-c{k}"}
                sends = 2 if rng.random() < 0.2 else 1
                for _ in range(sends):
                    r = http.post(f"/api/v1/videos/{video['id']}/clicks", json=body)
                    with lock:
                        statuses.append(r.status_code)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(annotate, range(THREADS)))

    assert set(statuses) <= {200, 201}, sorted(set(statuses))
    assert statuses.count(201) == THREADS * CLICKS
    assert count(app, Click) == THREADS * CLICKS
    with app.state.sessionmaker() as s:
        keys = {k for (k,) in s.query(Click.client_key)}
    assert keys == {f"u{i}-c{k}" for i in range(THREADS) for k in range(CLICKS)}


def test_concurrent_retries_of_one_key(app, client, live_server, clip_bytes):
    """The same key sent by 8 threads at once: one row, one 201, the rest 200."""
    user = make_user(app, "racer", "annotator")
    video = upload(client, user, clip_bytes).json()
    barrier = threading.Barrier(THREADS)

    def send(_: int) -> tuple[int, int]:
        with httpx.Client(base_url=live_server, headers=user.h, timeout=60) as http:
            barrier.wait()
            r = http.post(
                f"/api/v1/videos/{video['id']}/clicks", json={"t_s": 1.0, "client_key": "same"}
            )
            return r.status_code, r.json()["id"]

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(send, range(THREADS)))
    assert sorted(s for s, _ in results) == [200] * (THREADS - 1) + [201]
    assert len({i for _, i in results}) == 1
    assert count(app, Click) == 1
