"""bench.lab.guided_report: the must-show goals, where the clicks lie, and the QA table, by
hand from made-up payloads."""

from __future__ import annotations

import pytest

from bench.lab import guided_report


def test_goals_are_judged_on_map_at_05() -> None:
    def run(arm, r, clicks, m05):
        return {"arm": arm, "seed": 0, "round": r, "clicks": clicks, "test": {"mAP": {"0.5": m05}}}

    payload = {
        "a1_clicks": {"0": 2264},
        "runs": [
            run("weak", 0, 0, 0.30),
            run("guided", 1, 377, 0.31),
            run("guided", 2, 755, 0.34),
            run("guided", 3, 1509, 0.36),
            run("guided", 4, 2264, 0.38),
            run("a1-all", None, 2264, 0.345),
        ],
    }
    got = {g["goal"]: g for g in guided_report.goals(payload)}
    a = got["guided ≤ 755 clicks ≥ a1-all (2264 clicks)"]
    assert a["guided_clicks"] == 755 and a["delta"] == pytest.approx(-0.005) and not a["met"]
    b = got["guided ≤ 755 clicks ≥ weak + 3"]
    assert b["delta"] == pytest.approx(0.04) and b["met"]
    c = got["guided with 2264 clicks ≥ a1-all + 3"]
    assert c["guided_clicks"] == 2264 and c["delta"] == pytest.approx(0.035) and c["met"]


def test_places_pool_the_seeds_and_order_the_rounds() -> None:
    payload = {
        "places": {
            "0": {"a1-all": [1, 1, 0, 2], "guided 1": [0, 2, 0, 2]},
            "1": {"a1-all": [1, 0, 0, 3], "guided 1": [0, 0, 0, 4]},
        }
    }
    lines = guided_report.places_table(payload).splitlines()
    assert lines[2] == "| guided 1 | 8 | 0.0 % | 25.0 % | 0.0 % | 75.0 % |"
    assert lines[3] == "| a1-all | 8 | 25.0 % | 12.5 % | 0.0 % | 62.5 % |"  # no round: last


def test_qa_table_sets_the_retraining_beside_a1_all() -> None:
    def run(arm, m05, avg, **extra):
        return {"arm": arm, "seed": 0, "round": None, "clicks": 10,
                "test": {"mAP": {"0.5": m05}, "avg_0.1_0.7": avg}, **extra}  # fmt: skip

    qa = {"clicks": 10, "inside_gt": 2, "flagged": 4, "flagged_inside_gt": 1,
          "precision": 0.25, "recall": 0.5}  # fmt: skip
    payload = {"runs": [run("a1-all", 0.30, 0.31, qa=qa), run("a1-qa", 0.33, 0.35)]}
    line = guided_report.qa_table(payload).splitlines()[-1]
    assert line == (
        "| 0 | a1-all (active) | 10 | 2 | 4 | 1 | 25.0 % | 50.0 % | 10 | 30.0 → 33.0 | +4.0 |"
    )
