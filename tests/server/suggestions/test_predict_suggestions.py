"""The predict job stores suggestions with the model version (real training, tiny model)."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from server.models import Suggestion
from tests.server.helpers import run_worker
from tests.server.training import test_retrain as retrain

# the retrain tests' fixtures: demo clips uploaded, processed, labelled and clicked
settings = retrain.settings
demo_files = retrain.demo_files
annotated = retrain.annotated
train = retrain.train

REASONS = {"coverage"}  # the product's default rule (model.suggest.PRODUCT_RULE)


def test_predict_job_stores_suggestions_per_version(
    client,
    app,
    settings,
    admin,
    alice,
    annotated,
):
    assert train(client, admin, holdout_fraction=0.25).status_code == 202
    assert run_worker(settings) == 2  # train, predict
    (version,) = client.get("/api/v1/model-versions", headers=alice.h).json()
    with app.state.sessionmaker() as s:
        rows = list(s.scalars(select(Suggestion).order_by(Suggestion.video_id, Suggestion.rank)))
    assert rows, "the predict job stored no suggestion"
    assert {r.model_version_id for r in rows} == {version["id"]}
    assert {r.reason for r in rows} <= REASONS
    clicks = {
        vid: [c["t_s"] for c in client.get(f"/api/v1/videos/{vid}/clicks", headers=alice.h).json()]
        for vid in annotated.values()
    }
    by_video: dict[int, list[Suggestion]] = {}
    for r in rows:
        by_video.setdefault(r.video_id, []).append(r)
    for vid, rs in by_video.items():
        assert len(rs) <= settings.suggest_per_video
        assert [r.rank for r in rs] == list(range(len(rs)))
        assert [r.score for r in rs] == sorted((r.score for r in rs), reverse=True)
        # the coverage rule spreads its picks by its own spacing (farthest-point, weighted by
        # background belief), not by suggest_min_spacing_s (the model signals' hard gap): no
        # two picks at one moment
        ts = sorted(r.t_s for r in rs)
        assert all(b - a > 1e-3 for a, b in itertools.pairwise(ts))
        for r in rs:  # none near a background click that existed when it was made
            assert all(abs(r.t_s - t) >= settings.suggest_click_radius_s for t in clicks[vid])
        api = client.get(f"/api/v1/videos/{vid}/suggestions", headers=alice.h).json()
        assert [s["id"] for s in api["suggestions"]] == [r.id for r in rs]
    # a second version replaces nothing of the first: each keeps its own
    assert train(client, admin, holdout_fraction=0.25, seed=1).status_code == 202
    assert run_worker(settings) == 2
    with app.state.sessionmaker() as s:
        versions = set(s.scalars(select(Suggestion.model_version_id).distinct()))
    assert len(versions) == 2
