"""``BACKTAL_SUGGEST_REASONS``: which signals the predict job may offer suggestions from."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from model.suggest import (
    LOW_CONFIDENCE,
    REASONS,
    SEGMENT_BORDER,
    UNLABELLED_ACTIVATION,
    rank_suggestions,
)
from server.config import Settings
from server.suggestions.compute import suggest_config
from tests.model.test_suggest import CAS, SCORES, SEGMENTS


def _settings(**kw: object) -> Settings:
    base: dict[str, object] = {
        "suggest_min_spacing_s": 1.5,
        "suggest_click_radius_s": 1.0,
        "suggest_min_score": 0.1,
    }
    return Settings(**(base | kw))  # type: ignore[arg-type]


def test_default_offers_the_four_model_signals_not_coverage() -> None:
    weights = suggest_config(Settings()).weights
    assert weights == {**dict.fromkeys(REASONS, 1.0), "coverage": 0.0}
    coverage = Settings(suggest_reasons="coverage")
    assert suggest_config(coverage).weights == {**dict.fromkeys(REASONS, 0.0), "coverage": 1.0}


def test_env_list_is_trimmed_deduplicated_and_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    value = " branch_disagreement,low_confidence , low_confidence"
    monkeypatch.setenv("BACKTAL_SUGGEST_REASONS", value)
    s = Settings()
    assert s.suggest_reasons == "branch_disagreement,low_confidence"
    assert suggest_config(s).weights == {
        "low_confidence": 1.0,
        "branch_disagreement": 1.0,
        "segment_border": 0.0,
        "unlabelled_activation": 0.0,
        "coverage": 0.0,
    }
    monkeypatch.setenv("BACKTAL_SUGGEST_REASONS", "low_confidence,borders")
    with pytest.raises(ValidationError, match="unknown suggestion signal borders: choose from"):
        Settings()
    monkeypatch.setenv("BACKTAL_SUGGEST_REASONS", " , ")
    with pytest.raises(ValidationError, match="BACKTAL_SUGGEST_PER_VIDEO=0 turns suggestions off"):
        Settings()


def test_left_out_signals_are_not_offered() -> None:
    # the hand-computed case of tests/model/test_suggest.py: 1.0 @ 2.5 (low confidence),
    # 0.3 @ 8.5 (unlabelled activation), 0.16 @ 5.5 (segment border)
    cfg = suggest_config(_settings())
    every = rank_suggestions(CAS, SCORES, SEGMENTS, 10.0, labels={0}, config=cfg)
    assert [(s.t_s, s.reason) for s in every] == [
        (2.5, LOW_CONFIDENCE),
        (8.5, UNLABELLED_ACTIVATION),
        (5.5, SEGMENT_BORDER),
    ]
    cfg = suggest_config(_settings(suggest_reasons="segment_border,unlabelled_activation"))
    got = rank_suggestions(CAS, SCORES, SEGMENTS, 10.0, labels={0}, config=cfg)
    assert [(s.t_s, s.reason) for s in got] == [
        (8.5, UNLABELLED_ACTIVATION),
        (5.5, SEGMENT_BORDER),
    ]
    only = suggest_config(_settings(suggest_reasons="low_confidence"))
    got = rank_suggestions(CAS, SCORES, SEGMENTS, 10.0, labels={0}, config=only)
    assert {s.reason for s in got} == {LOW_CONFIDENCE}
