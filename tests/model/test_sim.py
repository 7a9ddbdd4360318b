"""THUMOS14-sim on a tiny handmade GT + click CSV (and, when present, the real files)."""

from __future__ import annotations

import argparse
import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from model import sim
from model.sim import IGNORE, SimParams, VideoGT

CLASSES = ["Jump", "Throw"]
V1, V2, TEST = "video_validation_0000001", "video_validation_0000002", "video_test_0000001"
GT = {
    "database": {
        V1: {
            "subset": "validation",
            "fps": 30,
            "duration": 100.0,
            "annotations": [
                {"segment": [10.0, 20.0], "label": "Jump", "idx": 0},
                {"segment": [50.0, 52.0], "label": "Throw", "idx": 1},
                {"segment": [80.0, 80.05], "label": "Jump", "idx": 0},  # shorter than a snippet
            ],
        },
        V2: {
            "subset": "validation",
            "fps": 25,
            "duration": 60.0,
            "annotations": [
                {"segment": [5.0, 15.0], "label": "Throw", "idx": 1},
            ],
        },
        TEST: {
            "subset": "testing",
            "fps": 30,
            "duration": 40.0,
            "annotations": [
                {"segment": [10.0, 12.0], "label": "Jump", "idx": 0},
            ],
        },
    },
    "activity_list": CLASSES,
}
BG = "20,background_background"
CSV_ROWS = [
    f"{V1},{V1}.mp4,{BG},3,3,1,1",
    f"{V1},{V1}.mp4,{BG},33.3,33.3,2,1",
    f"{V1},{V1}.mp4,{BG},40,42.5,1,1",  # interval: snippets 40..42
    f"{V1},{V1}.mp4,{BG},100,100,1,1",  # at the very end -> T-1
    f"{V1},{V1}.mp4,0,Jump,15,15,1,1",  # not a background tag: skipped
    f"{V2},{V2}.mp4,{BG},30,30,1,1",
    f"{V2},{V2}.mp4,{BG},59.7,59.7,1,1",
    f"{V2},{V2}.mp4,{BG},0,0,1,1",
    f"video_validation_9999999,video_validation_9999999.mp4,{BG},1,1,1,1",  # unknown video
]
HEADER = "URLID,URL,TagID,Tag,Start,End,Time,State"
# T = 100: V1 (100 s) -> floor(t); V2 (60 s) -> floor(t / 60 * 100).
EXPECTED_BG = {V1: [3, 33, 40, 41, 42, 99], V2: [0, 50, 99]}
PARAMS = SimParams(feature_dim=32, T=100)


def write_inputs(folder: Path, rows: list[str] = CSV_ROWS) -> tuple[Path, Path]:
    gt, clicks = folder / "gt.json", folder / "clicks.csv"
    gt.write_text(json.dumps(GT), encoding="utf-8")
    clicks.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8-sig")  # with BOM
    return gt, clicks


def run(folder: Path, seed: int = 0, params: SimParams = PARAMS, **kw: object) -> dict:
    gt, clicks = write_inputs(folder)
    with pytest.warns(UserWarning, match="video_validation_9999999"):
        return sim.make_sim(gt, clicks, folder / "out", seed, params, progress=False, **kw)


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sim")
    run(folder)
    return folder / "out"


def load(out: Path, split: str, vid: str) -> dict[str, np.ndarray]:
    with np.load(out / split / f"{vid}.npz") as z:
        return {k: z[k] for k in z.files}


def test_layout_keys_and_dtypes(out: Path) -> None:
    assert sorted(p.name for p in (out / "val").iterdir()) == [f"{V1}.npz", f"{V2}.npz"]
    assert sorted(p.name for p in (out / "test").iterdir()) == [f"{TEST}.npz"]
    assert json.loads((out / "classes.json").read_text()) == CLASSES
    gt = json.loads((out / "gt.json").read_text())
    assert gt["activity_list"] == CLASSES
    assert {k: v["subset"] for k, v in gt["database"].items()} == {
        V1: "val",
        V2: "val",
        TEST: "test",
    }
    assert gt["database"][V1]["annotations"] == GT["database"][V1]["annotations"]
    cfg = json.loads((out / "sim_config.json").read_text())
    assert cfg["seed"] == 0 and cfg["params"]["T"] == 100 and cfg["params"]["feature_dim"] == 32
    assert len(cfg["gt"]["sha256"]) == len(cfg["clicks"]["sha256"]) == 64
    assert cfg["skipped_click_rows"] == {
        "unknown_video": 1,
        "test_video": 0,
        "not_background": 1,
        "state_0": 0,
    }

    z = load(out, "val", V1)
    assert set(z) == {
        "feat_spa",
        "feat_tem",
        "cls_label",
        "point_label",
        "action_point_label",
        "gt_segments",
        "frame_num",
        "fps",
        "duration",
        "vid_name",
    }
    assert z["feat_spa"].shape == z["feat_tem"].shape == (16, 100)
    assert z["feat_spa"].dtype == z["feat_tem"].dtype == np.float32
    assert (z["feat_spa"] >= 0).all() and (z["feat_tem"] >= 0).all()
    assert 0.1 < z["feat_spa"].mean() < 1.0
    assert z["cls_label"].dtype == np.float32 and z["cls_label"].tolist() == [1.0, 1.0]
    assert z["point_label"].dtype == z["action_point_label"].dtype == np.int64
    assert z["point_label"].shape == z["action_point_label"].shape == (100,)
    assert z["gt_segments"].dtype == np.float32
    np.testing.assert_allclose(z["gt_segments"], [[10, 20, 0], [50, 52, 1], [80, 80.05, 0]])
    assert int(z["frame_num"]) == 3000 and float(z["fps"]) == 30.0
    assert float(z["duration"]) == 100.0 and str(z["vid_name"]) == V1
    assert load(out, "val", V2)["cls_label"].tolist() == [0.0, 1.0]


def test_background_clicks_at_hand_computed_snippets(out: Path) -> None:
    for vid, idx in EXPECTED_BG.items():
        lab = load(out, "val", vid)["point_label"]
        assert np.flatnonzero(lab != IGNORE).tolist() == idx
        assert (lab[idx] == len(CLASSES)).all()


def test_default_T_click_rule() -> None:
    assert sim.snippet_index(21.5, 100.0, 750) == 161  # floor(161.25)
    assert sim.snippet_index(100.0, 100.0, 750) == 749
    assert sim.snippet_index(-0.1, 100.0, 750) == 0


def test_test_split_has_no_clicks(out: Path) -> None:
    z = load(out, "test", TEST)
    assert (z["point_label"] == IGNORE).all() and (z["action_point_label"] == IGNORE).all()
    assert z["cls_label"].tolist() == [1.0, 0.0]


def test_one_action_click_inside_each_instance(out: Path) -> None:
    for vid in (V1, V2):
        z = load(out, "val", vid)
        lab, dur, T = z["action_point_label"], float(z["duration"]), 100
        hits = np.flatnonzero(lab != IGNORE)
        assert len(hits) == len(z["gt_segments"])  # one per instance (none collide here)
        for (s, e, c), j in zip(sorted(z["gt_segments"].tolist()), hits, strict=True):
            assert lab[j] == int(c)
            assert sim.snippet_index(s, dur, T) <= j <= sim.snippet_index(e, dur, T)


def test_deterministic_for_a_seed_and_different_across_seeds(out: Path, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    run(tmp_path / "a", seed=0)
    run(tmp_path / "b", seed=1)
    for split, vid in (("val", V1), ("val", V2), ("test", TEST)):
        ref, same = load(out, split, vid), load(tmp_path / "a" / "out", split, vid)
        for k in ref:
            np.testing.assert_array_equal(ref[k], same[k])
        name = f"{vid}.npz"
        assert (out / split / name).read_bytes() == (tmp_path / "a/out" / split / name).read_bytes()
        other = load(tmp_path / "b" / "out", split, vid)
        assert not np.array_equal(ref["feat_spa"], other["feat_spa"])
        assert not np.array_equal(ref["feat_tem"], other["feat_tem"])
        np.testing.assert_array_equal(ref["point_label"], other["point_label"])  # real clicks
    video = VideoGT("v", "val", 30.0, 1000.0, (sim.Instance(100.0, 400.0, 1),))
    draws = {int(np.flatnonzero(sim.action_clicks(video, s, 750)[0] == 1)[0]) for s in range(4)}
    assert len(draws) > 1  # the action click moves with the seed (300 s wide instance)


def test_unknown_video_warns_strict_raises_wrong_file_fails(tmp_path: Path) -> None:
    gt, clicks = write_inputs(tmp_path)
    with pytest.raises(ValueError, match="absent from the GT"):
        sim.make_sim(gt, clicks, tmp_path / "o1", 0, PARAMS, progress=False, strict=True)
    only_unknown = [r for r in CSV_ROWS if r.startswith("video_validation_9999999")]
    gt, clicks = write_inputs(tmp_path, only_unknown)
    with warnings.catch_warnings(), pytest.raises(ValueError, match="wrong file"):
        warnings.simplefilter("ignore")
        sim.make_sim(gt, clicks, tmp_path / "o2", 0, PARAMS, progress=False)
    clicks.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a COIN click CSV"):
        sim.read_click_csv(clicks)


def test_limit_and_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, clicks = write_inputs(tmp_path)
    args = argparse.Namespace(
        gt=str(gt),
        clicks=str(clicks),
        out=str(tmp_path / "o"),
        seed=3,
        feature_dim=8,
        T=50,
        limit=1,
        quiet=True,
    )
    with pytest.warns(UserWarning):
        assert sim.main(args) == 0
    assert [p.name for p in (tmp_path / "o/val").iterdir()] == [f"{V1}.npz"]
    assert [p.name for p in (tmp_path / "o/test").iterdir()] == [f"{TEST}.npz"]
    assert load(tmp_path / "o", "val", V1)["feat_spa"].shape == (4, 50)
    assert set(json.loads((tmp_path / "o/gt.json").read_text())["database"]) == {V1, TEST}
    assert "wrote 1 val + 1 test" in capsys.readouterr().out


def cosine(proto: np.ndarray, x: np.ndarray) -> np.ndarray:  # (d,), (d, T) -> (T,)
    return (proto @ x) / np.linalg.norm(proto) / np.linalg.norm(x, axis=0)


@pytest.mark.parametrize("seed", [0, 6])
def test_action_features_point_to_their_class_prototype(seed: int) -> None:
    params = SimParams(feature_dim=128, T=300)  # 1 snippet = 1 s
    world = sim.make_world(seed, CLASSES, params)
    video = VideoGT(
        "video_validation_0000007",
        "val",
        30.0,
        300.0,
        (sim.Instance(100.0, 130.0, 0), sim.Instance(200.0, 220.0, 1)),
    )
    spa, tem = sim.simulate_features(video, world, seed, params)  # (d, T) each
    bg = np.ones(300, dtype=bool)
    bg[80:150] = bg[180:240] = False  # instances and their context
    for feat, proto in ((spa, world.app_proto), (tem, world.mot_proto)):
        x = feat - np.median(feat[:, bg], axis=1, keepdims=True)  # remove the video's scene
        for inst in video.instances:
            inside = slice(int(inst.start) + 2, int(inst.end) - 2)
            own = cosine(proto[inst.cls], x)
            assert own[inside].mean() > own[bg].mean() + 0.1
            assert own[inside].mean() > cosine(proto[1 - inst.cls], x)[inside].mean() + 0.05


def test_context_shares_the_look_not_the_motion() -> None:
    params = SimParams(
        feature_dim=128,
        T=600,
        ctx_pre_median_s=6.0,
        ctx_len_sigma=0.0,
        camera_rate_per_min=0.0,
        distractor_rate_per_min=0.0,
        app_shot_std=0.0,
    )
    world = sim.make_world(0, CLASSES, params)
    starts = range(50, 600, 100)
    video = VideoGT("v", "val", 30.0, 600.0, tuple(sim.Instance(s, s + 20.0, 0) for s in starts))
    spa, tem = sim.simulate_features(video, world, 0, params)  # 1 snippet = 1 s
    bg, ctx, act = np.ones(600, bool), np.zeros(600, bool), np.zeros(600, bool)
    for s in starts:
        bg[s - 20 : s + 30] = False
        ctx[s - 4 : s] = True  # mean context weight ~0.63: expect ~0.38 (look), ~0.09 (motion)
        act[s + 3 : s + 17] = True
    rel = {}
    for name, feat, proto in (("app", spa, world.app_proto), ("mot", tem, world.mot_proto)):
        cos = cosine(proto[0], feat - np.median(feat[:, bg], axis=1, keepdims=True))
        rel[name] = (cos[ctx].mean() - cos[bg].mean()) / (cos[act].mean() - cos[bg].mean())
    assert rel["app"] > 0.2 and rel["mot"] < 0.2 and rel["app"] > rel["mot"] + 0.1


def test_lookalikes_add_the_own_look_outside_instances_only() -> None:
    """Sim v3: look-alikes carry the video's own class look (and a little of its motion),
    never inside an instance, and change nothing else (their own random stream)."""
    base = SimParams(
        feature_dim=128,
        T=600,
        camera_rate_per_min=0.0,
        distractor_rate_per_min=0.0,
        lookalike_rate_per_min=0.0,  # sim v2
    )
    world = sim.make_world(0, CLASSES, base)
    starts = (100.0, 300.0, 500.0)
    video = VideoGT("v", "val", 30.0, 600.0, tuple(sim.Instance(s, s + 20.0, 0) for s in starts))
    v2 = sim.simulate_features(video, world, 0, base)

    params = replace(base, lookalike_rate_per_min=6.0, lookalike_mot_frac=0.1)
    spa, tem = sim.simulate_features(video, world, 0, params)  # 1 snippet = 1 s
    inside = np.zeros(600, bool)
    for s in starts:
        inside[int(s) : int(s) + 20] = True
    # look-alikes draw from a random stream of their own, so every other draw is v2's: the
    # snippets the instances fully cover are identical
    np.testing.assert_allclose(spa[:, inside], v2[0][:, inside], rtol=1e-6)
    np.testing.assert_allclose(tem[:, inside], v2[1][:, inside], rtol=1e-6)
    changed = np.abs(spa - v2[0]).max(axis=0) > 1e-6  # (T,)
    assert changed[~inside].mean() > 0.2  # ~6 per minute of ~4 s: a good part of the rest
    # what was added points to the class's own look and motion, the motion 8x weaker (0.1/0.8)
    assert cosine(world.app_proto[0], (spa - v2[0])[:, changed]).mean() > 0.3
    assert cosine(world.mot_proto[0], (tem - v2[1])[:, changed]).mean() > 0.3
    d_look = np.linalg.norm(spa - v2[0], axis=0)[changed].mean()
    d_move = np.linalg.norm(tem - v2[1], axis=0)[changed].mean()
    assert d_look > 4 * d_move


def test_short_instance_is_visible() -> None:
    params = SimParams(
        feature_dim=64,
        T=100,
        noise_std=0.0,
        camera_rate_per_min=0.0,
        distractor_rate_per_min=0.0,
        app_shot_std=0.0,
    )
    world = sim.make_world(0, CLASSES, params)
    video = VideoGT("v", "val", 30.0, 1000.0, (sim.Instance(500.2, 500.3, 1),))
    _, tem = sim.simulate_features(video, world, 0, params)
    energy = tem.mean(axis=0)
    assert int(np.argmax(energy)) == sim.snippet_index(500.25, 1000.0, 100) == 50


REAL = Path(__file__).resolve().parents[3] / "shared" / "thumos14"
REAL_GT = REAL / "gt_thumos14.json"
REAL_CSV = REAL / "THUMOS14_Background-Click-Annotation_A1.txt"


@pytest.mark.skipif(not (REAL_GT.exists() and REAL_CSV.exists()), reason="no /work/shared data")
def test_real_thumos14_files(tmp_path: Path) -> None:
    summary = sim.make_sim(
        REAL_GT, REAL_CSV, tmp_path, 0, SimParams(), limit_videos=2, progress=False
    )
    assert summary["videos"] == {"val": 2, "test": 2}
    assert summary["skipped_click_rows"]["unknown_video"] == 0
    assert len(json.loads((tmp_path / "classes.json").read_text())) == 20
    rows = sim.read_click_csv(REAL_CSV)
    assert len(rows) == 2264
    for f in sorted((tmp_path / "val").iterdir()):
        z = np.load(f)
        vid, dur = str(z["vid_name"]), float(z["duration"])
        want = {
            j
            for r in rows
            if r.vid == vid
            for j in range(
                sim.snippet_index(r.start, dur, 750), sim.snippet_index(r.end, dur, 750) + 1
            )
        }
        assert want
        assert set(np.flatnonzero(z["point_label"] == 20).tolist()) == want
        assert z["feat_spa"].shape == (128, 750)
        assert (z["action_point_label"] != IGNORE).sum() == len(z["gt_segments"])
