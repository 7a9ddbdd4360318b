"""Classes over time: rename, merge (everything moves, in one transaction, duplicates
merged), retire (hidden, no new labels, left out of training) and unretire."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from server.classes import service as classes_service
from server.db import Base, session_scope
from server.models import (
    ActionClass,
    ActivationCurve,
    Click,
    GroundTruthSegment,
    ModelVersion,
    Prediction,
    Segment,
    SegmentSource,
    Suggestion,
    VideoLabel,
)
from server.training.dataset import build_dataset
from tests.server.helpers import upload


@pytest.fixture
def world(client, app, admin, alice, bob, clip_bytes, clip2_bytes) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Two videos; classes Bounce (A, to be merged), Spin (B, kept) and Jump; rows of every
    kind that refers to a class, some of them A and B copies of the same thing."""
    v1 = upload(client, alice, clip_bytes, "v1.mp4").json()["id"]
    v2 = upload(client, alice, clip2_bytes, "v2.mp4").json()["id"]
    ids = {}
    for name in ("Bounce", "Spin", "Jump"):
        r = client.post("/api/v1/classes", headers=admin.h, json={"name": name})
        ids[name] = r.json()["id"]
    a, b, c = ids["Bounce"], ids["Spin"], ids["Jump"]

    def label(actor, vid, cls):  # type: ignore[no-untyped-def]
        r = client.put(f"/api/v1/videos/{vid}/labels", headers=actor.h, json={"class_ids": cls})
        assert r.status_code == 200, r.text

    label(alice, v1, [a])
    label(bob, v1, [a, b])  # bob's A label collides with his B label
    label(alice, v2, [b, c])

    def click(actor, vid, t, cls, key):  # type: ignore[no-untyped-def]
        body = {"t_s": t, "kind": "action", "class_id": cls, "client_key": key}
        r = client.post(f"/api/v1/videos/{vid}/clicks", headers=actor.h, json=body)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    click(alice, v1, 1.0, a, "a1")
    click(alice, v1, 1.0, b, "b1")  # the same moment with the kept class: a duplicate
    click(alice, v1, 2.0, a, "a2")
    click(bob, v1, 1.0, a, "a3")  # bob's: not a duplicate of alice's
    gone = click(alice, v1, 3.0, a, "a4")
    assert client.delete(f"/api/v1/clicks/{gone}", headers=alice.h).status_code == 204
    client.post(f"/api/v1/videos/{v1}/clicks", headers=alice.h, json={"t_s": 0.5})  # bg

    gt = {
        "database": {
            "v1": {
                "annotations": [
                    {"segment": [1.0, 2.5], "label": "Bounce"},
                    {"segment": [1.0, 2.5], "label": "Spin"},  # the same segment
                    {"segment": [3.0, 3.5], "label": "Bounce"},
                ]
            }
        }
    }
    r = client.post(
        "/api/v1/import/ground-truth",
        headers=admin.h,
        files={"file": ("gt.json", json.dumps(gt).encode(), "application/json")},
    )
    assert r.status_code == 200, r.text

    with session_scope(app.state.sessionmaker) as s:
        version = ModelVersion(
            supervision="bg-click",
            config={"extractor": "tiny-stats"},
            class_names=["Bounce", "Spin", "Jump"],
            checkpoint_path="models/x.pt",
            metrics={},
            data_summary={"classes": ["Bounce", "Spin", "Jump"], "videos": 2},
            is_active=True,
        )
        s.add(version)
        s.flush()
        vid_ = version.id
        s.add_all(
            [
                Prediction(
                    model_version_id=vid_, video_id=v1, class_id=a, start_s=1, end_s=2, score=0.9
                ),
                Prediction(
                    model_version_id=vid_, video_id=v1, class_id=b, start_s=1, end_s=2, score=0.4
                ),
                Prediction(
                    model_version_id=vid_, video_id=v1, class_id=a, start_s=3, end_s=4, score=0.3
                ),
                Prediction(
                    model_version_id=vid_, video_id=v2, class_id=c, start_s=0, end_s=1, score=0.5
                ),
                ActivationCurve(
                    model_version_id=vid_,
                    video_id=v1,
                    data={
                        "times_s": [0.5, 1.5, 2.5],
                        "classes": {
                            str(a): [0.9, 0.1, 0.2],
                            str(b): [0.1, 0.8, 0.3],
                            str(c): [0, 0, 0],
                        },
                    },
                ),
                ActivationCurve(
                    model_version_id=vid_,
                    video_id=v2,
                    data={"times_s": [0.5], "classes": {str(a): [0.7], str(c): [0.1]}},
                ),
                Suggestion(
                    model_version_id=vid_,
                    video_id=v1,
                    rank=0,
                    t_s=1.0,
                    score=0.5,
                    reason="low_confidence",
                    class_id=a,
                ),
                Segment(video_id=v1, annotator_id=alice.id, class_id=a, start_s=0.5, end_s=1.0),
                Segment(video_id=v1, annotator_id=alice.id, class_id=b, start_s=0.5, end_s=1.0),
                Segment(
                    video_id=v1,
                    annotator_id=bob.id,
                    class_id=a,
                    start_s=2.0,
                    end_s=3.0,
                    source=SegmentSource.prediction,
                    model_version_id=vid_,
                    prediction_score=0.3,
                ),
            ]
        )
    return {"v1": v1, "v2": v2, "a": a, "b": b, "c": c, "version": vid_}


def snapshot(app) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Every class reference in the database, as plain data."""
    with app.state.sessionmaker() as s:
        return {
            "classes": sorted((c.id, c.name) for c in s.scalars(select(ActionClass))),
            "labels": sorted(
                s.execute(
                    select(VideoLabel.video_id, VideoLabel.class_id, VideoLabel.annotator_id)
                ).all()
            ),
            "clicks": sorted(
                (c.id, c.class_id, c.deleted_at is None) for c in s.scalars(select(Click))
            ),
            "gt": sorted((g.id, g.class_id) for g in s.scalars(select(GroundTruthSegment))),
            "predictions": sorted(
                (p.id, p.class_id, p.score) for p in s.scalars(select(Prediction))
            ),
            "curves": sorted(
                (c.video_id, json.dumps(c.data, sort_keys=True))
                for c in s.scalars(select(ActivationCurve))
            ),
            "suggestions": sorted((x.id, x.class_id) for x in s.scalars(select(Suggestion))),
            "segments": sorted(
                (x.id, x.class_id, x.deleted_at is None) for x in s.scalars(select(Segment))
            ),
            "versions": sorted(
                (v.id, tuple(v.class_names)) for v in s.scalars(select(ModelVersion))
            ),
        }


def test_every_table_that_refers_to_classes_is_merged() -> None:
    """A new table with a foreign key to action_classes must get its merge step."""
    referring = {
        t.name
        for t in Base.metadata.sorted_tables
        for fk in t.foreign_keys
        if fk.column.table.name == "action_classes"
    }
    assert referring == set(classes_service.MERGED_TABLES)


def test_merge_moves_everything_and_merges_duplicates(client, app, admin, alice, bob, world):
    a, b, c, v1, v2 = world["a"], world["b"], world["c"], world["v1"], world["v2"]
    r = client.post(f"/api/v1/classes/{a}/merge", headers=admin.h, json={"into": b})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["merged"] == "Bounce" and out["into"]["name"] == "Spin"
    assert out["moved"] == {
        "video_labels": 1,  # alice's on v1
        "video_labels_merged": 1,  # bob's on v1: he had Spin already
        "clicks": 3,  # alice's 2.0, bob's 1.0 and the deleted one
        "clicks_merged": 1,  # alice's 1.0: she has a Spin click there
        "gt_segments": 1,
        "gt_segments_merged": 1,
        "predictions": 1,
        "predictions_merged": 1,
        "suggestions": 1,
        "activation_curves": 2,
        "segments": 1,
        "segments_merged": 1,
        "model_versions": 1,
    }
    with app.state.sessionmaker() as s:
        assert s.get(ActionClass, a) is None
        for model in (VideoLabel, Click, GroundTruthSegment, Prediction, Suggestion, Segment):
            assert not list(s.scalars(select(model).where(model.class_id == a))), model  # type: ignore[attr-defined]
        labels = sorted(
            s.execute(
                select(VideoLabel.video_id, VideoLabel.annotator_id, VideoLabel.class_id)
            ).all()
        )
        assert labels == sorted(
            [(v1, alice.id, b), (v1, bob.id, b), (v2, alice.id, b), (v2, alice.id, c)]
        )
        live = sorted(
            (k.annotator_id, k.t_s)
            for k in s.scalars(
                select(Click).where(Click.kind == "action", Click.deleted_at.is_(None))
            )
        )
        assert live == sorted([(alice.id, 1.0), (alice.id, 2.0), (bob.id, 1.0)])
        gt = sorted((g.start_s, g.class_id) for g in s.scalars(select(GroundTruthSegment)))
        assert gt == [(1.0, b), (3.0, b)]
        preds = sorted(
            (p.video_id, p.start_s, p.class_id, p.score) for p in s.scalars(select(Prediction))
        )
        assert preds == [(v1, 1.0, b, 0.9), (v1, 3.0, b, 0.3), (v2, 0.0, c, 0.5)]
        curves = {cv.video_id: cv.data["classes"] for cv in s.scalars(select(ActivationCurve))}
        assert curves[v1] == {str(b): [0.9, 0.8, 0.3], str(c): [0, 0, 0]}
        assert curves[v2] == {str(b): [0.7], str(c): [0.1]}
        segs = sorted(
            (x.annotator_id, x.start_s, x.class_id, x.deleted_at is None)
            for x in s.scalars(select(Segment))
        )
        assert segs == sorted(
            [(alice.id, 0.5, b, False), (alice.id, 0.5, b, True), (bob.id, 2.0, b, True)]
        )
        version = s.get(ModelVersion, world["version"])
        assert version is not None
        assert version.class_names == ["Spin", "Spin", "Jump"]  # output 0 now means Spin
        assert version.data_summary["classes"] == ["Spin", "Jump"]
    names = [x["name"] for x in client.get("/api/v1/classes", headers=alice.h).json()]
    assert names == ["Spin", "Jump"]
    export = client.get("/api/v1/export/predictions", headers=alice.h).json()
    assert {s["label"] for s in export["results"]["v1"]} == {"Spin"}


def test_a_failure_mid_merge_leaves_nothing_moved(app, admin, world, monkeypatch):
    before = snapshot(app)

    def boom(*_args: Any) -> None:
        raise RuntimeError("disk on fire")

    # labels, clicks, GT and segments have moved when the predictions step fails
    steps = classes_service.MERGE_STEPS
    monkeypatch.setattr(classes_service, "MERGE_STEPS", (*steps[:4], boom, *steps[4:]))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post(
            f"/api/v1/classes/{world['a']}/merge", headers=admin.h, json={"into": world["b"]}
        )
    assert r.status_code == 500
    assert snapshot(app) == before


def test_merge_refusals(client, app, admin, alice, world):
    a, b = world["a"], world["b"]
    before = snapshot(app)
    same = client.post(f"/api/v1/classes/{a}/merge", headers=admin.h, json={"into": a})
    assert same.status_code == 422 and "itself" in same.json()["detail"]
    unknown = client.post(f"/api/v1/classes/{a}/merge", headers=admin.h, json={"into": 999})
    assert unknown.status_code == 404 and "999" in unknown.json()["detail"]
    assert (
        client.post("/api/v1/classes/999/merge", headers=admin.h, json={"into": b}).status_code
        == 404
    )
    assert client.post(f"/api/v1/classes/{b}/retire", headers=admin.h).status_code == 200
    retired = client.post(f"/api/v1/classes/{a}/merge", headers=admin.h, json={"into": b})
    assert retired.status_code == 409 and "unretire" in retired.json()["detail"]
    assert (
        client.post(f"/api/v1/classes/{a}/merge", headers=alice.h, json={"into": b}).status_code
        == 403
    )
    assert client.post(f"/api/v1/classes/{b}/unretire", headers=admin.h).status_code == 200
    assert snapshot(app) == before


def test_rename(client, app, admin, alice, world):
    a = world["a"]
    r = client.patch(f"/api/v1/classes/{a}", headers=admin.h, json={"name": "Ball bounce"})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": a, "name": "Ball bounce", "index": 0, "retired": False}
    with app.state.sessionmaker() as s:
        version = s.get(ModelVersion, world["version"])
        assert version is not None
        assert version.class_names == ["Ball bounce", "Spin", "Jump"]
        assert version.data_summary["classes"] == ["Ball bounce", "Spin", "Jump"]
    gt = client.get(f"/api/v1/videos/{world['v1']}/ground-truth", headers=alice.h).json()
    assert {g["class_name"] for g in gt} == {"Ball bounce", "Spin"}
    export = client.get("/api/v1/export/predictions", headers=alice.h).json()
    assert "Ball bounce" in {s["label"] for s in export["results"]["v1"]}
    taken = client.patch(f"/api/v1/classes/{a}", headers=admin.h, json={"name": "Spin"})
    assert taken.status_code == 409 and "merge" in taken.json()["detail"]
    bad = client.patch(f"/api/v1/classes/{a}", headers=admin.h, json={"name": " "})
    assert bad.status_code == 422
    assert (
        client.patch("/api/v1/classes/999", headers=admin.h, json={"name": "X"}).status_code == 404
    )
    assert (
        client.patch(f"/api/v1/classes/{a}", headers=alice.h, json={"name": "X"}).status_code == 403
    )
    same = client.patch(f"/api/v1/classes/{a}", headers=admin.h, json={"name": "Ball bounce"})
    assert same.status_code == 200


def test_retire_hides_refuses_new_labels_and_leaves_training(client, app, admin, alice, bob, world):
    b, v1, v2 = world["b"], world["v1"], world["v2"]
    r = client.post(f"/api/v1/classes/{b}/retire", headers=admin.h)
    assert r.status_code == 200 and r.json()["retired"] is True
    assert client.post(f"/api/v1/classes/{b}/retire", headers=admin.h).status_code == 200
    listed = client.get("/api/v1/classes", headers=alice.h).json()
    assert [c["name"] for c in listed] == ["Bounce", "Jump"]
    assert [c["index"] for c in listed] == [0, 2]  # positions stay (colours, COIN TagID)
    everything = client.get("/api/v1/classes?include_retired=true", headers=alice.h).json()
    assert [(c["name"], c["retired"]) for c in everything] == [
        ("Bounce", False),
        ("Spin", True),
        ("Jump", False),
    ]
    # no new labels or action clicks of it; labels already given stay when others change
    new_click = client.post(
        f"/api/v1/videos/{v1}/clicks",
        headers=alice.h,
        json={"t_s": 3.3, "kind": "action", "class_id": b},
    )
    assert new_click.status_code == 422 and "retired" in new_click.json()["detail"]
    new_label = client.put(
        f"/api/v1/videos/{v1}/labels", headers=alice.h, json={"class_ids": [world["a"], b]}
    )
    assert new_label.status_code == 422 and "Spin is retired" in new_label.json()["detail"]
    kept = client.put(f"/api/v1/videos/{v2}/labels", headers=alice.h, json={"class_ids": [b]})
    assert kept.status_code == 200, kept.text  # alice had Spin on v2 already
    # kept on record: the labels, clicks and GT still name it
    with app.state.sessionmaker() as s:
        assert s.scalar(select(VideoLabel).where(VideoLabel.class_id == b)) is not None
        data = build_dataset(s, None, load_features=False)
        everything_data = build_dataset(s, None, load_features=False, include_retired=True)
    assert data.class_names == ["Bounce", "Jump"]  # training leaves it out
    assert everything_data.class_names == ["Bounce", "Spin", "Jump"]
    gt = client.get(f"/api/v1/videos/{v1}/ground-truth", headers=alice.h).json()
    assert "Spin" in {g["class_name"] for g in gt}
    # unretire: back in the pickers, takes labels again
    r = client.post(f"/api/v1/classes/{b}/unretire", headers=admin.h)
    assert r.status_code == 200 and r.json()["retired"] is False
    assert len(client.get("/api/v1/classes", headers=alice.h).json()) == 3
    again = client.put(
        f"/api/v1/videos/{v1}/labels", headers=alice.h, json={"class_ids": [world["a"], b]}
    )
    assert again.status_code == 200
    assert client.post(f"/api/v1/classes/{b}/retire", headers=alice.h).status_code == 403
    assert client.post("/api/v1/classes/999/retire", headers=admin.h).status_code == 404
