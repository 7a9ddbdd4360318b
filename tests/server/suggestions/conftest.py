"""The suggestions tests' world: two classes and two uploaded clips."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.helpers import upload


@pytest.fixture
def world(app, client, admin, alice, bob, clip_bytes, clip2_bytes) -> dict[str, Any]:
    classes = [
        client.post("/api/v1/classes", json={"name": n}, headers=admin.h).json()["id"]
        for n in ("Bounce", "Spin")
    ]
    v1 = upload(client, admin, clip_bytes, "a.mp4").json()["id"]
    v2 = upload(client, admin, clip2_bytes, "b.mp4").json()["id"]
    return {"classes": classes, "videos": [v1, v2]}
