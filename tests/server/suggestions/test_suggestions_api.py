"""Suggestions, their answers, *Next video*, click QA flags and the quality endpoint (API)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import make_user
from tests.server.suggestions.seed import add_version, click


def suggestions(client: Any, actor: Any, vid: int, which: str = "active") -> dict[str, Any]:
    r = client.get(f"/api/v1/videos/{vid}/suggestions?model_version={which}", headers=actor.h)
    assert r.status_code == 200, r.text
    return r.json()


def test_suggestions_are_per_version_and_follow_the_active_one(app, client, alice, admin, world):
    v1, v2 = world["videos"]
    c0 = world["classes"][0]
    assert suggestions(client, alice, v1) == {
        "video_id": v1,
        "model_version_id": None,
        "suggestions": [],
        "answered": 0,
        "passed": 0,
        "click_radius_s": 1.0,
    }
    old = add_version(
        app,
        active=True,
        suggestions=[(v1, 1.2, 0.9, "low_confidence", c0), (v1, 3.0, 0.4, "segment_border", c0)],
    )
    got = suggestions(client, alice, v1)
    assert got["model_version_id"] == old
    assert [(s["t_s"], s["rank"], s["reason"], s["class_id"]) for s in got["suggestions"]] == [
        (1.2, 0, "low_confidence", c0),
        (3.0, 1, "segment_border", c0),
    ]
    assert suggestions(client, alice, v2)["suggestions"] == []
    new = add_version(app, active=True, suggestions=[(v1, 2.2, 0.7, "branch_disagreement", None)])
    got = suggestions(client, alice, v1)
    assert got["model_version_id"] == new
    assert [s["t_s"] for s in got["suggestions"]] == [2.2]  # the old version's are gone
    assert [s["t_s"] for s in suggestions(client, alice, v1, str(old))["suggestions"]] == [1.2, 3.0]
    # activating the old version again brings its own back
    assert client.post(f"/api/v1/model-versions/{old}/activate", headers=admin.h).status_code == 200
    assert [s["t_s"] for s in suggestions(client, alice, v1)["suggestions"]] == [1.2, 3.0]


def test_answers_are_per_annotator_and_clicks_close_suggestions(app, client, alice, bob, world):
    v1, _ = world["videos"]
    add_version(
        app,
        active=True,
        suggestions=[
            (v1, 0.5, 0.9, "low_confidence", None),
            (v1, 2.0, 0.8, "segment_border", None),
            (v1, 3.5, 0.7, "branch_disagreement", None),
        ],
    )
    ids = [s["id"] for s in suggestions(client, alice, v1)["suggestions"]]
    r = client.put(
        f"/api/v1/suggestions/{ids[0]}/response", json={"response": "passed"}, headers=alice.h
    )
    assert r.status_code == 200 and r.json() == {"suggestion_id": ids[0], "response": "passed"}
    # answered overrides passed; passed does not override answered
    for resp, want in (("answered", "answered"), ("passed", "answered")):
        r = client.put(
            f"/api/v1/suggestions/{ids[0]}/response", json={"response": resp}, headers=alice.h
        )
        assert r.json()["response"] == want
    got = suggestions(client, alice, v1)
    assert [s["id"] for s in got["suggestions"]] == ids[1:]
    assert (got["answered"], got["passed"]) == (1, 0)
    assert [s["id"] for s in suggestions(client, bob, v1)["suggestions"]] == ids  # bob's own
    # a background click (anyone's) within 1 s closes the suggestion for everyone
    c = click(client, bob, v1, 1.4)
    assert [s["id"] for s in suggestions(client, alice, v1)["suggestions"]] == ids[2:]
    assert client.delete(f"/api/v1/clicks/{c['id']}", headers=bob.h).status_code == 204
    assert [s["id"] for s in suggestions(client, alice, v1)["suggestions"]] == ids[1:]
    click(client, bob, v1, 3.5)  # on the third
    assert [s["id"] for s in suggestions(client, alice, v1)["suggestions"]] == [ids[1]]


def test_next_video_prefers_open_suggestions(app, client, alice, world, live_next):
    v1, v2 = world["videos"]
    # no model: the next video alice has not annotated (after v1 → v2; from the start → v1)
    assert live_next(alice, v1) == f"/videos/{v2}"
    assert live_next(alice, None) == f"/videos/{v1}"
    add_version(
        app,
        active=True,
        suggestions=[
            (v1, 1.0, 0.9, "low_confidence", None),
            (v2, 0.5, 0.9, "low_confidence", None),
            (v2, 2.5, 0.5, "low_confidence", None),
        ],
    )
    assert live_next(alice, None) == f"/videos/{v2}"  # two open beat one
    assert live_next(alice, v2) == f"/videos/{v1}"  # never the video you are on
    click(client, alice, v2, 0.5)
    assert live_next(alice, None) == f"/videos/{v1}"  # a tie: the first in id order
    # v1 is annotated (labelled) but still has an open suggestion: it is preferred
    client.put(f"/api/v1/videos/{v1}/labels", json={"class_ids": []}, headers=alice.h)
    click(client, alice, v1, 3.9)
    assert live_next(alice, v2) == f"/videos/{v1}"
    click(client, alice, v1, 1.2)  # closes v1's suggestion
    click(client, alice, v2, 2.4)  # closes v2's last one → back to the plain rule
    assert live_next(alice, v1) == f"/videos/{v2}"


@pytest.fixture
def live_next(client):
    def _next(actor: Any, after: int | None) -> str:
        client.cookies.set("backtal_session", actor.token)
        try:
            url = "/videos/next" + (f"?after={after}" if after is not None else "")
            r = client.get(url, follow_redirects=False)
        finally:
            client.cookies.clear()
        assert r.status_code == 303, r.text
        return str(r.headers["location"])

    return _next


def test_suggestion_errors(app, client, alice, admin, world):
    v1, _ = world["videos"]
    add_version(app, active=True, suggestions=[(v1, 0.5, 0.9, "low_confidence", None)])
    sid = suggestions(client, alice, v1)["suggestions"][0]["id"]
    assert client.get("/api/v1/videos/999/suggestions", headers=alice.h).status_code == 404
    r = client.get(f"/api/v1/videos/{v1}/suggestions?model_version=latest", headers=alice.h)
    assert r.status_code == 422 and "active" in r.json()["detail"]
    r = client.get(f"/api/v1/videos/{v1}/suggestions?model_version=999", headers=alice.h)
    assert r.status_code == 404 and "999" in r.json()["detail"]
    r = client.put("/api/v1/suggestions/999/response", json={"response": "passed"}, headers=alice.h)
    assert r.status_code == 404 and "suggestion 999" in r.json()["detail"]
    r = client.put(
        f"/api/v1/suggestions/{sid}/response", json={"response": "maybe"}, headers=alice.h
    )
    assert r.status_code == 422
    assert client.get(f"/api/v1/videos/{v1}/suggestions").status_code == 401
    assert client.delete(f"/api/v1/videos/{v1}", headers=admin.h).status_code in (200, 204)
    r = client.put(
        f"/api/v1/suggestions/{sid}/response", json={"response": "passed"}, headers=alice.h
    )
    assert r.status_code == 404  # its video was deleted


def test_suggestions_are_served_without_running_a_model(app, client, alice, world, monkeypatch):
    """The request reads stored rows only: loading a checkpoint or running a network fails
    the test. (Its speed, < 50 ms, is measured by bench/suggestions_latency.py.)"""
    import torch

    import model.network
    import model.train

    v1, _ = world["videos"]
    add_version(
        app,
        active=True,
        suggestions=[(v1, 0.4 * k, 1 - 0.1 * k, "low_confidence", None) for k in range(5)],
    )

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a model was loaded or run while serving suggestions")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(model.train, "load_checkpoint", forbidden)
    monkeypatch.setattr(model.network.BackTAL, "forward", forbidden)
    got = suggestions(client, alice, v1)
    assert [round(x["t_s"], 3) for x in got["suggestions"]] == [0.0, 0.4, 0.8, 1.2, 1.6]


# ------------------------------------------------------------------------- click QA


def test_flags_per_version_own_only_keep_and_delete(app, client, admin, alice, bob, world):
    v1, v2 = world["videos"]
    c0, c1 = world["classes"]
    a_in = click(client, alice, v1, 1.5)  # inside the confident [1.0, 2.5] (0.9)
    a_weak = click(client, alice, v1, 3.3)  # inside [3.0, 3.6] of score 0.3: not confident
    a_edge = click(client, alice, v1, 1.1)  # within the 0.2 s margin of the edge
    b_in = click(client, bob, v1, 2.0)
    click(client, alice, v1, 0.6, kind="action", class_id=c0)  # action clicks are not checked
    old = add_version(app, active=True, segments=[(v1, c0, 1.0, 2.5, 0.9), (v1, c1, 3.0, 3.6, 0.3)])
    r = client.get("/api/v1/click-flags", headers=alice.h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version_id"] == old and body["min_score"] == 0.5
    assert [i["click_id"] for i in body["items"]] == [a_in["id"]]  # alice's own only
    (flag,) = body["items"][0]["flags"]
    assert flag == {
        "reason": "inside_prediction",
        "class_id": c0,
        "class_name": "Bounce",
        "start_s": 1.0,
        "end_s": 2.5,
        "score": 0.9,
        "depth_s": 0.5,  # 1.5 s: 0.5 s after the start, 1.0 s before the end
        "nearest_edge": "start",
    }
    assert (
        client.get(f"/api/v1/click-flags?annotator_id={bob.id}", headers=alice.h).status_code == 403
    )
    every = client.get("/api/v1/click-flags", headers=admin.h).json()
    assert sorted(i["click_id"] for i in every["items"]) == sorted([a_in["id"], b_in["id"]])
    assert a_weak["id"] not in [i["click_id"] for i in every["items"]]
    assert a_edge["id"] not in [i["click_id"] for i in every["items"]]
    (b_flag,) = next(i for i in every["items"] if i["click_id"] == b_in["id"])["flags"]
    assert (b_flag["depth_s"], b_flag["nearest_edge"]) == (0.5, "end")  # 2.0 in [1.0, 2.5]
    # keep one (admin), delete the other: neither is listed again under this version
    r = client.post(f"/api/v1/click-flags/{a_in['id']}/keep", headers=admin.h)
    assert r.status_code == 200 and r.json() == {"click_id": a_in["id"], "model_version_id": old}
    assert client.post(f"/api/v1/click-flags/{a_in['id']}/keep", headers=admin.h).status_code == 200
    assert client.delete(f"/api/v1/clicks/{b_in['id']}", headers=admin.h).status_code == 204
    assert client.get("/api/v1/click-flags", headers=admin.h).json()["items"] == []
    kept = client.get("/api/v1/click-flags?include_kept=true", headers=admin.h).json()["items"]
    assert [(i["click_id"], i["kept"]) for i in kept] == [(a_in["id"], True)]
    # a new active version flags with its own segments; the keep was for the old version, so
    # the kept click, inside the new version's confident [1.0, 2.5] too, is flagged again
    new = add_version(app, active=True, segments=[(v1, c0, 1.0, 2.5, 0.8), (v1, c1, 3.0, 3.6, 0.8)])
    body = client.get("/api/v1/click-flags", headers=admin.h).json()
    assert body["model_version_id"] == new
    assert [(i["click_id"], i["kept"]) for i in body["items"]] == [
        (a_in["id"], False),
        (a_weak["id"], False),
    ]
    old_body = client.get(f"/api/v1/click-flags?model_version={old}", headers=admin.h).json()
    assert old_body["items"] == []
    # ground truth flags too, whatever the version
    from server.db import session_scope
    from server.models import GroundTruthSegment

    with session_scope(app.state.sessionmaker) as s:
        s.add(GroundTruthSegment(video_id=v1, class_id=c0, start_s=0.0, end_s=1.4))
    items = client.get("/api/v1/click-flags", headers=alice.h).json()["items"]
    assert [(i["click_id"], [f["reason"] for f in i["flags"]]) for i in items] == [
        (a_edge["id"], ["inside_ground_truth"]),
        (a_in["id"], ["inside_prediction"]),
        (a_weak["id"], ["inside_prediction"]),
    ]
    gt_flag = items[0]["flags"][0]  # 1.1 s in the GT [0.0, 1.4]: 0.3 s before its end
    assert (round(gt_flag["depth_s"], 6), gt_flag["nearest_edge"]) == (0.3, "end")
    assert v2  # the other video has no clicks: nothing listed for it


def test_a_keep_is_per_model_version_and_leaves_the_quality_table(app, client, admin, alice, world):
    v1, _ = world["videos"]
    c0, _ = world["classes"]
    kept = click(client, alice, v1, 1.5)
    other = click(client, alice, v1, 0.5)
    old = add_version(app, active=True, segments=[(v1, c0, 1.0, 2.5, 0.9)])

    def flagged(which: str) -> list[tuple[int, bool]]:
        r = client.get(
            f"/api/v1/click-flags?model_version={which}&include_kept=true", headers=admin.h
        )
        assert r.status_code == 200, r.text
        return [(i["click_id"], i["kept"]) for i in r.json()["items"]]

    def quality(which: str) -> tuple[int, float | None]:
        r = client.get(f"/api/v1/annotators/quality?model_version={which}", headers=admin.h)
        assert r.status_code == 200, r.text
        (row,) = r.json()["annotators"]
        return row["flagged"], row["flagged_share"]

    assert flagged("active") == [(kept["id"], False)]
    assert quality("active") == (1, 0.5)
    r = client.post(f"/api/v1/click-flags/{kept['id']}/keep", headers=admin.h)
    assert r.json() == {"click_id": kept["id"], "model_version_id": old}
    assert flagged(str(old)) == [(kept["id"], True)]
    assert quality(str(old)) == (0, 0.0)  # the kept click is left out of the table
    # a new version whose confident segment [1.2, 2.0] holds the click flags it again
    new = add_version(app, active=True, segments=[(v1, c0, 1.2, 2.0, 0.7)])
    assert flagged("active") == flagged(str(new)) == [(kept["id"], False)]
    assert quality("active") == (1, 0.5)
    assert flagged(str(old)) == [(kept["id"], True)] and quality(str(old)) == (0, 0.0)
    # kept under the new version too (by its id, while it is active): out of both tables
    r = client.post(f"/api/v1/click-flags/{kept['id']}/keep?model_version={new}", headers=admin.h)
    assert r.json() == {"click_id": kept["id"], "model_version_id": new}
    assert flagged(str(new)) == [(kept["id"], True)] and quality(str(new)) == (0, 0.0)
    assert client.get("/api/v1/click-flags", headers=admin.h).json()["items"] == []
    assert other["id"] not in [c for c, _ in flagged(str(old)) + flagged(str(new))]


def test_flag_errors(app, client, admin, alice, world):
    v1, _ = world["videos"]
    c = click(client, alice, v1, 1.0)
    r = client.post(f"/api/v1/click-flags/{c['id']}/keep", headers=admin.h)
    assert r.status_code == 422 and "no active model version" in r.json()["detail"]
    add_version(app, active=True)
    assert client.post(f"/api/v1/click-flags/{c['id']}/keep", headers=alice.h).status_code == 403
    r = client.post("/api/v1/click-flags/999/keep", headers=admin.h)
    assert r.status_code == 404 and "click 999" in r.json()["detail"]
    assert client.get("/api/v1/click-flags?video_id=999", headers=admin.h).status_code == 404
    assert client.get("/api/v1/click-flags?annotator_id=999", headers=admin.h).status_code == 404
    assert client.get("/api/v1/click-flags?limit=0", headers=admin.h).status_code == 422
    r = client.get("/api/v1/click-flags?model_version=x", headers=admin.h)
    assert r.status_code == 422


# ------------------------------------------------------------------------- quality


def _import_gt(client: Any, admin: Any, database: dict[str, list[tuple[float, float, str]]]):
    doc = {
        "database": {
            name: {"annotations": [{"segment": [a, b], "label": c} for a, b, c in segs]}
            for name, segs in database.items()
        }
    }
    r = client.post(
        "/api/v1/import/ground-truth",
        headers=admin.h,
        files={"file": ("gt.json", json.dumps(doc).encode(), "application/json")},
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_quality_endpoint(app, client, admin, alice, bob, world):
    """Imported GT on one of two videos, action clicks beside background ones, skewed times:
    every number of the table by hand."""
    v1, v2 = world["videos"]
    c0, c1 = world["classes"]
    carol = make_user(app, "carol", "annotator")
    # GT on v1 ("a") only: Bounce [1.0, 2.5], Spin [2.9, 3.6]; v2 ("b") has none
    got = _import_gt(client, admin, {"a": [(1.0, 2.5, "Bounce"), (2.9, 3.6, "Spin")]})
    assert (got["videos"], got["segments"]) == (1, 2)
    # the active version: confident Bounce on v1 [1.0, 2.5], confident Spin on v2 [0.5, 2.0],
    # a weak (0.3) Bounce on v2 [2.2, 2.9]; the QA margin is 0.2 s
    add_version(
        app,
        active=True,
        segments=[(v1, c0, 1.0, 2.5, 0.9), (v2, c1, 0.5, 2.0, 0.8), (v2, c0, 2.2, 2.9, 0.3)],
    )
    # alice: 5 background clicks, 2 action clicks; 5 of 7 timed (ms), skewed by a long pause:
    # median 1.6 s, mean 10.74 s
    for vid, t, ms, extra in (
        (v1, 0.5, 700, {}),  # outside everything
        (v1, 1.5, 48000, {}),  # inside the prediction and the GT
        (v1, 3.2, None, {}),  # inside the GT only (Spin)
        (v2, 1.0, 1300, {}),  # inside the prediction only (v2 has no GT)
        (v2, 2.6, 2100, {}),  # inside the weak prediction only: not flagged
        (v1, 1.8, 1600, {"kind": "action", "class_id": c0}),  # inside both, but an action
        (v2, 1.2, None, {"kind": "action", "class_id": c1}),
    ):
        timing = {} if ms is None else {"client_elapsed_ms": ms}
        click(client, alice, vid, t, **timing, **extra)
    # bob: 3 background clicks (two on v1 outside the GT, one flagged on v2), 1 action click;
    # four timed: median (3000 + 9000) / 2 = 6.0 s, mean 11.0 s
    for vid, t, ms, extra in (
        (v1, 0.3, 2000, {}),
        (v1, 3.9, 30000, {}),
        (v2, 1.5, 3000, {}),
        (v1, 2.0, 9000, {"kind": "action", "class_id": c0}),
    ):
        click(client, bob, vid, t, client_elapsed_ms=ms, **extra)
    click(client, carol, v2, 2.8)  # carol: one untimed click on the video without GT
    client.put(f"/api/v1/videos/{v1}/labels", json={"class_ids": [c0]}, headers=alice.h)
    client.put(f"/api/v1/videos/{v2}/labels", json={"class_ids": [c0, c1]}, headers=alice.h)
    client.put(f"/api/v1/videos/{v1}/labels", json={"class_ids": [c0]}, headers=bob.h)
    client.put(f"/api/v1/videos/{v2}/labels", json={"class_ids": [c1]}, headers=bob.h)
    assert client.get("/api/v1/annotators/quality", headers=alice.h).status_code == 403
    r = client.get("/api/v1/annotators/quality", headers=admin.h)
    assert r.status_code == 200, r.text
    body = r.json()
    rows = {a["name"]: a for a in body["annotators"]}
    assert set(rows) == {"alice", "bob", "carol"}
    fields = (
        "clicks",
        "background_clicks",
        "videos",
        "seconds_per_click",
        "timed_clicks",
        "flagged",
        "flagged_share",
        "inside_gt",
        "inside_gt_share",
    )
    table = {name: tuple(row[f] for f in fields) for name, row in rows.items()}
    assert table == {
        # flagged: 1.5, 3.2, 1.0 of 5 background clicks; inside GT: 1.5, 3.2 of the 3 on v1
        "alice": (7, 5, 2, 1.6, 5, 3, pytest.approx(3 / 5), 2, pytest.approx(2 / 3)),
        # flagged: v2's 1.5 of 3; inside GT: none of the 2 on v1 (0, not "no GT")
        "bob": (4, 3, 2, 6.0, 4, 1, pytest.approx(1 / 3), 0, 0.0),
        # no clicks on a video with GT: inside_gt is unknown, not 0
        "carol": (1, 1, 1, None, 0, 0, 0.0, None, None),
    }
    ag = body["agreement"]
    # v1: {0} vs {0} (J 1), v2: {0,1} vs {1} (J 1/2); class 0: [y,y] vs [y,n] → po 1/2,
    # pa 1, pb 1/2, pe 1/2 → κ 0; class 1: [n,y] vs [n,y] → κ 1
    assert ag["videos"] == 2 and ag["mean_jaccard"] == 0.75
    assert [(c["class_name"], c["kappa"]) for c in ag["classes"]] == [
        ("Bounce", 0.0),
        ("Spin", 1.0),
    ]
    assert ag["pairs"] == [
        {
            "annotator_ids": [alice.id, bob.id],
            "names": ["alice", "bob"],
            "videos": 2,
            "mean_jaccard": 0.75,
        }
    ]
    r = client.get("/api/v1/annotators/quality?model_version=abc", headers=admin.h)
    assert r.status_code == 422
