from __future__ import annotations

import json

import pytest

from server.models import Click
from tests.server.helpers import count, upload


@pytest.fixture
def video(client, alice, clip_bytes):
    return upload(client, alice, clip_bytes).json()


@pytest.fixture
def cls(client, admin):
    return client.post("/api/v1/classes", headers=admin.h, json={"name": "Bounce"}).json()


def post_click(client, actor, video_id, **body):
    body.setdefault("t_s", 1.0)
    return client.post(f"/api/v1/videos/{video_id}/clicks", headers=actor.h, json=body)


def test_click_stores_time_and_frame(client, alice, video):
    r = post_click(client, alice, video["id"], t_s=1.23, while_playing=True, client_elapsed_ms=900)
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["t_s"] == 1.23
    assert c["frame_index"] == 30  # floor(1.23 * 25)
    assert c["kind"] == "background" and c["class_id"] is None
    assert c["annotator_id"] == alice.id
    assert c["while_playing"] is True and c["client_elapsed_ms"] == 900
    # the last instant of the video maps to its last frame
    end = post_click(client, alice, video["id"], t_s=video["duration_s"]).json()
    assert end["frame_index"] == video["frame_count"] - 1


def test_action_click_needs_known_class(client, app, alice, video, cls):
    ok = post_click(client, alice, video["id"], kind="action", class_id=cls["id"])
    assert ok.status_code == 201 and ok.json()["class_id"] == cls["id"]
    missing = post_click(client, alice, video["id"], kind="action")
    assert missing.status_code == 422 and "needs a class_id" in missing.json()["detail"]
    unknown = post_click(client, alice, video["id"], kind="action", class_id=999)
    assert unknown.status_code == 422 and "unknown class id(s): 999" in unknown.json()["detail"]
    bg_with_class = post_click(client, alice, video["id"], class_id=cls["id"])
    assert bg_with_class.status_code == 422
    assert "background click has no class_id" in bg_with_class.json()["detail"]
    assert count(app, Click) == 1


def test_client_key_makes_clicks_idempotent(client, app, alice, bob, video):
    first = post_click(client, alice, video["id"], t_s=2.0, client_key="k-1")
    again = post_click(client, alice, video["id"], t_s=2.0, client_key="k-1")
    other_user = post_click(client, bob, video["id"], t_s=2.0, client_key="k-1")
    assert (first.status_code, again.status_code, other_user.status_code) == (201, 200, 201)
    assert again.json()["id"] == first.json()["id"]
    assert count(app, Click) == 2


def test_created_click_reads_back_identically(client, alice, video, cls):
    """The write path answers from Core rows, the read path from ORM entities: same JSON."""
    made = [
        post_click(client, alice, video["id"], t_s=0.5).json(),
        post_click(client, alice, video["id"], t_s=1.5, client_key="same").json(),
        post_click(client, alice, video["id"], t_s=1.5, client_key="same").json(),
        post_click(
            client,
            alice,
            video["id"],
            t_s=2.5,
            kind="action",
            class_id=cls["id"],
            while_playing=False,
            client_elapsed_ms=0,
        ).json(),
    ]
    listed = client.get(f"/api/v1/videos/{video['id']}/clicks", headers=alice.h).json()
    assert made[1] == made[2]
    assert listed == [made[0], made[1], made[3]]
    assert made[0]["created_at"].endswith(("Z", "+00:00"))


@pytest.mark.parametrize("t_s", [-0.5, 4.01, 1e9])
def test_time_outside_video_is_refused(client, app, alice, video, t_s):
    r = post_click(client, alice, video["id"], t_s=t_s)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "t_s" in detail and ("outside the video" in detail or "greater than or equal" in detail)
    assert count(app, Click) == 0


@pytest.mark.parametrize("raw", ["NaN", "Infinity", '"nan"', "null", '"abc"'])
def test_non_numbers_are_refused(client, app, alice, video, raw):
    body = f'{{"t_s": {raw}, "kind": "background"}}'
    r = client.post(
        f"/api/v1/videos/{video['id']}/clicks",
        headers={**alice.h, "Content-Type": "application/json"},
        content=body,
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("t_s:")
    assert count(app, Click) == 0


def test_nan_message_is_readable(client, alice, video):
    r = client.post(
        f"/api/v1/videos/{video['id']}/clicks",
        headers={**alice.h, "Content-Type": "application/json"},
        content='{"t_s": NaN}',
    )
    assert r.json()["detail"] == "t_s: must be a finite number (NaN and infinity are not allowed)"


def test_click_on_deleted_or_missing_video(client, app, admin, alice, video):
    client.delete(f"/api/v1/videos/{video['id']}", headers=admin.h)
    r = post_click(client, alice, video["id"])
    assert r.status_code == 410 and r.json()["detail"] == f"video {video['id']} was deleted"
    r = post_click(client, alice, 12345)
    assert r.status_code == 404 and r.json()["detail"] == "video 12345 does not exist"
    assert count(app, Click) == 0


def test_click_on_video_deleted_after_its_facts_were_cached(client, app, admin, alice, video):
    """The click path caches a video's (immutable) time facts; deletion is checked by the
    INSERT itself, so a cached video that is deleted later still answers 410."""
    vid = video["id"]
    assert post_click(client, alice, vid, t_s=0.5, client_key="before").status_code == 201
    assert app.state.video_facts.get(vid) is not None
    assert client.delete(f"/api/v1/videos/{vid}", headers=admin.h).status_code == 204
    for key in (None, "after"):
        r = post_click(client, alice, vid, t_s=0.6, client_key=key)
        assert r.status_code == 410 and r.json()["detail"] == f"video {vid} was deleted"
    # a retry of a click acknowledged before the deletion still gets its click back
    again = post_click(client, alice, vid, t_s=0.5, client_key="before")
    assert again.status_code == 200 and again.json()["t_s"] == 0.5
    assert count(app, Click) == 1


def test_annotators_see_and_delete_only_their_own(client, app, admin, alice, bob, video):
    a = post_click(client, alice, video["id"], t_s=1.0).json()
    b = post_click(client, bob, video["id"], t_s=2.0).json()
    mine = client.get(f"/api/v1/videos/{video['id']}/clicks", headers=alice.h).json()
    assert [c["id"] for c in mine] == [a["id"]]
    peek = client.get(f"/api/v1/videos/{video['id']}/clicks?annotator_id={bob.id}", headers=alice.h)
    assert peek.status_code == 403 and "own clicks" in peek.json()["detail"]
    steal = client.delete(f"/api/v1/clicks/{b['id']}", headers=alice.h)
    assert steal.status_code == 403 and "your own clicks" in steal.json()["detail"]
    assert count(app, Click, Click.deleted_at.is_(None)) == 2
    everyone = client.get(f"/api/v1/videos/{video['id']}/clicks", headers=admin.h).json()
    assert sorted(c["id"] for c in everyone) == sorted([a["id"], b["id"]])
    only_bob = client.get(
        f"/api/v1/videos/{video['id']}/clicks?annotator_id={bob.id}", headers=admin.h
    ).json()
    assert [c["id"] for c in only_bob] == [b["id"]]
    # own delete, then admin deletes any
    assert client.delete(f"/api/v1/clicks/{a['id']}", headers=alice.h).status_code == 204
    assert client.delete(f"/api/v1/clicks/{a['id']}", headers=alice.h).status_code == 204
    assert client.delete(f"/api/v1/clicks/{b['id']}", headers=admin.h).status_code == 204
    assert client.delete("/api/v1/clicks/999", headers=admin.h).status_code == 404
    assert client.get(f"/api/v1/videos/{video['id']}/clicks", headers=admin.h).json() == []


def test_retry_after_delete_does_not_resurrect(client, app, alice, video):
    c = post_click(client, alice, video["id"], client_key="u1").json()
    client.delete(f"/api/v1/clicks/{c['id']}", headers=alice.h)
    again = post_click(client, alice, video["id"], client_key="u1")
    assert again.status_code == 200 and again.json()["deleted"] is True
    assert count(app, Click, Click.deleted_at.is_(None)) == 0


def test_labels_per_annotator(client, admin, alice, bob, video, cls):
    other = client.post("/api/v1/classes", headers=admin.h, json={"name": "Spin"}).json()
    url = f"/api/v1/videos/{video['id']}/labels"
    r = client.put(url, headers=alice.h, json={"class_ids": [other["id"], cls["id"], cls["id"]]})
    assert r.status_code == 200, r.text
    assert r.json()["labels"] == [
        {"annotator_id": alice.id, "annotator_name": "alice", "class_ids": [cls["id"], other["id"]]}
    ]
    client.put(url, headers=bob.h, json={"class_ids": [other["id"]]})
    mine = client.get(url, headers=bob.h).json()["labels"]
    assert mine == [{"annotator_id": bob.id, "annotator_name": "bob", "class_ids": [other["id"]]}]
    all_labels = client.get(url, headers=admin.h).json()["labels"]
    assert {x["annotator_name"] for x in all_labels} == {"alice", "bob"}
    bad = client.put(url, headers=alice.h, json={"class_ids": [cls["id"], 77]})
    assert bad.status_code == 422 and "unknown class id(s): 77" in bad.json()["detail"]
    # the failed write left the previous labels untouched
    assert client.get(url, headers=alice.h).json()["labels"][0]["class_ids"] == [
        cls["id"],
        other["id"],
    ]


def test_classes_admin_only_and_unique(client, admin, alice):
    r = client.post("/api/v1/classes", headers=alice.h, json={"name": "X"})
    assert r.status_code == 403
    assert client.post("/api/v1/classes", headers=admin.h, json={"name": "X"}).status_code == 201
    dup = client.post("/api/v1/classes", headers=admin.h, json={"name": "X"})
    assert dup.status_code == 409 and "already exists" in dup.json()["detail"]
    bad = client.post("/api/v1/classes", headers=admin.h, json={"name": "../x"})
    assert bad.status_code == 422
    assert [c["name"] for c in client.get("/api/v1/classes", headers=alice.h).json()] == ["X"]


def test_auth_required_and_roles(client, app, alice):
    r = client.get("/api/v1/videos")
    assert r.status_code == 401
    assert "Authorization: Bearer" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"
    r = client.get("/api/v1/videos", headers={"Authorization": "Bearer bts_wrong"})
    assert r.status_code == 401 and r.json()["detail"] == "invalid or revoked token"
    r = client.get("/api/v1/videos", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401
    assert client.get("/api/v1/users", headers=alice.h).status_code == 403
    assert client.post("/api/v1/users", headers=alice.h, json={"name": "x"}).status_code == 403
    assert client.get("/api/v1/health").json() == {"status": "ok"}


def test_tokens_are_stored_hashed(client, app, admin):
    from sqlalchemy import select

    from server.models import User

    r = client.post("/api/v1/users", headers=admin.h, json={"name": "carol"})
    assert r.status_code == 201
    token = r.json()["token"]
    with app.state.sessionmaker() as s:
        stored = s.scalar(select(User.token_hash).where(User.name == "carol"))
    assert stored and token not in json.dumps(stored) and len(stored) == 64
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["name"] == "carol" and me["role"] == "annotator"
    rotated = client.post(f"/api/v1/users/{me['id']}/token", headers=admin.h).json()["token"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {rotated}"}).status_code == 200
    )


def test_me_reflects_a_new_reaction_offset_at_once(client, alice):
    assert client.get("/api/v1/me", headers=alice.h).json()["reaction_offset_ms"] == 0
    r = client.patch("/api/v1/me", headers=alice.h, json={"reaction_offset_ms": 250})
    assert r.status_code == 200 and r.json()["reaction_offset_ms"] == 250
    assert client.get("/api/v1/me", headers=alice.h).json()["reaction_offset_ms"] == 250
