"""The admin page in Chromium: rename, merge and retire classes, deactivate and reactivate a
user, export predictions (threshold, classes) and labels; the annotate page hides a retired
class from its keys and pickers but still names its clicks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.db import session_scope
from server.models import ActivationCurve, ModelVersion, Prediction
from tests.annotator_ui.helpers import poll, wait_annotate_ready
from tests.server.helpers import upload

pytestmark = pytest.mark.browser


@pytest.fixture
def setup(client, app, admin, alice, bob, clip_bytes) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    ids = {}
    for name in ("Bounce", "Spin", "Jump"):
        ids[name] = client.post("/api/v1/classes", headers=admin.h, json={"name": name}).json()[
            "id"
        ]
    vid = upload(client, alice, clip_bytes, "clip.mp4").json()["id"]
    client.put(f"/api/v1/videos/{vid}/labels", headers=alice.h, json={"class_ids": [ids["Bounce"]]})
    r = client.post(
        f"/api/v1/videos/{vid}/clicks",
        headers=alice.h,
        json={"t_s": 1.0, "kind": "action", "class_id": ids["Bounce"]},
    )
    assert r.status_code == 201, r.text
    return {"video": vid, **ids}


def admin_page(open_page, admin):  # type: ignore[no-untyped-def]
    page = open_page(admin, "/admin")
    page.on("dialog", lambda d: d.accept())
    page.wait_for_function("() => document.getElementById('classes-table').dataset.loaded === '1'")
    return page


def class_names(client, actor, retired: bool = False) -> list[str]:  # type: ignore[no-untyped-def]
    q = "?include_retired=true" if retired else ""
    return [c["name"] for c in client.get(f"/api/v1/classes{q}", headers=actor.h).json()]


def test_rename_merge_retire_by_keyboard(client, admin, alice, setup, open_page):
    page = admin_page(open_page, admin)
    status = page.locator("#admin-status")
    # rename Jump: edit the name, Enter
    name = page.get_by_label("Name of class Jump")
    name.fill("Hop")
    name.press("Enter")
    poll(lambda: class_names(client, alice) == ["Bounce", "Spin", "Hop"], page=page)
    page.get_by_label("Name of class Hop").wait_for()
    # merge Bounce into Spin: choose in the select, press the button by keyboard
    page.get_by_label("Merge Bounce into").select_option(label="Spin")
    page.get_by_role("button", name="Merge class Bounce").focus()
    page.keyboard.press("Enter")
    poll(lambda: "Bounce merged into Spin" in status.inner_text(), page=page)
    assert "1 labels, 1 clicks" in status.inner_text()
    assert class_names(client, alice) == ["Spin", "Hop"]
    (click,) = client.get(f"/api/v1/videos/{setup['video']}/clicks", headers=alice.h).json()
    assert click["class_id"] == setup["Spin"]
    # retire Hop, then unretire it
    page.get_by_role("button", name="Retire class Hop").focus()
    page.keyboard.press("Enter")
    page.locator("tr[data-retired='1'] input[value='Hop']").wait_for()
    assert class_names(client, alice) == ["Spin"]
    assert class_names(client, alice, retired=True) == ["Spin", "Hop"]
    page.get_by_role("button", name="Unretire class Hop").click()
    page.locator("tr[data-retired='0'] input[value='Hop']").wait_for()
    assert class_names(client, alice) == ["Spin", "Hop"]
    # the export form's class list followed every change
    labels = page.locator("#pred-classes label").all_inner_texts()
    assert labels == ["Spin", "Hop"]
    # a refusal is said in the page
    page.get_by_label("Name of class Hop").fill("Spin")
    page.get_by_role("button", name="Rename class Hop").click()
    poll(lambda: "already exists" in status.inner_text(), page=page)
    assert page.js_errors == []


def test_deactivate_and_reactivate_a_user(client, admin, alice, bob, setup, open_page):
    page = admin_page(open_page, admin)
    row = page.locator(f"#users-table tr[data-user-id='{bob.id}']")
    row.wait_for()
    page.get_by_role("button", name="Deactivate bob").click()
    page.locator(f"#users-table tr[data-user-id='{bob.id}'][data-active='0']").wait_for()
    assert client.get("/api/v1/me", headers=bob.h).status_code == 401
    page.get_by_role("button", name="Reactivate bob").click()
    page.locator(f"#users-table tr[data-user-id='{bob.id}'][data-active='1']").wait_for()
    assert client.get("/api/v1/me", headers=bob.h).status_code == 200
    # the admin cannot lock themselves out: the page says why
    page.get_by_role("button", name="Deactivate admin").click()
    poll(lambda: "yourself" in page.locator("#admin-status").inner_text(), page=page)
    assert page.js_errors == []


def test_export_buttons_download_predictions_and_labels(
    client, app, admin, alice, setup, open_page, tmp_path
):
    v = setup["video"]
    with session_scope(app.state.sessionmaker) as s:
        version = ModelVersion(
            supervision="bg-click",
            config={"extractor": "tiny-stats"},
            class_names=["Bounce", "Spin", "Jump"],
            checkpoint_path="",
            metrics={},
            data_summary={},
            is_active=True,
        )
        s.add(version)
        s.flush()
        for cls, start, score in (("Bounce", 0.2, 0.9), ("Bounce", 2.0, 0.3), ("Spin", 1.0, 0.7)):
            s.add(
                Prediction(
                    model_version_id=version.id,
                    video_id=v,
                    class_id=setup[cls],
                    start_s=start,
                    end_s=start + 0.5,
                    score=score,
                )
            )
        s.add(
            ActivationCurve(
                model_version_id=version.id, video_id=v, data={"times_s": [], "classes": {}}
            )
        )
    page = open_page(admin, "/admin")
    page.wait_for_function("() => document.getElementById('exports').dataset.loaded === '1'")
    page.get_by_label("Score at least").fill("0.5")
    with page.expect_download() as info:
        page.get_by_role("button", name="Export predictions").click()
    path = tmp_path / "pred.json"
    info.value.save_as(path)
    doc = json.loads(path.read_text())
    assert info.value.suggested_filename == "predictions-active-min0.5.json"
    assert sorted((s["label"], s["score"]) for s in doc["results"]["clip"]) == [
        ("Bounce", 0.9),
        ("Spin", 0.7),
    ]
    page.locator("#pred-classes").get_by_label("Spin").check()
    with page.expect_download() as info:
        page.get_by_role("button", name="Export predictions").click()
    info.value.save_as(path)
    assert [s["label"] for s in json.loads(path.read_text())["results"]["clip"]] == ["Spin"]

    page.get_by_label("segments").uncheck()
    with page.expect_download() as info:
        page.get_by_role("button", name="Export labels").click()
    info.value.save_as(tmp_path / "labels.json")
    labels = json.loads((tmp_path / "labels.json").read_text())
    assert labels["parts"] == ["labels", "clicks"]
    (video,) = labels["videos"]
    assert video["labels"] == [{"annotator": "alice", "class_name": "Bounce"}]
    assert [(c["annotator"], c["t_s"], c["class_name"]) for c in video["clicks"]] == [
        ("alice", 1.0, "Bounce")
    ]
    assert "segments" not in video or video["segments"] == []
    assert page.js_errors == []


def test_annotate_page_hides_a_retired_class_but_names_its_clicks(
    client, admin, alice, setup, open_page
):
    assert (
        client.post(f"/api/v1/classes/{setup['Bounce']}/retire", headers=admin.h).status_code == 200
    )
    page = open_page(alice, f"/videos/{setup['video']}")
    wait_annotate_ready(page)
    # the label pickers and number keys: Spin is 1, Jump 2; Bounce is gone
    boxes = page.locator("#labels input[type=checkbox]")
    assert [boxes.nth(i).get_attribute("value") for i in range(boxes.count())] == [
        str(setup["Spin"]),
        str(setup["Jump"]),
    ]
    assert boxes.nth(0).get_attribute("aria-keyshortcuts") == "1"
    # her click of the retired class keeps its name in the list
    assert "action Bounce" in page.locator("#click-list li").first.inner_text()
    assert page.js_errors == []
