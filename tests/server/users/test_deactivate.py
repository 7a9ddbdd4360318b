"""Deactivate and reactivate a user: their token is refused (in another API process once the
token cache's lifetime has passed), their work stays, they come back with the same token."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from annotator_ui.pages import COOKIE
from server.app import create_app
from server.db import session_scope
from server.errors import Conflict
from server.models import Click, VideoLabel
from server.users.service import set_active
from tests.conftest import make_user
from tests.server.helpers import upload

TTL_S = 1.0


@pytest.fixture
def other_process(settings):  # type: ignore[no-untyped-def]
    """A second API process on the same database, with its own token cache."""
    app = create_app(settings.model_copy(update={"token_cache_s": TTL_S}))
    with TestClient(app) as c:
        yield c
    app.state.engine.dispose()


def test_deactivated_token_is_refused_once_the_cache_lifetime_has_passed(
    client, app, admin, alice, clip_bytes, other_process
):
    video = upload(client, alice, clip_bytes).json()
    cls = client.post("/api/v1/classes", headers=admin.h, json={"name": "Bounce"}).json()
    v = video["id"]
    client.put(f"/api/v1/videos/{v}/labels", headers=alice.h, json={"class_ids": [cls["id"]]})
    click = client.post(f"/api/v1/videos/{v}/clicks", headers=alice.h, json={"t_s": 1.0})
    assert click.status_code == 201
    # the other process has seen (and cached) alice's token
    assert other_process.get("/api/v1/me", headers=alice.h).status_code == 200

    r = client.post(f"/api/v1/users/{alice.id}/deactivate", headers=admin.h)
    assert r.status_code == 200 and r.json()["active"] is False
    # this process forgets her at once
    here = client.get("/api/v1/me", headers=alice.h)
    assert here.status_code == 401
    assert here.json()["detail"] == "this account is deactivated: an admin can reactivate it"
    # the other one within its cache's lifetime, then not
    deactivated_at = time.monotonic()
    assert other_process.get("/api/v1/me", headers=alice.h).status_code == 200
    time.sleep(max(0.0, TTL_S + 0.1 - (time.monotonic() - deactivated_at)))
    there = other_process.get("/api/v1/me", headers=alice.h)
    assert there.status_code == 401 and "deactivated" in there.json()["detail"]
    # nor do her pages open
    client.cookies.set(COOKIE, alice.token)
    assert client.get("/videos", follow_redirects=False).status_code == 303
    client.cookies.clear()
    # her work stays
    with app.state.sessionmaker() as s:
        assert s.scalar(select(Click).where(Click.annotator_id == alice.id)) is not None
        assert s.scalar(select(VideoLabel).where(VideoLabel.annotator_id == alice.id)) is not None
    clicks = client.get(f"/api/v1/videos/{v}/clicks", headers=admin.h).json()
    assert [c["annotator_id"] for c in clicks] == [alice.id]
    listed = {u["name"]: u["active"] for u in client.get("/api/v1/users", headers=admin.h).json()}
    assert listed["alice"] is False

    r = client.post(f"/api/v1/users/{alice.id}/reactivate", headers=admin.h)
    assert r.status_code == 200 and r.json()["active"] is True
    assert client.get("/api/v1/me", headers=alice.h).status_code == 200  # the same token
    assert other_process.get("/api/v1/me", headers=alice.h).status_code == 200


def test_deactivation_refusals(client, app, admin, alice, bob):
    me = client.post(f"/api/v1/users/{admin.id}/deactivate", headers=admin.h)
    assert me.status_code == 409 and "yourself" in me.json()["detail"]
    assert client.post(f"/api/v1/users/{bob.id}/deactivate", headers=alice.h).status_code == 403
    assert client.post("/api/v1/users/999/deactivate", headers=admin.h).status_code == 404
    assert client.post("/api/v1/users/999/reactivate", headers=admin.h).status_code == 404
    # the last active admin stays
    root = make_user(app, "root", "admin")
    assert client.post(f"/api/v1/users/{root.id}/deactivate", headers=admin.h).status_code == 200
    with (
        pytest.raises(Conflict, match="last active admin"),
        session_scope(app.state.sessionmaker) as s,
    ):
        set_active(s, admin.id, False)  # e.g. from a script: no actor, still refused
    assert client.get("/api/v1/me", headers=admin.h).status_code == 200
    # deactivating twice and reactivating an active user are no-ops
    assert client.post(f"/api/v1/users/{bob.id}/deactivate", headers=admin.h).status_code == 200
    assert client.post(f"/api/v1/users/{bob.id}/deactivate", headers=admin.h).status_code == 200
    assert client.post(f"/api/v1/users/{alice.id}/reactivate", headers=admin.h).status_code == 200
