"""Authorization matrix: every OpenAPI route × anonymous / annotator / other annotator /
reviewer / admin.

``RULES`` holds one explicit entry per (method, path) of the OpenAPI. A route added to the
app without an entry fails ``test_every_openapi_route_has_a_rule`` (and an entry whose route
is gone fails it too), so nobody can ship a route whose access rule was never written down.

Access kinds:

* ``PUBLIC``: no token needed.
* ``USER``: any signed-in user; the data is shared (videos, classes, jobs, models).
* ``OWN``: any signed-in user, but each annotator reads and changes only their own rows;
  ``other`` checks what the other annotator (bob) got for alice's data.
* ``ADMIN``: admins only; annotators (and reviewers) get 403.
* ``REVIEW``: reviewers and admins; annotators get 403.

The reviewer (rita) is checked on every route too: by default she is let through a
``PUBLIC``/``USER``/``REVIEW`` route, is treated like the other annotator on an ``OWN`` one
(``other`` checks what she got: her own rows only) and refused on an ``ADMIN`` one; a rule's
``reviewer`` says otherwise where her role differs (``PASS``: she sees everyone's, as on the
assignments she reviews; ``REFUSED``: 403, e.g. adding videos, which is not her role's).
``admin`` likewise (``REFUSED``: only the assignee starts or submits their work).

For each route the five callers are sent in the order anonymous, bob, rita, alice, admin
(so a destructive admin call comes last), each on a fresh database with alice's video,
click, labels, and her submitted assignment on a second video.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from server.db import session_scope
from server.models import Click, GroundTruthSegment, Segment, Suggestion
from server.videos.service import create_video_record
from tests.conftest import Actor, make_user
from tests.server.helpers import upload
from tests.server.suggestions.seed import add_version


class Access(Enum):
    PUBLIC = "public"
    USER = "user"
    OWN = "own"
    ADMIN = "admin"
    REVIEW = "review"


# what one caller is expected to get from a route
PASS = "pass"  # let through (no 401/403, no 5xx)
OTHER = "other"  # the rule's ``other`` check: only the caller's own rows
REFUSED = "refused"  # 403


@dataclass
class World:
    app: Any
    client: Any
    admin: Actor
    alice: Actor
    bob: Actor
    rita: Actor  # the reviewer
    ids: dict[str, Any]
    clip: bytes
    caller: Actor | None = None  # whose response an ``other`` check is looking at


Check = Callable[[World, Any], None]


@dataclass(frozen=True)
class Rule:
    access: Access
    json: Any = None  # or a function of the world
    files: Callable[[World], dict[str, Any]] | None = None
    data: dict[str, str] | None = None
    query: dict[str, Any] = field(default_factory=dict)
    other: Check | None = None  # OWN: what bob gets for alice's data
    other_query: dict[str, Any] | None = None  # OWN: bob asks for alice's rows → 403
    headers: dict[str, str] | None = None  # sent besides the caller's token
    reviewer: str | None = None  # PASS | OTHER | REFUSED; None: from ``access``
    admin: str = PASS


def _npy(_: World) -> dict[str, Any]:
    buf = io.BytesIO()
    np.save(buf, np.zeros((10, 8), dtype=np.float32))
    return {"file": ("f.npy", buf.getvalue(), "application/octet-stream")}


def _video_file(w: World) -> dict[str, Any]:
    return {"file": ("clip.mp4", w.clip, "video/mp4")}


def _csv(_: World) -> dict[str, Any]:
    return {"file": ("clicks.csv", b"URLID,URL\n", "text/csv")}


def _gt(_: World) -> dict[str, Any]:
    return {"file": ("gt.json", b'{"database": {}}', "application/json")}


def _no_alice_clicks(w: World, r: Any) -> None:
    assert r.status_code == 200 and r.json() == [], r.text


def _alice_click_alive(w: World, r: Any) -> None:
    assert r.status_code == 403, r.text
    with w.app.state.sessionmaker() as s:
        click = s.scalar(select(Click).where(Click.id == w.ids["click_id"]))
        assert click is not None and click.deleted_at is None


def _no_alice_export(w: World, r: Any) -> None:
    assert r.status_code == 200 and r.json()["total"] == 0, r.text


def _no_alice_labels(w: World, r: Any) -> None:
    assert r.status_code == 200, r.text
    owners = {row["annotator_id"] for row in r.json()["labels"]}
    assert w.alice.id not in owners


def _caller(w: World) -> Actor:
    assert w.caller is not None
    return w.caller


def _alice_labels_kept(w: World, r: Any) -> None:
    assert r.status_code == 200, r.text
    assert {row["annotator_id"] for row in r.json()["labels"]} <= {_caller(w).id}
    mine = w.client.get(f"/api/v1/videos/{w.ids['video_id']}/labels", headers=w.alice.h).json()
    assert mine["labels"][0]["class_ids"] == [w.ids["class_id"]]


def _bob_is_bob(w: World, r: Any) -> None:
    assert r.status_code == 200 and r.json()["id"] == _caller(w).id, r.text


def _bob_click_is_bobs(w: World, r: Any) -> None:
    assert r.status_code in (200, 201) and r.json()["annotator_id"] == _caller(w).id, r.text


def _alice_upload_kept(w: World, r: Any) -> None:
    assert r.status_code == 404, r.text  # someone else's upload does not exist for bob
    head = w.client.head(
        f"/api/v1/uploads/{w.ids['upload_id']}",
        headers={**w.alice.h, "Tus-Resumable": "1.0.0"},
    )
    assert head.status_code == 200 and head.headers["upload-offset"] == "0"


TUS_PATCH = {
    "Tus-Resumable": "1.0.0",
    "Content-Type": "application/offset+octet-stream",
    "Upload-Offset": "0",
}
DIRECT = {"key": "uploads/u1/" + "0" * 32 + ".10/x.mp4", "upload_id": "x"}


def _no_alice_flags(w: World, r: Any) -> None:
    # alice's click lies inside the GT and the active version's confident segment: alice and
    # the admin see it flagged, bob (who has no clicks) sees nothing
    assert r.status_code == 200, r.text
    assert (r.json()["total"], r.json()["items"]) == (0, []), r.text
    both = ["inside_prediction", "inside_ground_truth"]
    for actor in (w.alice, w.admin):
        seen = w.client.get("/api/v1/click-flags", headers=actor.h).json()
        assert [(i["click_id"], [f["reason"] for f in i["flags"]]) for i in seen["items"]] == [
            (w.ids["click_id"], both)
        ], (actor.name, seen)


def _alice_segment_kept(w: World, r: Any) -> None:
    assert r.status_code == 403, r.text
    with w.app.state.sessionmaker() as s:
        seg = s.get(Segment, w.ids["segment_id"])
        assert seg is not None and seg.deleted_at is None and seg.end_s == 1.5


def _bob_segment_is_bobs(w: World, r: Any) -> None:
    assert r.status_code in (200, 201) and r.json()["annotator_id"] == _caller(w).id, r.text


def _no_alice_segments(w: World, r: Any) -> None:
    assert r.status_code == 200 and r.json() == [], r.text


def _bob_accepts_for_bob(w: World, r: Any) -> None:
    assert r.status_code == 201, r.text
    assert [s["annotator_id"] for s in r.json()["created"]] == [_caller(w).id], r.text


def _no_alice_segment_export(w: World, r: Any) -> None:
    assert r.status_code == 200 and r.json()["database"] == {}, r.text


def _import_is_bobs(w: World, r: Any) -> None:
    assert r.status_code == 200 and r.json()["imported"] == 0, r.text
    _alice_segment_kept(w, type("R", (), {"status_code": 403, "text": ""})())


def _no_alice_assignments(w: World, r: Any) -> None:
    assert r.status_code == 200 and r.json()["items"] == [], r.text


def _alice_assignment_kept(w: World, r: Any) -> None:
    assert r.status_code == 403, r.text
    got = w.client.get(f"/api/v1/assignments/{w.ids['assignment_id']}", headers=w.admin.h)
    assert got.json()["state"] == "submitted", got.text


V = "/api/v1/videos/{video_id}"
S = "/api/v1/segments/{segment_id}"
A = "/api/v1/assignments/{assignment_id}"

RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/api/v1/health"): Rule(Access.PUBLIC),
    ("GET", "/api/v1/me"): Rule(Access.OWN, other=_bob_is_bob),
    ("PATCH", "/api/v1/me"): Rule(Access.OWN, json={"reaction_offset_ms": 120}, other=_bob_is_bob),
    ("GET", "/api/v1/users"): Rule(Access.ADMIN),
    ("POST", "/api/v1/users"): Rule(Access.ADMIN, json={"name": "dave"}),
    ("POST", "/api/v1/users/{user_id}/token"): Rule(Access.ADMIN),
    ("POST", "/api/v1/users/{user_id}/deactivate"): Rule(Access.ADMIN),
    ("POST", "/api/v1/users/{user_id}/reactivate"): Rule(Access.ADMIN),
    ("POST", "/api/v1/videos"): Rule(Access.USER, files=_video_file, reviewer=REFUSED),
    ("GET", "/api/v1/videos"): Rule(Access.USER),
    ("POST", "/api/v1/videos/register"): Rule(Access.ADMIN, json={"paths": ["none.mp4"]}),
    ("GET", V): Rule(Access.USER),
    ("DELETE", V): Rule(Access.ADMIN),
    ("GET", V + "/proxy"): Rule(Access.USER),
    ("GET", V + "/thumbnails"): Rule(Access.USER),
    ("GET", V + "/thumbnails.jpg"): Rule(Access.USER),
    ("GET", V + "/file"): Rule(Access.USER),
    ("GET", "/api/v1/classes"): Rule(Access.USER),
    ("POST", "/api/v1/classes"): Rule(Access.ADMIN, json={"name": "Spin"}),
    ("PATCH", "/api/v1/classes/{class_id}"): Rule(Access.ADMIN, json={"name": "Hop"}),
    ("POST", "/api/v1/classes/{class_id}/merge"): Rule(
        Access.ADMIN, json=lambda w: {"into": w.ids["other_class_id"]}
    ),
    ("POST", "/api/v1/classes/{class_id}/retire"): Rule(Access.ADMIN),
    ("POST", "/api/v1/classes/{class_id}/unretire"): Rule(Access.ADMIN),
    ("GET", V + "/labels"): Rule(Access.OWN, other=_no_alice_labels),
    ("PUT", V + "/labels"): Rule(Access.OWN, json={"class_ids": []}, other=_alice_labels_kept),
    ("POST", V + "/clicks"): Rule(Access.OWN, json={"t_s": 2.0}, other=_bob_click_is_bobs),
    ("GET", V + "/clicks"): Rule(
        Access.OWN, other=_no_alice_clicks, other_query={"annotator_id": "{alice}"}
    ),
    ("DELETE", "/api/v1/clicks/{click_id}"): Rule(Access.OWN, other=_alice_click_alive),
    ("GET", "/api/v1/export/clicks"): Rule(
        Access.OWN, other=_no_alice_export, other_query={"annotator_id": "{alice}"}
    ),
    ("POST", "/api/v1/import/clicks"): Rule(Access.ADMIN, files=_csv, data={"annotator": "x"}),
    ("GET", "/api/v1/jobs"): Rule(Access.USER),
    ("GET", "/api/v1/jobs/{job_id}"): Rule(Access.USER),
    ("POST", "/api/v1/jobs/{job_id}/cancel"): Rule(Access.ADMIN),
    ("POST", V + "/features"): Rule(Access.ADMIN, files=_npy),
    ("POST", "/api/v1/training-jobs"): Rule(Access.ADMIN, json={"epochs": 1}),
    ("GET", "/api/v1/model-versions"): Rule(Access.USER),
    ("GET", "/api/v1/model-versions/{version_id}"): Rule(Access.USER),
    ("POST", "/api/v1/model-versions/{version_id}/activate"): Rule(Access.ADMIN),
    ("GET", V + "/predictions"): Rule(Access.USER),
    ("GET", "/api/v1/export/predictions"): Rule(Access.USER),
    ("GET", V + "/ground-truth"): Rule(Access.USER),
    ("POST", "/api/v1/import/ground-truth"): Rule(Access.ADMIN, files=_gt),
    ("GET", V + "/suggestions"): Rule(Access.USER),
    ("PUT", "/api/v1/suggestions/{suggestion_id}/response"): Rule(
        Access.USER, json={"response": "passed"}
    ),
    ("GET", "/api/v1/click-flags"): Rule(
        Access.OWN, other=_no_alice_flags, other_query={"annotator_id": "{alice}"}
    ),
    ("POST", "/api/v1/click-flags/{click_id}/keep"): Rule(Access.ADMIN),
    ("GET", "/api/v1/annotators/quality"): Rule(Access.ADMIN),
    ("GET", "/api/v1/export/dataset"): Rule(Access.ADMIN, query={"format": "official-npz"}),
    # uploads: BACKTAL_UPLOAD_ROLES (default admin,annotator); an upload is its owner's only
    ("POST", "/api/v1/uploads"): Rule(
        Access.USER,
        reviewer=REFUSED,  # BACKTAL_UPLOAD_ROLES: admin,annotator by default
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "10",
            "Upload-Metadata": "filename eA==",
        },
    ),
    ("PATCH", "/api/v1/uploads/{upload_id}"): Rule(
        Access.OWN, headers=TUS_PATCH, other=_alice_upload_kept, reviewer=REFUSED
    ),
    ("DELETE", "/api/v1/uploads/{upload_id}"): Rule(
        Access.OWN,
        headers={"Tus-Resumable": "1.0.0"},
        other=_alice_upload_kept,
        reviewer=REFUSED,
    ),
    ("POST", "/api/v1/direct-uploads"): Rule(
        Access.USER, json={"filename": "x.mp4", "size": 10}, reviewer=REFUSED
    ),
    ("POST", "/api/v1/direct-uploads/parts"): Rule(Access.USER, json=DIRECT, reviewer=REFUSED),
    ("POST", "/api/v1/direct-uploads/complete"): Rule(Access.USER, json=DIRECT, reviewer=REFUSED),
    ("POST", "/api/v1/direct-uploads/abort"): Rule(Access.USER, json=DIRECT, reviewer=REFUSED),
    ("GET", "/api/v1/export/labels"): Rule(Access.ADMIN),
    ("PATCH", V): Rule(Access.ADMIN, json={"is_validation": True}),
    ("POST", V + "/segments"): Rule(
        Access.OWN, json={"class_id": 1, "start_s": 2.0, "end_s": 3.0}, other=_bob_segment_is_bobs
    ),
    ("GET", V + "/segments"): Rule(
        Access.OWN, other=_no_alice_segments, other_query={"annotator_id": "{alice}"}
    ),
    ("PATCH", S): Rule(Access.OWN, json={"end_s": 1.8}, other=_alice_segment_kept),
    ("DELETE", S): Rule(Access.OWN, other=_alice_segment_kept),
    ("POST", S + "/restore"): Rule(Access.OWN, other=_alice_segment_kept),
    ("POST", V + "/segments/accept"): Rule(
        Access.OWN, json={"at_s": 1.0}, other=_bob_accepts_for_bob
    ),
    ("GET", "/api/v1/export/segments"): Rule(
        Access.OWN, other=_no_alice_segment_export, other_query={"annotator_id": "{alice}"}
    ),
    ("POST", "/api/v1/import/segments"): Rule(Access.OWN, files=_gt, other=_import_is_bobs),
    # comparisons ("Does annotation pay here?"): an admin's tool, like Retrain
    ("POST", "/api/v1/comparisons"): Rule(Access.ADMIN, json={"epochs": 1}),
    ("GET", "/api/v1/comparisons"): Rule(Access.ADMIN),
    ("GET", "/api/v1/comparisons/{job_id}"): Rule(Access.ADMIN),
    # assignments and review: annotators see and move their own; reviewers see all, review
    ("GET", "/api/v1/assignments"): Rule(
        Access.OWN,
        other=_no_alice_assignments,
        other_query={"annotator_id": "{alice}"},
        reviewer=PASS,
    ),
    ("POST", "/api/v1/assignments"): Rule(
        Access.ADMIN,
        json=lambda w: {"annotator_ids": [w.ids["user_id"]], "video_ids": [w.ids["video_id"]]},
    ),
    ("GET", "/api/v1/assignments/progress"): Rule(Access.ADMIN),
    ("POST", "/api/v1/assignments/next"): Rule(Access.USER, json={"after": None}),
    ("GET", A): Rule(Access.OWN, other=_alice_assignment_kept, reviewer=PASS),
    ("DELETE", A): Rule(Access.ADMIN),
    ("GET", A + "/work"): Rule(Access.OWN, other=_alice_assignment_kept, reviewer=PASS),
    ("POST", A + "/start"): Rule(Access.OWN, other=_alice_assignment_kept, admin=REFUSED),
    ("POST", A + "/submit"): Rule(Access.OWN, other=_alice_assignment_kept, admin=REFUSED),
    ("POST", A + "/approve"): Rule(Access.REVIEW, json={"comment": "fine"}),
    ("POST", A + "/return"): Rule(Access.REVIEW, json={"comment": "add the second jump"}),
}


def openapi_routes(app: Any) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, ops in app.openapi()["paths"].items()
        for method in ops
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_every_openapi_route_has_a_rule(app) -> None:  # type: ignore[no-untyped-def]
    routes = openapi_routes(app)
    missing = sorted(routes - set(RULES))
    stale = sorted(set(RULES) - routes)
    assert not missing, f"routes without an authorization rule in RULES: {missing}"
    assert not stale, f"RULES entries for routes that no longer exist: {stale}"


@pytest.fixture
def world(app, client, admin, alice, bob, clip_bytes) -> World:  # type: ignore[no-untyped-def]
    rita = make_user(app, "rita", "reviewer")
    video = upload(client, alice, clip_bytes).json()
    cls = client.post("/api/v1/classes", headers=admin.h, json={"name": "Bounce"}).json()
    other_cls = client.post("/api/v1/classes", headers=admin.h, json={"name": "Jump"}).json()
    click = client.post(
        f"/api/v1/videos/{video['id']}/clicks", headers=alice.h, json={"t_s": 1.0}
    ).json()
    r = client.put(
        f"/api/v1/videos/{video['id']}/labels", headers=alice.h, json={"class_ids": [cls["id"]]}
    )
    assert r.status_code == 200, r.text
    (job,) = client.get("/api/v1/jobs", headers=admin.h).json()
    carol = make_user(app, "carol", "annotator")
    # a model version and imported GT, both around alice's click at 1.0 s: click QA flags it
    version = add_version(
        app,
        active=True,
        segments=[(video["id"], cls["id"], 0.5, 2.0, 0.9)],
        suggestions=[(video["id"], 3.0, 0.8, "low_confidence", cls["id"])],
    )
    with session_scope(app.state.sessionmaker) as s:
        s.add(GroundTruthSegment(video_id=video["id"], class_id=cls["id"], start_s=0.5, end_s=2.0))
        suggestion_id = s.scalar(
            select(Suggestion.id).where(Suggestion.model_version_id == version)
        )
    segment = client.post(
        f"/api/v1/videos/{video['id']}/segments",
        headers=alice.h,
        json={"class_id": cls["id"], "start_s": 0.5, "end_s": 1.5},
    ).json()
    tus = client.post(
        "/api/v1/uploads",
        headers={
            **alice.h,
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "10",
            "Upload-Metadata": "filename eC5tcDQ=",
        },
    )
    assert tus.status_code == 201, tus.text
    # alice's submitted work on a second video: what rita reviews
    with session_scope(app.state.sessionmaker) as s:
        second = create_video_record(s, name="second", fps=25.0, frame_count=100, duration_s=4.0)
        second_id = second.id
    r = client.post(
        "/api/v1/assignments",
        headers=admin.h,
        json={"annotator_ids": [alice.id], "video_ids": [second_id]},
    )
    assert r.status_code == 201, r.text
    assignment_id = r.json()["created"][0]["id"]
    for action in ("start", "submit"):
        r = client.post(f"/api/v1/assignments/{assignment_id}/{action}", headers=alice.h)
        assert r.status_code == 200, r.text
    ids: dict[str, Any] = {
        "assignment_id": assignment_id,
        "upload_id": tus.headers["location"].rsplit("/", 1)[1],
        "segment_id": segment["id"],
        "video_id": video["id"],
        "click_id": click["id"],
        "job_id": job["id"],
        "user_id": carol.id,
        "class_id": cls["id"],
        "other_class_id": other_cls["id"],
        "version_id": version,
        "suggestion_id": int(suggestion_id or 0),
    }
    return World(app, client, admin, alice, bob, rita, ids, clip_bytes)


def _send(w: World, method: str, path: str, rule: Rule, actor: Actor | None, query=None):  # type: ignore[no-untyped-def]
    url = path.format(**w.ids)
    params = {
        k: (str(w.alice.id) if v == "{alice}" else v) for k, v in (query or rule.query).items()
    }
    headers = {**(actor.h if actor is not None else {}), **(rule.headers or {})}
    kwargs: dict[str, Any] = {"headers": headers, "params": params}
    if rule.json is not None:
        kwargs["json"] = rule.json(w) if callable(rule.json) else rule.json
    if rule.files is not None:
        kwargs["files"] = rule.files(w)
        kwargs["data"] = rule.data
    return w.client.request(method, url, **kwargs)


def _passed_auth(r: Any, who: str) -> None:
    assert r.status_code not in (401, 403), f"{who} was refused: {r.status_code} {r.text}"
    assert r.status_code < 500, f"{who}: {r.status_code} {r.text}"


def _expected(rule: Rule, role: str) -> str:
    """What a caller of ``role`` gets from a route (annotators: bob and alice)."""
    if role == "admin":
        return rule.admin
    if role == "reviewer" and rule.reviewer is not None:
        return rule.reviewer
    if rule.access in (Access.PUBLIC, Access.USER):
        return PASS
    if rule.access == Access.REVIEW:
        return PASS if role == "reviewer" else REFUSED
    if rule.access == Access.ADMIN:
        return REFUSED
    return OTHER if role != "alice" else PASS  # OWN: alice owns the rows


def _check(w: World, method: str, path: str, rule: Rule, actor: Actor, expected: str) -> None:
    r = _send(w, method, path, rule, actor)
    if expected == REFUSED:
        assert r.status_code == 403, f"{actor.name} got {r.status_code}: {r.text}"
    elif expected == OTHER:
        assert rule.other is not None, "an OWN rule needs its 'other' check"
        w.caller = actor
        rule.other(w, r)  # 403 for a write to alice's row, else only the caller's own data
        if rule.other_query is not None:
            q = _send(w, method, path, rule, actor, query=rule.other_query)
            assert q.status_code == 403, f"{actor.name} read alice's rows: {q.status_code} {q.text}"
    else:
        _passed_auth(r, actor.name)


@pytest.mark.parametrize(("method", "path"), sorted(RULES), ids=lambda x: str(x))
def test_authorization(world: World, method: str, path: str) -> None:
    rule = RULES[(method, path)]
    w = world

    anon = _send(w, method, path, rule, None)
    if rule.access == Access.PUBLIC:
        assert anon.status_code < 400, anon.text
    else:
        assert anon.status_code == 401, f"anonymous got {anon.status_code}: {anon.text}"
        assert anon.headers.get("www-authenticate") == "Bearer"
        bogus = _send(w, method, path, rule, Actor(0, "x", "bts_" + "A" * 43))
        assert bogus.status_code == 401, f"a made-up token got {bogus.status_code}"

    _check(w, method, path, rule, w.bob, _expected(rule, "bob"))
    _check(w, method, path, rule, w.rita, _expected(rule, "reviewer"))
    _check(w, method, path, rule, w.alice, _expected(rule, "alice"))
    _check(w, method, path, rule, w.admin, _expected(rule, "admin"))
