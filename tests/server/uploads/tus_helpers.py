"""A few lines of the tus 1.0.0 client side for API tests (the browser tests use
tus-js-client itself)."""

from __future__ import annotations

import base64
from typing import Any

TUS = {"Tus-Resumable": "1.0.0"}
PATCH = {**TUS, "Content-Type": "application/offset+octet-stream"}


def meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def create(client: Any, actor: Any, length: int, name: str = "clip.mp4", **more: str) -> Any:
    return client.post(
        "/api/v1/uploads",
        headers={
            **actor.h,
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": meta(filename=name, **more),
        },
    )


def send(client: Any, actor: Any, url: str, offset: int, data: bytes) -> Any:
    return client.patch(
        url, headers={**actor.h, **PATCH, "Upload-Offset": str(offset)}, content=data
    )


def head(client: Any, actor: Any, url: str) -> Any:
    return client.head(url, headers={**actor.h, **TUS})


def upload_all(client: Any, actor: Any, data: bytes, name: str = "clip.mp4", chunk: int = 0) -> Any:
    """Create and send ``data`` in chunks of ``chunk`` bytes (0: one PATCH); returns the
    last PATCH's response."""
    r = create(client, actor, len(data), name)
    assert r.status_code == 201, r.text
    url = r.headers["location"]
    step = chunk or len(data)
    offset = 0
    while True:
        r = send(client, actor, url, offset, data[offset : offset + step])
        if r.status_code != 204 or offset + step >= len(data):
            return r
        assert int(r.headers["upload-offset"]) == offset + step, r.headers
        offset += step
