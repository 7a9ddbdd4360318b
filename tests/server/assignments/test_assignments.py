"""Assignments and review: assigning (chosen videos, a share of the unassigned ones), the
state machine (every legal step recorded, every illegal one refused with a sentence), work
that moves or is refused by its state, N (assigned first, then the queue), the progress
table, the reviewer's view of the work (with click QA's flags), and Retrain's
``approved_only``."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from server.db import session_scope
from server.features.service import attach_features
from server.models import AssignmentState, GroundTruthSegment
from server.training.dataset import build_dataset
from server.videos.service import create_video_record
from tests.conftest import Actor, make_user
from tests.server.suggestions.seed import add_version

API = "/api/v1"
T, D, DURATION = 16, 8, 8.0


def make_videos(app: Any, n: int, features: bool = False) -> list[int]:
    ids = []
    with session_scope(app.state.sessionmaker) as s:
        for k in range(n):
            video = create_video_record(
                s, name=f"v{k}", fps=25.0, frame_count=int(DURATION * 25), duration_s=DURATION
            )
            if features:
                feats = np.random.default_rng(k).normal(size=(T, D)).astype(np.float32)
                attach_features(s, app.state.storage, video, feats, "tiny-stats")
            ids.append(video.id)
    return ids


@pytest.fixture
def rita(app) -> Actor:  # type: ignore[no-untyped-def]
    return make_user(app, "rita", "reviewer")


@pytest.fixture
def bounce(client, admin) -> int:  # type: ignore[no-untyped-def]
    r = client.post(f"{API}/classes", headers=admin.h, json={"name": "Bounce"})
    return int(r.json()["id"])


def assign(client, admin, **body: Any) -> Any:  # type: ignore[no-untyped-def]
    r = client.post(f"{API}/assignments", headers=admin.h, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def step(client, actor, aid: int, action: str, comment: str | None = None):  # type: ignore[no-untyped-def]
    body = {"comment": comment} if comment is not None else None
    return client.post(f"{API}/assignments/{aid}/{action}", headers=actor.h, json=body)


def state_of(client, admin, aid: int) -> str:  # type: ignore[no-untyped-def]
    return str(client.get(f"{API}/assignments/{aid}", headers=admin.h).json()["state"])


# ---------------------------------------------------------------------------- assigning


def test_assign_chosen_videos_and_a_share_of_the_unassigned(client, app, admin, alice, bob):  # type: ignore[no-untyped-def]
    v = make_videos(app, 7)
    out = assign(client, admin, annotator_ids=[alice.id, bob.id], video_ids=[v[0], v[1]])
    pairs = sorted((a["video_id"], a["annotator_name"]) for a in out["created"])
    assert pairs == [(v[0], "alice"), (v[0], "bob"), (v[1], "alice"), (v[1], "bob")]
    assert {a["state"] for a in out["created"]} == {"new"}
    assert out["unassigned_left"] == 5
    again = assign(client, admin, annotator_ids=[alice.id], video_ids=[v[0], v[2]])
    assert [a["video_id"] for a in again["created"]] == [v[2]]
    assert [a["video_id"] for a in again["already"]] == [v[0]]
    # a share: the oldest unassigned videos, dealt out in turn (one annotator each)
    share = assign(client, admin, annotator_ids=[bob.id, alice.id], unassigned_count=3)
    dealt = [(a["video_id"], a["annotator_name"]) for a in share["created"]]
    assert dealt == [(v[3], "bob"), (v[4], "alice"), (v[5], "bob")]
    half = assign(client, admin, annotator_ids=[alice.id], unassigned_fraction=0.5)
    assert [a["video_id"] for a in half["created"]] == [v[6]]  # ceil(0.5 · 1)
    assert half["unassigned_left"] == 0
    r = client.post(
        f"{API}/assignments",
        headers=admin.h,
        json={"annotator_ids": [alice.id], "unassigned_count": 1},
    )
    assert r.status_code == 422 and "every video is assigned" in r.json()["detail"]


def test_assign_refuses_bad_requests_whole(client, app, admin, alice):  # type: ignore[no-untyped-def]
    v = make_videos(app, 2)
    cases = [
        ({"annotator_ids": [alice.id]}, 422, "exactly one of"),
        ({"annotator_ids": [alice.id], "video_ids": [v[0]], "unassigned_count": 1}, 422, "one"),
        ({"annotator_ids": [alice.id], "video_ids": [v[0], 999]}, 404, "video 999"),
        ({"annotator_ids": [alice.id, 998], "video_ids": [v[0]]}, 404, "user 998"),
    ]
    for body, code, words in cases:
        r = client.post(f"{API}/assignments", headers=admin.h, json=body)
        assert r.status_code == code and words in r.json()["detail"], (body, r.text)
    client.post(f"{API}/users/{alice.id}/deactivate", headers=admin.h)
    r = client.post(
        f"{API}/assignments", headers=admin.h, json={"annotator_ids": [alice.id], "video_ids": v}
    )
    assert r.status_code == 422 and "alice is deactivated" in r.json()["detail"], r.text
    listed = client.get(f"{API}/assignments", headers=admin.h).json()
    assert listed["total"] == 0  # nothing half-made


# ---------------------------------------------------------------------------- states


def test_the_whole_review_loop_is_checked_and_recorded(  # type: ignore[no-untyped-def]
    client, app, admin, alice, rita, bounce
):
    (vid,) = make_videos(app, 1)
    (a,) = assign(client, admin, annotator_ids=[alice.id], video_ids=[vid])["created"]
    aid = a["id"]
    # submitting untouched work is refused; working on it starts it
    r = step(client, alice, aid, "submit")
    assert r.status_code == 409 and "is new" in r.json()["detail"], r.text
    r = client.post(f"{API}/videos/{vid}/clicks", headers=alice.h, json={"t_s": 1.0})
    assert r.status_code == 201, r.text
    assert state_of(client, admin, aid) == "in_progress"
    # only alice submits her work; then her work is read-only to her
    assert step(client, rita, aid, "submit").status_code == 403
    r = step(client, alice, aid, "submit", "done, one action unsure")
    assert r.status_code == 200 and r.json()["state"] == "submitted", r.text
    for write in (
        lambda: client.post(f"{API}/videos/{vid}/clicks", headers=alice.h, json={"t_s": 2.0}),
        lambda: client.put(
            f"{API}/videos/{vid}/labels", headers=alice.h, json={"class_ids": [bounce]}
        ),
        lambda: client.post(
            f"{API}/videos/{vid}/segments",
            headers=alice.h,
            json={"class_id": bounce, "start_s": 1.0, "end_s": 2.0},
        ),
    ):
        r = write()
        assert r.status_code == 409 and "submitted for review" in r.json()["detail"], r.text
    # an annotator cannot review; a return needs a comment
    assert step(client, alice, aid, "approve").status_code == 403
    r = step(client, rita, aid, "return")
    assert r.status_code == 422 and "needs a comment" in r.json()["detail"], r.text
    r = step(client, rita, aid, "return", "the second jump has no click")
    assert r.status_code == 200, r.text
    back = r.json()
    assert (back["state"], back["reviewer_name"], back["comment"]) == (
        "returned",
        "rita",
        "the second jump has no click",
    )
    # the annotator sees the comment on her own assignment, works again, resubmits
    mine = client.get(f"{API}/assignments", headers=alice.h, params={"video_id": vid}).json()
    assert mine["items"][0]["comment"] == "the second jump has no click"
    r = client.put(f"{API}/videos/{vid}/labels", headers=alice.h, json={"class_ids": [bounce]})
    assert r.status_code == 200, r.text
    assert state_of(client, admin, aid) == "in_progress"
    assert step(client, alice, aid, "submit").status_code == 200
    r = step(client, rita, aid, "approve", "good")
    assert r.status_code == 200 and r.json()["state"] == "approved", r.text
    r = client.post(f"{API}/videos/{vid}/clicks", headers=alice.h, json={"t_s": 3.0})
    assert r.status_code == 409 and "was approved" in r.json()["detail"], r.text
    # every step on record: who, from, to, why
    events = client.get(f"{API}/assignments/{aid}", headers=alice.h).json()["events"]
    assert [(e["from_state"], e["to_state"], e["actor_name"], e["comment"]) for e in events] == [
        (None, "new", "admin", None),
        ("new", "in_progress", "alice", None),
        ("in_progress", "submitted", "alice", "done, one action unsure"),
        ("submitted", "returned", "rita", "the second jump has no click"),
        ("returned", "in_progress", "alice", None),
        ("in_progress", "submitted", "alice", None),
        ("submitted", "approved", "rita", "good"),
    ]
    assert all(e["created_at"] for e in events)


# (action, the states it may leave from): every other (action, state) pair is a 409
LEGAL = {
    "start": {"new", "returned"},
    "submit": {"in_progress"},
    "approve": {"submitted"},
    "return": {"submitted", "approved"},
}
# how each state is reached from new (alice works, rita reviews)
ROUTE = {
    "new": [],
    "in_progress": ["start"],
    "submitted": ["start", "submit"],
    "approved": ["start", "submit", "approve"],
    "returned": ["start", "submit", "return"],
}


@pytest.mark.parametrize("state", list(ROUTE))
def test_every_illegal_step_is_refused_with_a_sentence(  # type: ignore[no-untyped-def]
    client, app, admin, alice, rita, state
):
    (vid,) = make_videos(app, 1)
    (a,) = assign(client, admin, annotator_ids=[alice.id], video_ids=[vid])["created"]
    aid = a["id"]

    def take(action: str):  # type: ignore[no-untyped-def]
        actor = alice if action in ("start", "submit") else rita
        return step(client, actor, aid, action, "because")

    for action in ROUTE[state]:
        assert take(action).status_code == 200
    assert state_of(client, admin, aid) == state
    for action, sources in LEGAL.items():
        if state in sources:
            continue
        r = take(action)
        assert r.status_code == 409, (state, action, r.text)
        assert f"assignment {aid} is {state.replace('_', ' ')}" in r.json()["detail"]
        assert state_of(client, admin, aid) == state  # nothing changed


def test_reviewers_do_not_review_their_own_work_admins_may(  # type: ignore[no-untyped-def]
    client, app, admin, rita
):
    v = make_videos(app, 2)
    assign(client, admin, annotator_ids=[rita.id, admin.id], video_ids=[v[0]])
    items = client.get(f"{API}/assignments", headers=admin.h).json()["items"]
    mine = {a["annotator_name"]: a["id"] for a in items}
    for who in (rita, admin):
        assert step(client, who, mine[who.name], "start").status_code == 200
        assert step(client, who, mine[who.name], "submit").status_code == 200
    r = step(client, rita, mine["rita"], "approve")
    assert r.status_code == 403 and "their own work" in r.json()["detail"], r.text
    assert step(client, admin, mine["admin"], "approve").status_code == 200
    assert step(client, admin, mine["rita"], "approve").status_code == 200


def test_admin_edits_of_submitted_work_are_review_not_work(  # type: ignore[no-untyped-def]
    client, app, admin, alice, rita
):
    (vid,) = make_videos(app, 1)
    (a,) = assign(client, admin, annotator_ids=[alice.id], video_ids=[vid])["created"]
    click = client.post(f"{API}/videos/{vid}/clicks", headers=alice.h, json={"t_s": 1.0}).json()
    other = client.post(f"{API}/videos/{vid}/clicks", headers=alice.h, json={"t_s": 2.0}).json()
    assert step(client, alice, a["id"], "submit").status_code == 200
    # the click review page's Delete (an admin) removes a wrong click; the state stays
    r = client.delete(f"{API}/clicks/{click['id']}", headers=admin.h)
    assert r.status_code == 204, r.text
    assert state_of(client, admin, a["id"]) == "submitted"
    r = client.delete(f"{API}/clicks/{other['id']}", headers=alice.h)
    assert r.status_code == 409 and "submitted for review" in r.json()["detail"], r.text


def test_unassign_only_what_is_not_under_review(client, app, admin, alice, rita):  # type: ignore[no-untyped-def]
    v = make_videos(app, 2)
    out = assign(client, admin, annotator_ids=[alice.id], video_ids=v)["created"]
    a0, a1 = out[0]["id"], out[1]["id"]
    step(client, alice, a1, "start")
    step(client, alice, a1, "submit")
    r = client.delete(f"{API}/assignments/{a1}", headers=admin.h)
    assert r.status_code == 409 and "return it first" in r.json()["detail"], r.text
    assert client.delete(f"{API}/assignments/{a0}", headers=admin.h).status_code == 204
    assert client.get(f"{API}/assignments/{a0}", headers=admin.h).status_code == 404


# ---------------------------------------------------------------------------- N and the queue


def next_video(client, actor, after: int | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = client.post(f"{API}/assignments/next", headers=actor.h, json={"after": after})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_next_takes_my_assignments_returned_first_then_stops(  # type: ignore[no-untyped-def]
    client, app, admin, alice, bob, rita
):
    v = make_videos(app, 4)
    assert next_video(client, alice)["workflow"] is False  # nothing assigned, queue closed
    out = assign(client, admin, annotator_ids=[alice.id], video_ids=v[:3])["created"]
    ids = {a["video_id"]: a["id"] for a in out}
    # v0 gets returned, v1 is in progress, v2 is new
    for action, who in (("start", alice), ("submit", alice), ("return", rita)):
        assert step(client, who, ids[v[0]], action, "again").status_code == 200
    step(client, alice, ids[v[1]], "start")
    got = next_video(client, alice, after=v[2])
    assert (got["workflow"], got["video_id"], got["claimed"]) == (True, v[0], False)
    assert got["assignment"]["comment"] == "again"
    assert next_video(client, alice, after=v[0])["video_id"] == v[1]
    assert next_video(client, alice, after=v[1])["video_id"] == v[0]
    for aid in ids.values():
        step(client, alice, aid, "start")
        step(client, alice, aid, "submit")
    done = next_video(client, alice, after=v[0])
    assert (done["workflow"], done["video_id"]) == (True, None)
    assert "nothing left" in done["message"]
    assert next_video(client, bob)["workflow"] is False  # the unassigned v3 is anyone's


@pytest.fixture
def queue_settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"assignment_queue": True})


@pytest.fixture
def queue_app(queue_settings):  # type: ignore[no-untyped-def]
    from server.app import create_app

    application = create_app(queue_settings)
    yield application
    application.state.engine.dispose()


def test_the_queue_hands_out_unclaimed_videos_once(queue_app) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    app = queue_app
    admin = make_user(app, "admin", "admin")
    alice = make_user(app, "alice", "annotator")
    bob = make_user(app, "bob", "annotator")
    v = make_videos(app, 4)
    with TestClient(app) as client:
        assign(client, admin, annotator_ids=[bob.id], video_ids=[v[0]])
        first = next_video(client, alice)
        assert (first["video_id"], first["claimed"]) == (v[1], True)
        assert first["assignment"]["state"] == "in_progress"
        # alice's own open work comes before the queue; bob's assignment comes first for bob
        assert next_video(client, alice)["video_id"] == v[1]
        assert next_video(client, bob)["video_id"] == v[0]
        # moving on: the next unclaimed one, never another's
        assert next_video(client, alice, after=v[1])["video_id"] == v[2]
        assert next_video(client, bob, after=v[0])["video_id"] == v[3]
        empty = next_video(client, bob, after=v[3])
        assert empty["video_id"] == v[0]  # bob's own open assignment
        r = client.get(f"{API}/assignments/{first['assignment']['id']}", headers=admin.h)
        events = [(e["from_state"], e["to_state"], e["actor_name"]) for e in r.json()["events"]]
        assert events == [(None, "in_progress", "alice")]
        progress = client.get(f"{API}/assignments/progress", headers=admin.h).json()
        assert progress["queue_open"] is True and progress["unassigned_videos"] == 0


def test_concurrent_claims_never_share_a_video(queue_app) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    app = queue_app
    people = [make_user(app, f"a{k}", "annotator") for k in range(6)]
    make_videos(app, 6)
    got: dict[str, int | None] = {}
    with TestClient(app) as client:

        def pull(actor: Actor) -> None:
            got[actor.name] = next_video(client, actor)["video_id"]

        threads = [threading.Thread(target=pull, args=(p,)) for p in people]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    claimed = [v for v in got.values() if v is not None]
    assert len(claimed) == 6 and len(set(claimed)) == 6, got


# ---------------------------------------------------------------------------- progress, work


def test_progress_per_annotator_and_state(client, app, admin, alice, bob, rita):  # type: ignore[no-untyped-def]
    v = make_videos(app, 5)
    out = assign(client, admin, annotator_ids=[alice.id], video_ids=v[:3])["created"]
    assign(client, admin, annotator_ids=[bob.id], video_ids=[v[0]])
    for action, who in (("start", alice), ("submit", alice), ("approve", rita)):
        step(client, who, out[0]["id"], action)
    step(client, alice, out[1]["id"], "start")
    r = client.get(f"{API}/assignments/progress", headers=admin.h)
    assert r.status_code == 200, r.text
    p = r.json()
    rows = {row["annotator_name"]: row for row in p["annotators"]}
    assert rows["alice"]["states"] == {
        "new": 1,
        "in_progress": 1,
        "submitted": 0,
        "approved": 1,
        "returned": 0,
    }
    assert rows["bob"]["total"] == 1 and rows["bob"]["states"]["new"] == 1
    assert p["states"]["new"] == 2 and p["videos"] == 5 and p["unassigned_videos"] == 2
    assert p["queue_open"] is False
    listed = client.get(f"{API}/assignments", headers=rita.h, params={"state": "approved"})
    assert [a["video_id"] for a in listed.json()["items"]] == [v[0]]
    r = client.get(f"{API}/assignments", headers=bob.h, params={"annotator_id": alice.id})
    assert r.status_code == 403


def test_the_reviewer_sees_that_work_only_with_its_flags(  # type: ignore[no-untyped-def]
    client, app, admin, alice, bob, rita, bounce
):
    (vid,) = make_videos(app, 1)
    (a,) = assign(client, admin, annotator_ids=[alice.id], video_ids=[vid])["created"]
    inside = client.post(f"{API}/videos/{vid}/clicks", headers=alice.h, json={"t_s": 3.0}).json()
    client.post(f"{API}/videos/{vid}/clicks", headers=alice.h, json={"t_s": 7.5})
    client.put(f"{API}/videos/{vid}/labels", headers=alice.h, json={"class_ids": [bounce]})
    client.post(
        f"{API}/videos/{vid}/segments",
        headers=alice.h,
        json={"class_id": bounce, "start_s": 2.0, "end_s": 4.0},
    )
    client.post(f"{API}/videos/{vid}/clicks", headers=bob.h, json={"t_s": 3.1})  # not alice's
    add_version(app, active=True, segments=[(vid, bounce, 2.0, 4.0, 0.9)])
    with session_scope(app.state.sessionmaker) as s:
        s.add(GroundTruthSegment(video_id=vid, class_id=bounce, start_s=2.0, end_s=4.0))
    step(client, alice, a["id"], "submit")
    r = client.get(f"{API}/assignments/{a['id']}/work", headers=rita.h)
    assert r.status_code == 200, r.text
    w = r.json()
    assert [c["t_s"] for c in w["clicks"]] == [3.0, 7.5]
    assert [lab["class_name"] for lab in w["labels"]] == ["Bounce"]
    assert [(s["start_s"], s["end_s"]) for s in w["segments"]] == [(2.0, 4.0)]
    assert [f["click_id"] for f in w["flags"]] == [inside["id"]]
    reasons = [f["reason"] for f in w["flags"][0]["flags"]]
    assert reasons == ["inside_prediction", "inside_ground_truth"]
    assert w["assignment"]["events"][-1]["to_state"] == "submitted"
    assert client.get(f"{API}/assignments/{a['id']}/work", headers=alice.h).status_code == 200
    r = client.get(f"{API}/assignments/{a['id']}/work", headers=bob.h)
    assert r.status_code == 403 and "alice's" in r.json()["detail"], r.text


# ---------------------------------------------------------------------------- training


def test_only_approved_work_trains_when_asked(  # type: ignore[no-untyped-def]
    client, app, admin, alice, bob, rita, bounce
):
    v = make_videos(app, 3, features=True)
    out = assign(client, admin, annotator_ids=[alice.id, bob.id], video_ids=v)["created"]
    aid = {(a["video_id"], a["annotator_name"]): a["id"] for a in out}
    for k, vid in enumerate(v):
        for who, t in ((alice, 1.0), (bob, 6.0)):
            client.put(f"{API}/videos/{vid}/labels", headers=who.h, json={"class_ids": [bounce]})
            r = client.post(f"{API}/videos/{vid}/clicks", headers=who.h, json={"t_s": t + k / 4})
            assert r.status_code == 201, r.text
    # approved: alice on v0 and v1, bob on v1; alice's v2 is returned, bob's v0 submitted
    for pair in ((v[0], "alice"), (v[1], "alice"), (v[1], "bob"), (v[2], "alice"), (v[0], "bob")):
        who = alice if pair[1] == "alice" else bob
        assert step(client, who, aid[pair], "submit").status_code == 200
    for pair in ((v[0], "alice"), (v[1], "alice"), (v[1], "bob")):
        assert step(client, rita, aid[pair], "approve").status_code == 200
    step(client, rita, aid[(v[2], "alice")], "return", "redo")

    def snippets(data: Any) -> dict[int, list[int]]:
        return {data.video_ids[it.name]: it.bg_clicks.tolist() for it in data.items}

    with app.state.sessionmaker() as s:
        every = build_dataset(s, None, load_features=False)
        approved = build_dataset(s, None, load_features=False, approved_only=True)
    snip = lambda t: int(t / DURATION * T)  # noqa: E731
    assert snippets(every) == {
        vid: sorted({snip(1.0 + k / 4), snip(6.0 + k / 4)}) for k, vid in enumerate(v)
    }
    assert snippets(approved) == {
        v[0]: [snip(1.0)],
        v[1]: sorted({snip(1.25), snip(6.25)}),
    }
    assert approved.summary["approved_only"] is True
    assert approved.summary["annotators"] == ["alice", "bob"]

    # Retrain carries the option into the job (the worker builds the same data set)
    r = client.post(
        f"{API}/training-jobs", headers=admin.h, json={"epochs": 1, "approved_only": True}
    )
    assert r.status_code == 202, r.text
    assert r.json()["params"]["approved_only"] is True


def test_approved_only_without_approved_work_says_so(client, app, admin, alice, bounce):  # type: ignore[no-untyped-def]
    v = make_videos(app, 2, features=True)
    for vid in v:
        client.put(f"{API}/videos/{vid}/labels", headers=alice.h, json={"class_ids": [bounce]})
        client.post(f"{API}/videos/{vid}/clicks", headers=alice.h, json={"t_s": 1.0})
    r = client.post(
        f"{API}/training-jobs", headers=admin.h, json={"epochs": 1, "approved_only": True}
    )
    assert r.status_code == 422 and "approve submitted work first" in r.json()["detail"], r.text
    r = client.post(f"{API}/training-jobs", headers=admin.h, json={"epochs": 1})
    assert r.status_code == 202, r.text


def test_states_are_the_enum(client) -> None:  # type: ignore[no-untyped-def]
    assert set(ROUTE) == {s.value for s in AssignmentState}
