"""Segments API: draw, list, adjust, change class, delete, restore, accept predictions;
bad input is a 422 with a sentence; an annotator touches only their own segments."""

from __future__ import annotations

import pytest

from server.models import Segment
from tests.server.helpers import count, upload
from tests.server.suggestions.seed import add_version

API = "/api/v1"


@pytest.fixture
def video(client, alice, clip_bytes):
    return upload(client, alice, clip_bytes).json()  # 4 s, 25 fps


@pytest.fixture
def classes(client, admin):
    return [
        client.post(f"{API}/classes", headers=admin.h, json={"name": n}).json()
        for n in ("Bounce", "Spin")
    ]


def draw(client, actor, video_id, **body):
    return client.post(f"{API}/videos/{video_id}/segments", headers=actor.h, json=body)


def test_draw_list_adjust_change_class_delete_restore(client, alice, video, classes):
    bounce, spin = classes
    r = draw(client, alice, video["id"], class_id=bounce["id"], start_s=0.4, end_s=1.2)
    assert r.status_code == 201, r.text
    seg = r.json()
    assert (seg["start_s"], seg["end_s"], seg["class_id"]) == (0.4, 1.2, bounce["id"])
    assert seg["source"] == "drawn" and seg["model_version_id"] is None
    assert seg["annotator_id"] == alice.id and seg["deleted"] is False
    later = draw(client, alice, video["id"], class_id=spin["id"], start_s=2.0, end_s=3.0).json()

    listed = client.get(f"{API}/videos/{video['id']}/segments", headers=alice.h).json()
    assert [s["id"] for s in listed] == [seg["id"], later["id"]]  # time order

    moved = client.patch(f"{API}/segments/{seg['id']}", headers=alice.h, json={"end_s": 1.6})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["start_s"], moved.json()["end_s"]) == (0.4, 1.6)
    recl = client.patch(
        f"{API}/segments/{seg['id']}", headers=alice.h, json={"class_id": spin["id"]}
    )
    assert recl.json()["class_id"] == spin["id"] and recl.json()["end_s"] == 1.6
    assert recl.json()["updated_at"] >= seg["updated_at"]

    assert client.delete(f"{API}/segments/{seg['id']}", headers=alice.h).status_code == 204
    assert client.delete(f"{API}/segments/{seg['id']}", headers=alice.h).status_code == 204
    listed = client.get(f"{API}/videos/{video['id']}/segments", headers=alice.h).json()
    assert [s["id"] for s in listed] == [later["id"]]
    gone = client.patch(f"{API}/segments/{seg['id']}", headers=alice.h, json={"end_s": 2.0})
    assert gone.status_code == 410 and "restore it first" in gone.json()["detail"]

    back = client.post(f"{API}/segments/{seg['id']}/restore", headers=alice.h)
    assert back.status_code == 200 and back.json()["deleted"] is False
    listed = client.get(f"{API}/videos/{video['id']}/segments", headers=alice.h).json()
    assert [(s["id"], s["class_id"], s["end_s"]) for s in listed] == [
        (seg["id"], spin["id"], 1.6),
        (later["id"], spin["id"], 3.0),
    ]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"start_s": 2.0, "end_s": 2.0}, 422, "must end after it starts"),
        ({"start_s": 2.0, "end_s": 1.0}, 422, "must end after it starts"),
        ({"start_s": 3.0, "end_s": 4.5}, 422, "past the end of the video (4 seconds)"),
        ({"start_s": 4.0, "end_s": 5.0}, 422, "outside the video"),
        (
            {"start_s": -1.0, "end_s": 1.0},
            422,
            "start_s: Input should be greater than or equal to 0",
        ),
        ({"start_s": "nan", "end_s": 1.0}, 422, "start_s: must be a finite number"),
        ({"start_s": 1.0, "end_s": 2.0, "class_id": 999}, 422, "unknown class id(s): 999"),
        ({"start_s": 1.0, "end_s": 2.0, "class_id": None}, 422, "class_id"),
    ],
)
def test_bad_input_is_a_422_with_a_sentence(
    client, app, alice, video, classes, body, status, words
):
    body = {"class_id": classes[0]["id"], **body}
    r = draw(client, alice, video["id"], **body)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]
    assert count(app, Segment) == 0


def test_bad_patch_keeps_the_segment(client, alice, video, classes):
    seg = draw(client, alice, video["id"], class_id=classes[0]["id"], start_s=1.0, end_s=2.0).json()
    for body, words in [
        ({"start_s": 2.5}, "must end after it starts"),
        ({"end_s": 9.0}, "past the end of the video"),
        ({"class_id": 999}, "unknown class id(s): 999"),
        ({}, "send at least one of class_id, start_s, end_s"),
    ]:
        r = client.patch(f"{API}/segments/{seg['id']}", headers=alice.h, json=body)
        assert r.status_code == 422 and words in r.json()["detail"], r.text
    again = client.get(f"{API}/videos/{video['id']}/segments", headers=alice.h).json()
    assert [(s["start_s"], s["end_s"], s["class_id"]) for s in again] == [
        (1.0, 2.0, classes[0]["id"])
    ]


def test_an_annotator_cannot_touch_anothers_segments(client, alice, bob, admin, video, classes):
    seg = draw(client, alice, video["id"], class_id=classes[0]["id"], start_s=1.0, end_s=2.0).json()
    draw(client, bob, video["id"], class_id=classes[1]["id"], start_s=2.0, end_s=3.0)
    for r in (
        client.patch(f"{API}/segments/{seg['id']}", headers=bob.h, json={"end_s": 3.0}),
        client.delete(f"{API}/segments/{seg['id']}", headers=bob.h),
        client.post(f"{API}/segments/{seg['id']}/restore", headers=bob.h),
    ):
        assert r.status_code == 403, r.text
        assert "belongs to another annotator" in r.json()["detail"]
    mine = client.get(f"{API}/videos/{video['id']}/segments", headers=bob.h).json()
    assert [s["annotator_id"] for s in mine] == [bob.id]
    peek = client.get(f"{API}/videos/{video['id']}/segments?annotator_id={alice.id}", headers=bob.h)
    assert peek.status_code == 403 and "only read their own" in peek.json()["detail"]
    # alice's segment is untouched; an admin sees everyone's and may correct any
    every = client.get(f"{API}/videos/{video['id']}/segments", headers=admin.h).json()
    assert sorted(s["annotator_id"] for s in every) == sorted([alice.id, bob.id])
    only = client.get(
        f"{API}/videos/{video['id']}/segments?annotator_id={alice.id}", headers=admin.h
    ).json()
    assert [(s["id"], s["end_s"]) for s in only] == [(seg["id"], 2.0)]
    fixed = client.patch(f"{API}/segments/{seg['id']}", headers=admin.h, json={"end_s": 2.5})
    assert fixed.status_code == 200 and fixed.json()["annotator_id"] == alice.id


def test_unknown_segment_and_deleted_video(client, alice, admin, video, classes):
    assert (
        client.patch(f"{API}/segments/4242", headers=alice.h, json={"end_s": 1}).status_code == 404
    )
    assert client.delete(f"{API}/segments/4242", headers=alice.h).status_code == 404
    r = draw(client, alice, 999, class_id=classes[0]["id"], start_s=0, end_s=1)
    assert r.status_code == 404 and "video 999 does not exist" in r.json()["detail"]
    assert client.delete(f"{API}/videos/{video['id']}", headers=admin.h).status_code == 204
    r = draw(client, alice, video["id"], class_id=classes[0]["id"], start_s=0, end_s=1)
    assert r.status_code == 410


def test_client_key_makes_drawing_idempotent(client, app, alice, bob, video, classes):
    body = {"class_id": classes[0]["id"], "start_s": 1.0, "end_s": 2.0, "client_key": "s-1"}
    first = draw(client, alice, video["id"], **body)
    again = draw(client, alice, video["id"], **body)
    bobs = draw(client, bob, video["id"], **body)
    assert (first.status_code, again.status_code, bobs.status_code) == (201, 200, 201)
    assert again.json()["id"] == first.json()["id"]
    assert count(app, Segment) == 2


def test_end_on_the_last_frame_edge_is_clamped_to_the_duration(client, alice, video, classes):
    r = draw(client, alice, video["id"], class_id=classes[0]["id"], start_s=3.96, end_s=4.0 + 1e-9)
    assert r.status_code == 201, r.text
    assert r.json()["end_s"] == 4.0


def accept(client, actor, video_id, **body):
    return client.post(f"{API}/videos/{video_id}/segments/accept", headers=actor.h, json=body)


def test_accept_predictions_then_adjust(client, app, alice, bob, video, classes):
    bounce, spin = classes
    vid = video["id"]
    version = add_version(
        app,
        active=True,
        segments=[
            (vid, bounce["id"], 0.5, 1.5, 0.9),
            (vid, spin["id"], 1.0, 2.0, 0.4),
            (vid, bounce["id"], 2.5, 3.5, 0.6),
            (vid, bounce["id"], 3.6, 4.3, 0.2),  # reaches past the end: clamped
        ],
    )
    # the one under the playhead: the best-scoring segment containing it
    r = accept(client, alice, vid, at_s=1.2)
    assert r.status_code == 201, r.text
    (seg,) = r.json()["created"]
    assert r.json()["model_version_id"] == version
    assert (seg["class_id"], seg["start_s"], seg["end_s"]) == (bounce["id"], 0.5, 1.5)
    assert seg["source"] == "prediction" and seg["model_version_id"] == version
    assert seg["prediction_score"] == 0.9
    assert (seg["predicted_start_s"], seg["predicted_end_s"]) == (0.5, 1.5)
    # of one class
    r = accept(client, alice, vid, at_s=1.2, class_id=spin["id"])
    assert [s["class_id"] for s in r.json()["created"]] == [spin["id"]]
    # accepting the same prediction again stores nothing new
    r = accept(client, alice, vid, at_s=1.2)
    assert r.status_code == 200
    assert r.json()["created"] == [] and [s["id"] for s in r.json()["already_accepted"]] == [
        seg["id"]
    ]
    # all of a class above a score: 0.6 and 0.2 ≥ 0.2; the one taken before is not doubled
    r = accept(client, alice, vid, class_id=bounce["id"], min_score=0.2)
    assert r.status_code == 201
    assert [(s["start_s"], s["end_s"]) for s in r.json()["created"]] == [(2.5, 3.5), (3.6, 4.0)]
    assert [s["id"] for s in r.json()["already_accepted"]] == [seg["id"]]
    # adjustable like a drawn one; the predicted edges stay on record
    moved = client.patch(f"{API}/segments/{seg['id']}", headers=alice.h, json={"start_s": 0.6})
    assert moved.json()["start_s"] == 0.6 and moved.json()["predicted_start_s"] == 0.5
    # bob's acceptances are his own
    assert len(accept(client, bob, vid, at_s=1.2).json()["created"]) == 1
    assert count(app, Segment, Segment.annotator_id == alice.id) == 4


def test_accept_by_id_and_refusals(client, app, alice, video, classes, clip2_bytes):
    bounce = classes[0]
    vid = video["id"]
    other = upload(client, alice, clip2_bytes).json()["id"]
    r = accept(client, alice, vid, at_s=1.0)
    assert r.status_code == 404 and "no model version is active" in r.json()["detail"]
    add_version(
        app,
        active=True,
        segments=[(vid, bounce["id"], 0.5, 1.5, 0.9), (other, bounce["id"], 0.5, 1.5, 0.9)],
    )
    preds = client.get(f"{API}/videos/{vid}/predictions", headers=alice.h).json()["segments"]
    theirs = client.get(f"{API}/videos/{other}/predictions", headers=alice.h).json()["segments"]
    r = accept(client, alice, vid, prediction_ids=[preds[0]["id"]])
    assert r.status_code == 201 and len(r.json()["created"]) == 1
    r = accept(client, alice, vid, prediction_ids=[theirs[0]["id"]])
    assert r.status_code == 404 and "are not predictions of model version" in r.json()["detail"]
    r = accept(client, alice, vid, at_s=3.0)
    assert r.status_code == 404 and "predicts no segment at 3 s" in r.json()["detail"]
    r = accept(client, alice, vid, class_id=999, min_score=0.1)
    assert r.status_code == 422 and "unknown class id(s): 999" in r.json()["detail"]
    r = accept(client, alice, vid, min_score=0.1)
    assert r.status_code == 422 and "min_score needs a class_id" in r.json()["detail"]
    r = accept(client, alice, vid, at_s=1.0, min_score=0.1, class_id=bounce["id"])
    assert r.status_code == 422 and "exactly one of" in r.json()["detail"]
    r = accept(client, alice, vid, model_version="latest", at_s=1.0)
    assert r.status_code == 422 and "'active' or a version id" in r.json()["detail"]


def test_admin_marks_validation_videos(client, alice, admin, video):
    r = client.patch(f"{API}/videos/{video['id']}", headers=alice.h, json={"is_validation": True})
    assert r.status_code == 403
    assert (
        client.get(f"{API}/videos/{video['id']}", headers=alice.h).json()["is_validation"] is False
    )
    r = client.patch(f"{API}/videos/{video['id']}", headers=admin.h, json={"is_validation": True})
    assert r.status_code == 200 and r.json()["is_validation"] is True
    listed = client.get(f"{API}/videos", headers=alice.h).json()["items"]
    assert [v["is_validation"] for v in listed] == [True]
    r = client.patch(
        f"{API}/videos/{video['id']}", headers=admin.h, json={"is_validation": "maybe"}
    )
    assert r.status_code == 422
    r = client.patch(f"{API}/videos/{video['id']}", headers=admin.h, json={"is_validation": False})
    assert r.json()["is_validation"] is False


def test_a_retired_class_takes_no_new_segments(client, app, admin, alice, video, classes):
    bounce, spin = classes
    vid = video["id"]
    seg = draw(client, alice, vid, class_id=spin["id"], start_s=1.0, end_s=2.0).json()
    add_version(
        app,
        active=True,
        segments=[(vid, spin["id"], 0.5, 1.5, 0.9), (vid, bounce["id"], 0.8, 1.4, 0.5)],
    )
    assert client.post(f"{API}/classes/{spin['id']}/retire", headers=admin.h).status_code == 200
    r = draw(client, alice, vid, class_id=spin["id"], start_s=2.0, end_s=3.0)
    assert r.status_code == 422 and "is retired" in r.json()["detail"]
    other = draw(client, alice, vid, class_id=bounce["id"], start_s=2.0, end_s=3.0).json()
    r = client.patch(
        f"{API}/segments/{other['id']}", headers=alice.h, json={"class_id": spin["id"]}
    )
    assert r.status_code == 422 and "is retired" in r.json()["detail"]
    # a segment of the class from before keeps it and can still be adjusted
    r = client.patch(f"{API}/segments/{seg['id']}", headers=alice.h, json={"end_s": 2.5})
    assert r.status_code == 200 and r.json()["class_id"] == spin["id"]
    # under the playhead: the best prediction of a live class
    r = accept(client, alice, vid, at_s=1.0)
    assert [s["class_id"] for s in r.json()["created"]] == [bounce["id"]]
    r = accept(client, alice, vid, class_id=spin["id"], min_score=0.1)
    assert r.status_code == 422 and "is retired" in r.json()["detail"]
