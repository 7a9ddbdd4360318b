"""``BACKTAL_SUGGEST_REASONS``: which signals the predict job may offer suggestions from."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from model.suggest import (
    LOW_CONFIDENCE,
    MODEL_SIGNALS,
    PRODUCT_RULE,
    REASONS,
    RULES,
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


def test_default_is_the_rule_the_benchmark_chose() -> None:
    # docs/research/guided.md (2026-12-06): only-coverage, chosen on held-out videos; the
    # server's defaults are that rule's weights and floor, the same object bench.suggest_rules
    # ranks with
    assert PRODUCT_RULE == "only-coverage"
    cfg = suggest_config(Settings())
    assert cfg.weights == {**dict.fromkeys(REASONS, 0.0), "coverage": 1.0}
    assert dict(cfg.weights) == RULES[PRODUCT_RULE][0] and cfg.min_score == RULES[PRODUCT_RULE][1]
    assert cfg.min_score == 0.01
    # the first design's mix stays one setting away
    first = suggest_config(Settings(suggest_reasons=",".join(MODEL_SIGNALS), suggest_min_score=0.2))
    on = {k for k, w in first.weights.items() if w > 0}
    assert on == {k for k, w in RULES["default"][0].items() if w > 0} == set(MODEL_SIGNALS)
    assert first.min_score == RULES["default"][1]


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
    cfg = suggest_config(_settings(suggest_reasons=",".join(MODEL_SIGNALS)))
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
