"""Click QA with ``BACKTAL_QA_MIN_ACTIVATION``: a confident segment flags a click only where
its class's stored activation curve is high enough (docs/research/qa-planted.md, amendment 1).
"""

from __future__ import annotations

import pytest

from tests.server.suggestions.seed import add_version, click


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"qa_min_activation": 0.0})


def test_a_segment_flags_only_where_its_class_is_active(app, client, admin, alice, world):
    v1, v2 = world["videos"]
    c0, c1 = world["classes"]
    # one confident Bounce segment spans two actions and the dip between them (the demo's
    # case); Bounce's curve: 0.9, −0.6, −0.6, 0.8 at 0.5, 1.5, 2.5, 3.5 s; Spin has no curve
    act = click(client, alice, v1, 1.0)  # Bounce 0.9 − 1.5 / 2 = 0.15
    spin = click(client, alice, v1, 2.0)  # Bounce −0.6; inside Spin's [1.6, 2.4] too
    dip = click(client, alice, v1, 2.6)  # Bounce −0.6 + 1.4 / 10 = −0.46
    rise = click(client, alice, v1, 3.0)  # Bounce −0.6 + 1.4 / 2 = 0.1
    other = click(client, alice, v2, 1.0)  # v2 has no curve: the segment alone decides
    curve = {"times_s": [0.5, 1.5, 2.5, 3.5], "classes": {str(c0): [0.9, -0.6, -0.6, 0.8]}}
    version = add_version(
        app,
        active=True,
        segments=[(v1, c0, 0.4, 3.4, 0.8), (v1, c1, 1.6, 2.4, 0.9), (v2, c0, 0.5, 1.5, 0.9)],
        curves={v1: curve},
    )
    body = client.get("/api/v1/click-flags", headers=admin.h).json()
    assert body["model_version_id"] == version and body["min_activation"] == 0.0
    flagged = {i["click_id"]: [(f["class_id"], f["start_s"]) for f in i["flags"]]
               for i in body["items"]}  # fmt: skip
    assert flagged == {
        act["id"]: [(c0, 0.4)],
        spin["id"]: [(c1, 1.6)],  # not Bounce (−0.6); Spin has no curve: not filtered
        rise["id"]: [(c0, 0.4)],
        other["id"]: [(c0, 0.5)],
    }
    assert dip["id"] not in flagged
    quality = client.get("/api/v1/annotators/quality", headers=admin.h).json()
    (row,) = [a for a in quality["annotators"] if a["annotator_id"] == alice.id]
    assert row["flagged"] == 4  # the quality table counts with the same rule


@pytest.mark.parametrize(
    ("value", "expected"), [("", None), ("off", None), ("None", None), ("0.5", 0.5)]
)
def test_min_activation_from_the_environment(monkeypatch, value, expected):  # type: ignore[no-untyped-def]
    from model.suggest import QA_MIN_ACTIVATION
    from server.config import Settings

    assert Settings().qa_min_activation == QA_MIN_ACTIVATION  # amendment 1's choice
    monkeypatch.setenv("BACKTAL_QA_MIN_ACTIVATION", value)
    assert Settings().qa_min_activation == expected
    monkeypatch.setenv("BACKTAL_QA_MIN_ACTIVATION", "high")
    with pytest.raises(ValueError, match="qa_min_activation"):
        Settings()
