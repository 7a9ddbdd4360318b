"""The demo shows the loop: seed-demo, then one training job, then predictions everywhere,
with no annotation by hand (the demo annotator's labels and clicks are seeded)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from server import demo
from server.models import Click, User, VideoLabel
from tests.server.helpers import FAST_WORKER, run_worker


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update=FAST_WORKER)


def test_simulated_annotation_clicks_like_people() -> None:
    clips = demo.demo_plan(6)
    notes = [demo.simulated_annotation(c) for c in clips]
    assert notes == [demo.simulated_annotation(c) for c in clips]  # deterministic
    minutes = sum(c.duration_s for c in clips) / 60
    clicks = [k for n in notes for k in n.clicks]
    instances = sum(len(c.segments) for c in clips)
    assert 0.9 * instances <= len(clicks) <= 1.3 * instances + len(clips)  # ~1 per action
    assert 4 <= len(clicks) / minutes <= 12  # clicks per minute of video
    wheres = [k.where for k in clicks]
    assert wheres.count("misplaced") >= 1 and wheres.count("near-action") >= 1
    assert wheres.count("background") >= len(clicks) / 3
    for clip, note in zip(clips, notes, strict=True):
        assert note.labels == sorted({cls for _, _, cls in clip.segments})
        assert len(note.clicks) >= 2
        times = [k.t_s for k in note.clicks]
        assert times == sorted(times) and all(0 <= t < clip.duration_s for t in times)
        for k in note.clicks:  # what the simulation says about a click is true of its time
            inside = any(s <= k.t_s < e for s, e, _ in clip.segments)
            near = any(s - 1.5 <= k.t_s < e + 1.0 for s, e, _ in clip.segments)
            assert inside == (k.where == "misplaced"), (clip.name, k)
            if k.where == "background":
                assert not near, (clip.name, k)
            assert k.elapsed_ms >= 250


def test_seed_demo_then_one_training_job_predicts_every_demo_video(client, app, settings):
    """From an empty database: seed-demo, the worker makes proxies and features, the admin
    POSTs one training job (202), the worker trains and predicts: a model version and
    predictions on every demo video, and nobody annotated by hand."""
    out = demo.seed(settings, 4, log=lambda _: None)
    assert (out.new_videos, out.videos, out.demo_labelled) == (4, 4, 4)
    assert out.demo_clicks >= 8 and 4 <= out.demo_clicks_per_min <= 12
    admin = {"Authorization": f"Bearer {out.admin_token}"}
    annotator = {"Authorization": f"Bearer {out.annotator_token}"}
    with app.state.sessionmaker() as s:
        person = s.scalar(select(User).where(User.name == demo.DEMO_ANNOTATOR))
        assert person is not None and person.token_hash is None  # a simulated person
        assert s.scalar(select(func.count()).select_from(Click)) == out.demo_clicks
        assert {c.annotator_id for c in s.scalars(select(Click))} == {person.id}
        assert {lab.annotator_id for lab in s.scalars(select(VideoLabel))} == {person.id}

    run_worker(settings)  # media, then features jobs
    videos = client.get("/api/v1/videos", headers=annotator).json()["items"]
    assert len(videos) == 4 and all(v["status"] == "ready" for v in videos), videos
    # the annotator token's own videos stay unannotated
    for v in videos:
        assert client.get(f"/api/v1/videos/{v['id']}/clicks", headers=annotator).json() == []
        labels = client.get(f"/api/v1/videos/{v['id']}/labels", headers=annotator).json()
        assert all(mine["class_ids"] == [] for mine in labels["labels"])
    client.cookies.set("backtal_session", out.annotator_token)
    page = client.get("/videos").text  # the list says so: no clicks, not labelled
    assert page.count('<td class="num" data-col="clicks">0</td>') == 4

    r = client.post("/api/v1/training-jobs", headers=admin, json={"epochs": 3, "hidden": 32})
    assert r.status_code == 202, r.text
    assert r.json()["params"]["supervision"] == "bg-click"
    assert run_worker(settings) == 2  # train, then predict
    job = client.get(f"/api/v1/jobs/{r.json()['id']}", headers=admin).json()
    assert job["status"] == "succeeded", job
    (version,) = client.get("/api/v1/model-versions", headers=admin).json()
    assert version["is_active"] and version["data_summary"]["videos"] == 4
    assert version["data_summary"]["annotators"] == [demo.DEMO_ANNOTATOR]
    assert version["data_summary"]["background_clicks"] > 0
    for v in videos:
        p = client.get(f"/api/v1/videos/{v['id']}/predictions", headers=annotator).json()
        assert p["model_version_id"] == version["id"], v["name"]
        assert p["segments"], f"no predicted segment on {v['name']}"
        assert len(p["curves"]["times_s"]) > 0 and len(p["curves"]["classes"]) == 2


def test_seed_demo_twice_adds_nothing_twice(settings) -> None:
    first = demo.seed(settings, 2, log=lambda _: None)
    second = demo.seed(settings, 2, log=lambda _: None)
    assert second.new_videos == 0 and second.demo_clicks == first.demo_clicks
    assert second.admin_token != first.admin_token  # re-issued
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    engine = create_engine(settings.database_url)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Click)) == first.demo_clicks
        assert s.scalar(select(func.count()).select_from(User)) == 3
    engine.dispose()
