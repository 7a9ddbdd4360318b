"""bench.qa_planted on a tiny sim whose predictions are written by hand: the correct clicks,
the number and place of planted errors, the product's flags, recall and precision, why
errors are missed, and the report (the planting rule and the pure parts by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import qa_planted as qa
from server.config import Settings
from tests.bench.tiny_runs import GTList, heldout_names, make_run_folder


def confident(name: str, gt: GTList) -> list[list[float]]:
    """Every GT instance at score 0.9, and a confident wrong segment over 28–32 s."""
    return [[s, e, c, 0.9] for s, e, c in gt] + [[28.0, 32.0, 0, 0.8]]


def timid(name: str, gt: GTList) -> list[list[float]]:
    """Every GT instance, but below the default min score (0.4)."""
    return [[s, e, c, 0.4] for s, e, c in gt]


def silent(name: str, gt: GTList) -> list[list[float]]:
    return []


RULES = {"bg-click:published": confident, "weak": timid, "action-click:published": silent}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run_folder(tmp_path_factory.mktemp("qa"), RULES)


def test_planting_rule_by_hand() -> None:
    gt = [(10.0, 20.0, 0), (40.0, 44.0, 0), (50.0, 51.5, 1), (58.0, 70.0, 1)]
    # the 1.5 s instance is too short; the last one, clipped to the video's 60 s, too
    assert qa.eligible_spans(gt, 60.0) == [(11.0, 19.0, 10.0, 20.0), (41.0, 43.0, 40.0, 44.0)]
    assert qa.eligible_spans(gt, 65.0)[2] == (59.0, 64.0, 58.0, 70.0)
    clicks = qa.plant([("v", 60.0, gt)], 4000, seed=3)
    assert clicks == qa.plant([("v", 60.0, gt)], 4000, seed=3)  # seeded
    assert clicks != qa.plant([("v", 60.0, gt)], 4000, seed=4)
    t = np.array([c.t_s for c in clicks])
    assert ((t >= 11.0) & (t <= 19.0) | (t >= 41.0) & (t <= 43.0)).all()
    assert min(c.depth_s or 0.0 for c in clicks) >= 1.0
    # an instance with probability ∝ its eligible length: 8 s against 2 s
    assert np.mean(t < 30) == pytest.approx(0.8, abs=0.03)
    assert {c.length_s for c in clicks} == {10.0, 4.0}
    assert qa.plant([("v", 60.0, [(0.0, 1.5, 0)])], 5, seed=0) == []
    # A1: 175 of 2264 clicks inside GT → 175 errors among its 2089 correct clicks
    assert qa.planted_count(2089, 175 / 2264) == 175
    assert qa.planted_count(2, 2 / 9) == 1 and qa.planted_count(3, 2 / 9) == 1


def test_cover_scores_and_miss_reasons_by_hand() -> None:
    segs = [(10.0, 20.0, 0, 0.9), (30.0, 40.0, 1, 0.3)]
    assert qa.cover_score(15.0, segs, 0.2) == 0.9
    assert qa.cover_score(10.1, segs, 0.2) == -1.0 and qa.cover_score(10.1, segs, 0.0) == 0.9
    assert qa.miss_reason(15.0, segs, 0.5, 0.2) is None
    assert qa.miss_reason(10.1, segs, 0.5, 0.2) == "edge margin"
    assert qa.miss_reason(35.0, segs, 0.5, 0.2) == "low score"
    assert qa.miss_reason(25.0, segs, 0.5, 0.2) == "uncovered"
    assert qa.gap_to_gt(25.0, [(10.0, 20.0, 0), (27.0, 30.0, 1)]) == 2.0
    assert qa.gap_to_gt(25.0, []) is None


def test_judged_clicks_by_hand(runs: Path) -> None:
    min_score, margin, tau = qa.server_defaults()
    settings = Settings()
    assert (min_score, margin, tau) == (
        settings.qa_min_score,
        settings.qa_margin_s,
        settings.qa_min_activation,
    )
    data = qa.load_sim(runs / "sim-v3" / "sim-seed0", None)
    assert (data.inside, data.total) == (2, 9)  # 15.0 and 8.0 lie inside an action
    [run0, run1] = [
        {"arm": "bg-click:published", "version": 3, "seed": s, "dir": str(runs)} for s in (0, 1)
    ]
    # seed 0 judges video 2 (clicks 8 (inside Throw 5–12: removed), 30, 40): 2 correct + 1
    # planted inside 6–11; seed 1 video 1 (5, 15 (inside), 30, 50): 3 correct + 1 planted
    assert heldout_names(0) == ["video_validation_0000002"]
    judged = qa.judge_run(run0, data, min_score, margin)
    rows = judged["clicks"]
    assert all("rules" not in r for r in rows)  # no curves: amendment 1's rules not judged
    assert [(r["t_s"], r["planted"]) for r in rows if not r["planted"]] == [
        (30.0, False),
        (40.0, False),
    ]
    [planted] = [r for r in rows if r["planted"]]
    assert 6.0 <= planted["t_s"] <= 11.0 and planted["length_s"] == 7.0
    # the GT segment flags the planted click, the wrong 28–32 s segment the click at 30 s
    assert [r["flagged"] for r in rows] == [True, False, True]
    c = qa.counts(rows)
    assert (c["tp"], c["fp"], c["recall"], c["precision"]) == (1, 1, 1.0, 0.5)
    assert all(r["flagged"] == (r["cover"] >= min_score) for r in rows)
    data1 = qa.load_sim(runs / "sim-v3" / "sim-seed1", None)
    c1 = qa.counts(qa.judge_run(run1, data1, min_score, margin)["clicks"])
    assert (c1["planted"], c1["correct"], c1["tp"], c1["fp"]) == (1, 3, 1, 1)
    timid_rows = qa.judge_run({**run0, "arm": "weak"}, data, min_score, margin)["clicks"]
    assert [r["miss"] for r in timid_rows if r["planted"]] == ["low score"]
    assert qa.counts(timid_rows)["tp"] == 0 and np.isnan(qa.counts(timid_rows)["precision"])
    assert qa.counts(timid_rows, 0.3)["recall"] == 1.0  # the curve: a lower min score
    silent_rows = qa.judge_run({**run0, "arm": "action-click:published"}, data, 0.5, 0.2)
    assert [r["miss"] for r in silent_rows["clicks"] if r["planted"]] == ["uncovered"]


def test_report_and_cli(runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # hand-written predictions have no checkpoint: the product's min activation cannot be
    # applied, and the run says so rather than judging with another rule
    with pytest.raises(SystemExit, match="needs the run's checkpoint"):
        qa.main(["--runs", str(runs), "--out-dir", str(out)])
    assert qa.main(["--runs", str(runs), "--out-dir", str(out), "--no-curves"]) == 0
    text = (out / "report.md").read_text()
    assert "A1's error rate ε = 0.2222" in text
    assert "margin 0.2 s, min activation none." in text
    assert "recall 100.0 ± 0.0 % (95 % CI [100.0, 100.0]), precision 50.0 ± 0.0 %" in text
    assert "the goal **holds**" in text
    assert "| bg-click:published | 0,1 | 1/2, 1/3 | 100.0, 100.0 |" in text
    assert "| weak | 0,1 | 1/2, 1/3 | 0.0, 0.0 |" in text
    assert "uncovered 0, low score 0, edge margin 0, low activation 0" in text
    assert (out / "qa-planted-v3.png").stat().st_size > 10_000
    stored = json.loads((out / "qa_planted.json").read_text())
    assert {r["arm"] for r in stored["runs"]} == set(RULES)
    other = tmp_path / "other.csv"
    other.write_text("URLID,URL,TagID,Tag,Start,End,Time,State\n")
    with pytest.raises(SystemExit, match="not the click file"):
        qa.main(["--runs", str(runs), "--out-dir", str(out), "--clicks", str(other), "--no-curves"])


def test_amendment_rules_by_hand() -> None:
    segs = [(10.0, 20.0, 0, 0.9), (12.0, 18.0, 1, 0.6), (30.0, 40.0, 1, 0.3)]
    curves = {0: ([11.0, 15.0, 19.0], [0.8, -0.4, 0.6])}  # class 1 has no curve
    # 13 s: class 0 reads 0.8 − 1.2 · 2/4 = 0.2; class 1 (no curve) is not filtered: +inf
    assert qa.activation_cover(13.0, segs, curves, 0.5, 0.2) == float("inf")
    assert qa.activation_cover(13.0, segs[:1], curves, 0.5, 0.2) == pytest.approx(0.2)
    assert qa.activation_cover(15.0, segs[:1], curves, 0.5, 0.2) == pytest.approx(-0.4)
    assert qa.activation_cover(35.0, segs, curves, 0.5, 0.2) is None  # only a timid segment
    assert qa.f1(0.5, 0.5) == 0.5 and qa.f1(1.0, 0.5) == pytest.approx(2 / 3)
    assert qa.f1(0.0, 0.0) == 0.0 and np.isnan(qa.f1(0.5, float("nan")))
    f = {
        3: {"segment": 0.40, "activation ≥ 0": 0.45, "activation ≥ 0.25": 0.44},
        2: {"segment": 0.50, "activation ≥ 0": 0.52, "activation ≥ 0.25": 0.55},
    }
    # means: τ 0 0.485, τ 0.25 0.495 → τ 0.25, which beats segment on both sims
    assert qa.choose_rule(f)[0] == "activation ≥ 0.25"
    f[3]["activation ≥ 0.25"] = 0.39  # best mean now τ 0 (0.485 vs 0.47); it beats both
    assert qa.choose_rule(f)[0] == "activation ≥ 0"
    f[2]["activation ≥ 0"] = 0.50  # the best mean (τ 0: 0.475) ties segment on v2: no change
    rule, why = qa.choose_rule(f)
    assert rule == "segment" and "does not beat `segment` on every sim" in why
    f[2].update({"activation ≥ 0": 0.60, "activation ≥ 0.25": 0.61})
    f[3]["activation ≥ 0.25"] = 0.44  # equal means (0.525): the smaller τ
    assert qa.choose_rule(f)[0] == "activation ≥ 0"
    with pytest.raises(ValueError, match="every rule"):
        qa.choose_rule({3: {"segment": 0.4}})


def test_rules_on_trained_checkpoints(tmp_path: Path) -> None:
    """Real (tiny) trainings of bench.click_losses: the curves are recomputed from each
    checkpoint, its held-out segments reproduce the stored ones, every click gets each rule's
    flag, a candidate flags a subset of what `segment` flags, and the choice is written."""
    from bench import click_losses as cl
    from tests.bench.test_click_losses import CLICKS, _settings
    from tests.model.tiny_thumos import write_inputs

    gt, clicks = write_inputs(tmp_path, CLICKS)
    out = tmp_path / "runs"
    cl.run_benchmark(_settings(gt, clicks), [qa.RULE_ARM], [3, 2], [0], gt, clicks, out, 1, print)
    run = {"arm": qa.RULE_ARM, "version": 3, "seed": 0, "dir": str(out)}
    curves = qa.heldout_curves(run)
    assert curves is not None
    held = cl.load_preds(out, qa.RULE_ARM, 3, 0, "heldout")
    assert set(curves) == set(held)
    times, values = next(iter(curves.values()))[0]
    assert len(times) == len(values) == 40  # T = 40 snippets: ≤ 400 points, kept
    report_dir = tmp_path / "report"
    assert qa.main(["--runs", str(out), "--out-dir", str(report_dir)]) == 0
    stored = json.loads((report_dir / "qa_planted.json").read_text())
    rows = [r for run in stored["runs"] for r in run["clicks"]]
    assert rows and all(set(r["rules"]) == set(qa.QA_RULES) for r in rows)
    # every segment counts as confident here (the tiny model's scores are low): the rules
    # then see clicks inside segments, with activations on both sides of the thresholds
    data = qa.load_sim(out / "sim-v3" / "sim-seed0", None)
    rows = qa.judge_run(run, data, -10.0, 0.0, None, curves)["clicks"]
    inside = [r for r in rows if r["activation"] is not None]
    assert any(r["activation"] < 0.25 for r in inside)
    for r in rows:
        assert r["rules"]["segment"] == r["flagged"]  # no min activation: today's rule
        assert r["rules"]["activation ≥ 0.25"] <= r["rules"]["activation ≥ 0"] <= r["flagged"]
        a = r["activation"]
        assert r["rules"]["activation ≥ 0"] == (a is not None and a >= 0.0)
        assert r["rules"]["activation ≥ 0.25"] == (a is not None and a >= 0.25)
    assert qa.judge_run(run, data, -10.0, 0.0, 0.25, curves)["clicks"] == [
        {**r, "flagged": r["rules"]["activation ≥ 0.25"]} for r in rows
    ]
    text = (report_dir / "report.md").read_text()
    assert "## Amendment 1" in text and "**sim v2, `bg-click:published`**" in text
    choice = json.loads((report_dir / "rule_choice.json").read_text())
    assert choice["rule"] in qa.QA_RULES and set(choice["pooled_f1"]) == {"2", "3"}
    # a checkpoint that does not reproduce the stored predictions is refused
    path = out / "preds" / f"{cl.run_id(cl.Arm.parse(qa.RULE_ARM), 3, 0)}-heldout.json"
    preds = json.loads(path.read_text())
    name = next(n for n, segs in preds.items() if segs)
    preds[name][0][0] += 1.0
    path.write_text(json.dumps(preds))
    with pytest.raises(SystemExit, match="does not reproduce"):
        qa.heldout_curves(run)
