"""Segments as ActivityNet ground-truth JSON: export, import (all or nothing), round trip."""

from __future__ import annotations

import json

import pytest

from model.evaluate import load_gt_json
from server.models import Segment
from tests.server.helpers import count, upload
from tests.server.suggestions.seed import add_version

API = "/api/v1"


@pytest.fixture
def world(client, app, admin, alice, clip_bytes, clip2_bytes):
    v1 = upload(client, alice, clip_bytes, "clip.mp4").json()  # 4 s
    v2 = upload(client, alice, clip2_bytes, "clip2.mp4").json()  # 3 s
    classes = [
        client.post(f"{API}/classes", headers=admin.h, json={"name": n}).json()
        for n in ("Bounce", "Spin")
    ]
    bounce, spin = (c["id"] for c in classes)
    for vid, cls, a, b in [(v1["id"], bounce, 0.4, 1.2), (v1["id"], spin, 2.0, 3.96),
                           (v2["id"], spin, 0.52, 2.0)]:  # fmt: skip
        r = client.post(
            f"{API}/videos/{vid}/segments",
            headers=alice.h,
            json={"class_id": cls, "start_s": a, "end_s": b},
        )
        assert r.status_code == 201, r.text
    version = add_version(app, active=True, segments=[(v2["id"], bounce, 2.2, 3.4, 0.75)])
    r = client.post(f"{API}/videos/{v2['id']}/segments/accept", headers=alice.h, json={"at_s": 2.5})
    assert r.status_code == 201, r.text
    assert (
        client.patch(
            f"{API}/videos/{v2['id']}", headers=admin.h, json={"is_validation": True}
        ).status_code
        == 200
    )
    return {"videos": (v1, v2), "classes": (bounce, spin), "version": version}


def export(client, actor, **params):
    r = client.get(f"{API}/export/segments", headers=actor.h, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def import_file(client, actor, doc, annotator=None):
    data = {"annotator": annotator} if annotator is not None else None
    return client.post(
        f"{API}/import/segments",
        headers=actor.h,
        files={"file": ("segments.json", json.dumps(doc).encode(), "application/json")},
        data=data,
    )


def test_export_is_activitynet_ground_truth_saying_what_came_from_predictions(
    client, alice, world, tmp_path
):
    doc = export(client, alice)
    assert doc["activity_list"] == ["Bounce", "Spin"]
    clip, clip2 = doc["database"]["clip"], doc["database"]["clip2"]
    assert clip["subset"] == "training" and clip2["subset"] == "validation"
    assert clip["duration"] == 4.0 and clip["fps"] == 25.0
    assert [(a["segment"], a["label"], a["idx"], a["source"]) for a in clip["annotations"]] == [
        ([0.4, 1.2], "Bounce", 0, "drawn"),
        ([2.0, 3.96], "Spin", 1, "drawn"),
    ]
    assert "score" not in clip["annotations"][0]  # drawn: no model fields
    accepted = [a for a in clip2["annotations"] if a["source"] == "prediction"]
    assert accepted == [
        {
            "segment": [2.2, 3.0],  # the prediction reached past the 3 s video: clamped
            "label": "Bounce",
            "idx": 0,
            "annotator": "alice",
            "source": "prediction",
            "model_version_id": world["version"],
            "score": 0.75,
            "predicted_segment": [2.2, 3.0],
        }
    ]
    assert all(
        a["annotator"] == "alice" for v in doc["database"].values() for a in v["annotations"]
    )
    # model.cli eval reads it as it is
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(doc))
    assert load_gt_json(path, subset="validation") == {
        "clip2": [(0.52, 2.0, "Spin"), (2.2, 3.0, "Bounce")]
    }
    assert load_gt_json(path, subset="training") == {
        "clip": [(0.4, 1.2, "Bounce"), (2.0, 3.96, "Spin")]
    }


def test_export_import_round_trip_is_equal(client, app, admin, alice, world):
    first = export(client, alice)
    rows = sum(len(v["annotations"]) for v in first["database"].values())
    # importing what is there already changes nothing
    again = import_file(client, alice, first)
    assert again.status_code == 200, again.text
    assert again.json() == {
        "annotators": ["alice"], "videos": 2, "rows": rows, "imported": 0, "already_present": rows
    }  # fmt: skip
    # delete every segment, import the file: the export is the same file again
    for v in world["videos"]:
        for s in client.get(f"{API}/videos/{v['id']}/segments", headers=alice.h).json():
            assert client.delete(f"{API}/segments/{s['id']}", headers=alice.h).status_code == 204
    assert export(client, alice)["database"] == {}
    r = import_file(client, alice, first)
    assert r.status_code == 200 and r.json()["imported"] == rows, r.text
    assert export(client, alice) == first
    # an admin imports the same file as another annotator: the same segments, carol's
    r = import_file(client, admin, first, annotator="carol")
    assert r.status_code == 200 and r.json()["annotators"] == ["carol"], r.text
    carol = next(
        u for u in client.get(f"{API}/users", headers=admin.h).json() if u["name"] == "carol"
    )
    theirs = export(client, admin, annotator_id=carol["id"])
    for video in theirs["database"].values():
        for a in video["annotations"]:
            assert a.pop("annotator") == "carol"
    for video in first["database"].values():
        for a in video["annotations"]:
            a.pop("annotator")
    assert theirs == first


def test_import_is_all_or_nothing_with_sentences(client, app, admin, alice, world):
    doc = export(client, alice)
    before = count(app, Segment)
    good = {"segment": [0.1, 0.3], "label": "Bounce"}
    for bad, words in [
        (
            {"segment": [0.5, 9.0], "label": "Bounce"},
            "clip annotation 1: end 9 s is past the end of the video (4 s)",
        ),
        (
            {"segment": [1.0, 1.0], "label": "Bounce"},
            "clip annotation 1: need 0 <= start < end, got 1, 1",
        ),
        ({"segment": [0.5, 1.0], "label": "Dance"}, "clip annotation 1: unknown class 'Dance'"),
        (
            {"segment": "0.5-1.0", "label": "Bounce"},
            "clip annotation 1: 'segment' must be [start, end] in seconds",
        ),
        (
            {"segment": [0.5, 1.0], "label": "Bounce", "source": "guess"},
            "source must be 'drawn' or 'prediction'",
        ),
    ]:
        r = import_file(client, alice, {"database": {"clip": {"annotations": [good, bad]}}})
        assert r.status_code == 422, r.text
        assert r.json()["detail"].startswith("nothing was imported: ")
        assert words in r.json()["detail"]
    r = import_file(client, alice, {"database": {"nope": {"annotations": [good]}}})
    assert r.status_code == 422 and "unknown video 'nope'" in r.json()["detail"]
    r = client.post(
        f"{API}/import/segments",
        headers=alice.h,
        files={"file": ("x.json", b"[1, 2]", "application/json")},
    )
    assert r.status_code == 422 and "not an ActivityNet ground-truth JSON" in r.json()["detail"]
    # an admin without an annotator name needs one in every annotation
    r = import_file(client, admin, {"database": {"clip": {"annotations": [good]}}})
    assert r.status_code == 422 and "'annotator'" in r.json()["detail"]
    assert count(app, Segment) == before
    assert export(client, alice) == doc


def test_annotators_export_and_import_only_their_own(client, alice, bob, world):
    assert client.get(f"{API}/export/segments", headers=bob.h).json()["database"] == {}
    r = client.get(f"{API}/export/segments", headers=bob.h, params={"annotator_id": alice.id})
    assert r.status_code == 403 and "only export their own" in r.json()["detail"]
    doc = export(client, alice)
    r = import_file(client, bob, doc, annotator="alice")
    assert r.status_code == 403 and "only import segments as themselves" in r.json()["detail"]
    r = import_file(client, bob, doc)  # the file names alice: stored as bob's own
    assert r.status_code == 200 and r.json()["annotators"] == ["bob"], r.text
    assert export(client, alice) == doc


def test_import_refuses_a_retired_class(client, app, admin, alice, world):
    spin = world["classes"][1]
    assert client.post(f"{API}/classes/{spin}/retire", headers=admin.h).status_code == 200
    before = count(app, Segment)
    doc = {"database": {"clip": {"annotations": [{"segment": [0.1, 0.3], "label": "Spin"}]}}}
    r = import_file(client, alice, doc)
    assert r.status_code == 422 and "class 'Spin' is retired" in r.json()["detail"], r.text
    assert count(app, Segment) == before
