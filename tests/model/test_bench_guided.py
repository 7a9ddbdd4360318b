"""bench/guided.py: the simulated annotator, the baselines, the goals, and a smoke run of the
whole loop on a tiny generated THUMOS14-sim (every arm, 2 rounds, resumable)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.model import tiny_thumos
from tests.model.tiny_thumos import bench_settings, write_inputs

bench = tiny_thumos.load_bench("guided")
sup = bench.sup

# 8 background clicks on the training videos; the one at 15 s lies inside Jump (10-20 s)
A1 = [
    ("video_validation_0000001", 2.0),
    ("video_validation_0000001", 15.0),
    ("video_validation_0000001", 30.0),
    ("video_validation_0000001", 50.0),
    ("video_validation_0000002", 2.0),
    ("video_validation_0000002", 30.0),
    ("video_validation_0000003", 12.0),
    ("video_validation_0000003", 35.0),
]


def _inputs(folder: Path, clicks: list[tuple[str, float]] = A1) -> tuple[Path, Path]:
    return write_inputs(folder, clicks)


def _settings(gt: Path, clicks: Path, epochs: int = 2):
    return bench_settings(sup.Settings, gt, clicks, epochs=epochs)


def _options(error_rate: float = 0.125, **kw):
    base = {
        "schedule": (0.5, 1.0),
        "k": 4,
        "error_rate": error_rate,
        "error_rate_source": "test",
        "min_score": 0.0,  # the 2-epoch model is unsure everywhere: take whatever it ranks
    }
    return bench.GuidedOptions(**{**base, **kw})


def _item(name: str, duration: float, segments, clicks=(), T: int = 20):
    return bench.VideoItem(
        name=name,
        features=np.zeros((T, 0), dtype=np.float32),
        labels=np.ones(2, dtype=np.float32),
        fps=30.0,
        duration=duration,
        frame_num=int(duration * 30),
        bg_clicks=np.asarray(clicks, dtype=np.int64),
        gt_segments=list(segments),
    )


# ----------------------------------------------------------------------------- pieces
def test_a1_error_rate_counts_background_clicks_inside_gt_on_training_videos(
    tmp_path: Path,
) -> None:
    on_test = [("video_test_0000001", 35.0)]  # inside GT, but a test video: not counted
    gt, csv = _inputs(tmp_path, [*A1, *on_test])
    share, inside, clicks = bench.a1_error_rate(gt, csv)
    assert (inside, clicks) == (1, 8) and share == pytest.approx(1 / 8)


def test_the_real_a1_share_is_as_documented() -> None:
    gt, csv = sup.DEFAULT_GT, sup.DEFAULT_CLICKS
    if not (gt.exists() and csv.exists()):
        pytest.skip("THUMOS14 files not present")
    share, inside, clicks = bench.a1_error_rate(gt, csv)
    assert (inside, clicks) == (175, 2264) and share == pytest.approx(0.0773, abs=1e-4)


def test_perfect_annotator_clicks_background_passes_actions_and_stops_at_target() -> None:
    # 20 snippets over 20 s: snippet k is centred at k + 0.5 s; GT action 5-10 s
    items = [_item("a", 20.0, [(5.0, 10.0, 0)]), _item("b", 20.0, [])]
    suggestions = {
        "a": [[7.5, 0.9, "low_confidence"], [12.5, 0.8, "low_confidence"], [1.5, 0.3, "x"]],
        "b": [[3.5, 0.9, "low_confidence"], [15.5, 0.5, "x"]],
    }
    start = bench.RoundState({}, {}, {})
    st = bench.simulate_round(
        items, suggestions, start, target=3, error_rate=0.0, seed=0, round_index=1
    )
    # rank 1 of both videos (7.5 s in "a" is inside the action: a pass), then rank 2 until 3 clicks
    assert st.clicks == {"a": [12], "b": [3, 15]}
    assert st.passed == {"a": [7.5]}
    assert st.total == 3 and st.stats["errors"] == 0 and st.stats["shortfall"] == 0
    assert st.stats["answered"] == 4 and st.stats["passes"] == 1
    # the next round starts from these clicks; not enough suggestions: a shortfall
    more = {"a": [[1.5, 0.3, "x"]], "b": []}
    st2 = bench.simulate_round(items, more, st, target=10, error_rate=0.0, seed=0, round_index=2)
    assert st2.clicks == {"a": [1, 12], "b": [3, 15]} and st2.stats["shortfall"] == 6
    assert st.clicks == {"a": [12], "b": [3, 15]}  # the previous state is not modified


def test_annotator_errors_match_the_error_rate_in_expectation() -> None:
    # 40 videos, each: 3 background suggestions and 1 inside the action -> B/A = 3
    items = [_item(f"v{i:02d}", 20.0, [(5.0, 10.0, 0)]) for i in range(40)]
    sugg = {
        it.name: [[7.5, 0.9, "x"], [1.5, 0.8, "x"], [12.5, 0.7, "x"], [16.5, 0.6, "x"]]
        for it in items
    }
    start = bench.RoundState({}, {}, {})
    shares = []
    for seed in range(20):
        st = bench.simulate_round(items, sugg, start, 10**6, 0.2, seed, 1)
        # p = 0.2 / 0.8 * 3 = 0.75 of the action moments are clicked
        assert st.stats["p_error"] == pytest.approx(0.75)
        assert st.stats["new_clicks"] == 120 + st.stats["errors"]
        shares.append(st.stats["new_inside_share"])
    assert np.mean(shares) == pytest.approx(0.2, abs=0.02)
    # a target met early: p is matched on the suggestions answered, not the whole pool
    early = bench.simulate_round(items, sugg, start, 50, 0.2, 0, 1)  # rank 1: all action
    s = early.stats
    assert s["clicks"] == 50 and s["answered"] < 160
    expected = bench._error_probability(
        0.2, s["answered"] - s["answered_inside_gt"], s["answered_inside_gt"]
    )
    assert s["p_error"] == pytest.approx(expected, abs=1e-4)
    st = bench.simulate_round(items, sugg, start, 10**6, 0.2, 3, 1)
    again = bench.simulate_round(items, sugg, start, 10**6, 0.2, 3, 1)
    assert st.clicks == again.clicks  # seeded


def test_baselines_have_the_requested_counts_and_are_nested() -> None:
    items = [
        _item("a", 20.0, [(5.0, 10.0, 0)], clicks=[1, 2, 3, 15]),
        _item("b", 20.0, [(0.0, 19.0, 1)], clicks=[19]),
        _item("c", 20.0, [], clicks=[4, 6]),
    ]
    assert bench.a1_clicks(items) == {"a": [1, 2, 3, 15], "b": [19], "c": [4, 6]}
    small, large = bench.a1_subset(items, 3, 0), bench.a1_subset(items, 5, 0)
    assert sum(map(len, small.values())) == 3 and sum(map(len, large.values())) == 5
    for name, ks in small.items():
        assert set(ks) <= set(large[name]) <= set(bench.a1_clicks(items)[name])
    assert sum(map(len, bench.a1_subset(items, 99, 0).values())) == 7  # capped at A1's

    counts = {"a": 3, "b": 5, "c": 2}
    rb = bench.random_background(items, counts, 0)
    assert len(rb["a"]) == 3 and len(rb["c"]) == 2
    assert rb["b"] == [19]  # only snippet 19 (centre 19.5 s) is outside 0-19 s: capped
    assert not set(rb["a"]) & set(range(5, 10))  # centres 5.5 .. 9.5 are inside the action
    more = bench.random_background(items, {"a": 6}, 0)
    assert set(rb["a"]) <= set(more["a"])
    assert bench.random_background(items, counts, 1) != rb  # seeded by the seed


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
    got = {g["goal"]: g for g in bench.goals(payload)}
    a = got["guided ≤ 755 clicks ≥ a1-all (2264 clicks)"]
    assert a["guided_clicks"] == 755 and a["delta"] == pytest.approx(-0.005) and not a["met"]
    b = got["guided ≤ 755 clicks ≥ weak + 3"]
    assert b["delta"] == pytest.approx(0.04) and b["met"]
    c = got["guided with 2264 clicks ≥ a1-all + 3"]
    assert c["guided_clicks"] == 2264 and c["delta"] == pytest.approx(0.035) and c["met"]


def test_options_quick_schedule_lookalike_and_measured_error_rate(tmp_path: Path) -> None:
    gt, csv = _inputs(tmp_path)
    parser = bench.build_parser()
    args = parser.parse_args(["--quick", "--gt", str(gt), "--clicks", str(csv)])
    settings, options = bench.options_from_args(args)
    assert settings.seeds == (0,) and settings.limit == 60 and settings.epochs == 10
    assert len(options.schedule) == 2 and options.error_rate == pytest.approx(1 / 8)
    assert options.error_rate_source == "A1 measured"
    args = parser.parse_args(
        ["--gt", str(gt), "--clicks", str(csv), "--lookalike-rate", "2", "--error-rate", "0"]
    )
    settings, options = bench.options_from_args(args)
    assert settings.key()["sim_params"]["lookalike_rate_per_min"] == 2.0
    assert len(options.schedule) == 4 and options.error_rate == 0.0
    assert round(options.schedule[1] * 2264) == 755
    with pytest.raises(SystemExit):
        bench.options_from_args(
            parser.parse_args(["--gt", str(gt), "--clicks", str(csv), "--schedule", "0.5", "0.2"])
        )


# ----------------------------------------------------------------------------- smoke run
def test_smoke_every_arm_two_rounds_resumable(tmp_path: Path) -> None:
    gt, csv = _inputs(tmp_path)
    settings, options = _settings(gt, csv), _options()
    out = tmp_path / "bench"
    payload = bench.run_benchmark(settings, options, gt, csv, out, log=lambda _: None)

    runs = {(r["arm"], r["round"]): r for r in payload["runs"]}
    expected = {("weak", 0), ("a1-all", None), ("a1-qa", None)}
    expected |= {(arm, r) for arm in bench.ROUND_ARMS for r in (1, 2)}
    assert set(runs) == expected and len(payload["runs"]) == len(expected)
    assert payload["a1_clicks"] == {"0": 8} and payload["targets"] == {"0": [4, 8]}
    assert payload["a1_snippets"] == {"0": 8}
    for run in payload["runs"]:
        assert set(run["test"]["mAP"]) == {f"{t:g}" for t in sup.TIOUS}
        assert run["cpu_s"] >= 0 and run["total_s"] >= run["train_s"]
    assert runs["weak", 0]["clicks"] == 0 and "suggestions" in runs["weak", 0]
    assert "suggestions" in runs["guided", 1] and "suggestions" not in runs["guided", 2]
    assert runs["a1-all", None]["clicks"] == 8 and runs["a1-all", None]["clicks_inside_gt"] == 1
    annotation = payload["annotation"]["0"]
    assert [a["round"] for a in annotation] == [1, 2]
    for r, stats in zip((1, 2), annotation, strict=True):
        guided = runs["guided", r]["clicks"]
        assert guided == stats["clicks"] <= stats["target"]
        # baselines at the same click count (random-bg: the same count per video)
        assert runs["a1-subset", r]["clicks"] == guided == runs["random-bg", r]["clicks"]
        assert runs["random-bg", r]["clicks_inside_gt"] == 0
    assert runs["guided", 2]["clicks"] >= runs["guided", 1]["clicks"]

    qa = runs["a1-all", None]["qa"]
    assert qa["clicks"] == 8 and qa["inside_gt"] == 1
    assert runs["a1-qa", None]["clicks"] == 8 - qa["flagged"]

    md = (out / "guided.md").read_text()
    for heading in ("Must-show goals", "Click QA", "Simulated annotation per round", "CPU min"):
        assert heading in md
    assert "| guided | 2 | 0 |" in md and "| a1-all |" in md
    saved = json.loads((out / "guided.json").read_text())
    assert saved["settings"] == bench.results_key(settings, options)
    assert (out / "guided.png").stat().st_size > 0

    # a rerun with the same settings trains nothing; changed options start afresh
    logs: list[str] = []
    again = bench.run_benchmark(settings, options, gt, csv, out, log=logs.append)
    assert again["runs"] == saved["runs"] and not any(m.endswith(": training") for m in logs)
    assert bench.results_key(settings, _options(k=3)) != saved["settings"]


def test_parallel_jobs_give_the_same_runs_as_one_process(tmp_path: Path) -> None:
    gt, csv = _inputs(tmp_path)
    settings, options = _settings(gt, csv, epochs=1), _options()
    one = bench.run_benchmark(settings, options, gt, csv, tmp_path / "one", log=lambda _: None)
    two = bench.run_benchmark(
        settings, options, gt, csv, tmp_path / "two", log=lambda _: None, jobs=2
    )

    def strip(runs):  # timings differ, everything else must not
        return [{k: v for k, v in r.items() if not k.endswith("_s")} for r in runs]

    assert strip(two["runs"]) == strip(one["runs"])
    assert two["annotation"] == one["annotation"]


def test_baseline_rounds_limit_the_baselines_only(tmp_path: Path) -> None:
    """``baseline_rounds``: the baselines at those rounds' click counts only; the guided chain
    and the references run as always, and the results key is unchanged (a resume with or
    without the option reuses what exists)."""
    gt, csv = _inputs(tmp_path)
    settings, options = _settings(gt, csv, epochs=1), _options()
    out = tmp_path / "b"
    payload = bench.run_benchmark(
        settings, options, gt, csv, out, log=lambda _: None, baseline_rounds=[2]
    )
    runs = {(r["arm"], r["round"]) for r in payload["runs"]}
    assert runs == {
        ("weak", 0),
        ("guided", 1),
        ("guided", 2),
        ("a1-subset", 2),
        ("random-bg", 2),
        ("a1-all", None),
        ("a1-qa", None),
    }
    logs: list[str] = []
    full = bench.run_benchmark(settings, options, gt, csv, out, log=logs.append)
    trained = [m for m in logs if m.endswith(": training")]
    assert len(trained) == 2 and all("round 1" in m for m in trained), trained
    assert len(full["runs"]) == 9


def test_click_places_by_distance_to_the_nearest_instance() -> None:
    """GT instances [10, 20] and [30, 31]; clicks at 10 (on the edge: inside), 25 (5 s from
    the first, 5 s from the second: farther), 9.2 (0.8 s before: ≤ 1 s), 29 (1 s before
    the second: ≤ 1 s), 33.5 (2.5 s after: 1–3 s), 40 (9 s: farther)."""
    segments = [(10.0, 20.0, 0), (30.0, 31.0, 1)]
    times = [10.0, 25.0, 9.2, 29.0, 33.5, 40.0]
    assert bench.click_places(segments, times) == [1, 2, 1, 2]
    assert bench.click_places(None, [1.0, 2.0]) == [0, 0, 0, 2]
    assert bench.click_places(segments, []) == [0, 0, 0, 0]


def test_qa_by_the_weak_model(tmp_path: Path) -> None:
    """``qa_weak``: the weak model retrained (the same model: same seed, deterministic) checks
    A1's clicks, and bg-click is retrained without the clicks it flags."""
    gt, csv = _inputs(tmp_path)
    settings, options = _settings(gt, csv, epochs=1), _options()
    payload = bench.run_benchmark(
        settings,
        options,
        gt,
        csv,
        tmp_path / "q",
        log=lambda _: None,
        baseline_rounds=[],
        qa_weak=True,
    )
    runs = {(r["arm"], r["round"]): r for r in payload["runs"]}
    weak, weak_qa, after = runs["weak", 0], runs["weak-qa", None], runs["a1-qa-weak", None]
    assert weak_qa["test"] == weak["test"] and weak_qa["clicks"] == 0
    qa = weak_qa["qa"]
    assert qa["clicks"] == 8 and qa["inside_gt"] == 1
    assert after["clicks"] == 8 - qa["flagged"]
    md = bench.render(payload)
    assert "| weak (no clicks) |" in md and "| a1-all (active) |" in md
