"""A small feature-only project for comparison tests: classes Bounce and Spin, videos v0..vN
with alice's labels and background clicks (and action clicks when asked), segments drawn on
the last ``validation`` videos, which are marked as validation."""

from __future__ import annotations

from typing import Any

import numpy as np

from server.db import session_scope
from server.features.service import attach_features
from server.videos.service import create_video_record

API = "/api/v1"
EXTRACTOR = "tiny-stats"
T, D, DURATION, FPS = 32, 16, 16.0, 25.0


def seed_project(
    client: Any,
    app: Any,
    admin: Any,
    alice: Any,
    *,
    videos: int = 9,
    validation: int = 3,
    action_clicks: bool = False,
) -> dict[str, Any]:
    """Bounce at [4, 8] s in every video, Spin at [10, 13] s in odd ones (in the features)."""
    for name in ("Bounce", "Spin"):
        client.post(f"{API}/classes", headers=admin.h, json={"name": name})
    classes = {c["name"]: c["id"] for c in client.get(f"{API}/classes", headers=admin.h).json()}
    rng = np.random.default_rng(0)
    direction = {c: rng.normal(size=D).astype(np.float32) for c in classes}
    ids: dict[str, int] = {}
    with session_scope(app.state.sessionmaker) as s:
        for k in range(videos):
            video = create_video_record(
                s, name=f"v{k}", fps=FPS, frame_count=int(DURATION * FPS), duration_s=DURATION
            )
            feats = rng.normal(scale=0.3, size=(T, D)).astype(np.float32)  # (T, D)
            feats[8:16] += 2 * direction["Bounce"]  # 4 s .. 8 s
            if k % 2:
                feats[20:26] += 2 * direction["Spin"]  # 10 s .. 13 s
            attach_features(s, app.state.storage, video, feats, EXTRACTOR)
            ids[video.name] = video.id
    names = list(ids)
    for k, name in enumerate(names[: videos - validation]):
        vid = ids[name]
        present = [classes["Bounce"]] + ([classes["Spin"]] if k % 2 else [])
        r = client.put(f"{API}/videos/{vid}/labels", headers=alice.h, json={"class_ids": present})
        assert r.status_code == 200, r.text
        for t in (1.0, 9.0, 15.0):
            r = client.post(f"{API}/videos/{vid}/clicks", headers=alice.h, json={"t_s": t})
            assert r.status_code == 201, r.text
        if action_clicks:
            body = {"t_s": 6.0, "kind": "action", "class_id": classes["Bounce"]}
            r = client.post(f"{API}/videos/{vid}/clicks", headers=alice.h, json=body)
            assert r.status_code == 201, r.text
    for k, name in enumerate(names[videos - validation :]):
        vid = ids[name]
        draw(client, alice, vid, classes["Bounce"], 4.0, 8.0)
        if (videos - validation + k) % 2:
            draw(client, alice, vid, classes["Spin"], 10.0, 13.0)
        mark_validation(client, admin, vid)
    return {"ids": ids, "classes": classes}


def draw(client: Any, actor: Any, vid: int, cls: int, start: float, end: float) -> None:
    r = client.post(
        f"{API}/videos/{vid}/segments",
        headers=actor.h,
        json={"class_id": cls, "start_s": start, "end_s": end},
    )
    assert r.status_code == 201, r.text


def mark_validation(client: Any, admin: Any, vid: int, on: bool = True) -> None:
    r = client.patch(f"{API}/videos/{vid}", headers=admin.h, json={"is_validation": on})
    assert r.status_code == 200 and r.json()["is_validation"] is on, r.text
