"""GET /export/dataset: the training set as an official-npz zip that model.cli trains from."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from model.timebase import snippet_index
from server.db import session_scope
from server.exports.dataset import stream_split
from server.features.service import attach_features
from server.videos.service import create_video_record

ROOT = Path(__file__).resolve().parents[2]
EXTRACTOR = "effnet-lite0+dis-flow"
D = 1372  # 1280 appearance + 92 motion
FPS = 25.0

# (name, duration_s, T, [(start, end, class name)])
VIDEOS = [
    ("v1", 20.0, 40, [(4.0, 8.0, "Bounce")]),
    ("v2", 16.0, 32, [(2.0, 5.0, "Spin"), (10.0, 13.0, "Bounce")]),
    ("v3", 24.0, 48, [(12.0, 18.0, "Spin")]),
    ("v4", 18.0, 36, [(6.0, 9.0, "Bounce")]),
    ("v5", 22.0, 44, [(14.0, 20.0, "Spin")]),
    ("v6", 20.0, 40, [(3.0, 6.0, "Bounce"), (12.0, 15.0, "Spin")]),
]


def features_for(duration: float, T: int, segments, classes, rng) -> np.ndarray:
    """(T, D): noise, plus a class direction on the snippets inside each segment."""
    directions = {c: rng.normal(size=D).astype(np.float32) for c in classes}
    feats = rng.normal(scale=0.3, size=(T, D)).astype(np.float32)
    for start, end, cls in segments:
        a, b = snippet_index(start, duration, T), snippet_index(end, duration, T)
        feats[a : b + 1] += 2.0 * directions[cls]
    return feats


@pytest.fixture
def world(client, app, admin, alice, bob):
    """Six feature-only videos, two classes, GT, alice's and bob's labels and clicks."""
    for name in ("Bounce", "Spin"):
        assert client.post("/api/v1/classes", headers=admin.h, json={"name": name}).status_code
    classes = {c["name"]: c["id"] for c in client.get("/api/v1/classes", headers=admin.h).json()}
    rng = np.random.default_rng(0)
    ids: dict[str, int] = {}
    stored: dict[str, np.ndarray] = {}
    with session_scope(app.state.sessionmaker) as s:
        for name, duration, T, segments in VIDEOS:
            video = create_video_record(
                s, name=name, fps=FPS, frame_count=int(duration * FPS), duration_s=duration
            )
            feats = features_for(duration, T, segments, sorted(classes), rng)
            attach_features(s, app.state.storage, video, feats, EXTRACTOR)
            ids[name], stored[name] = video.id, feats
    gt = {
        "database": {
            name: {
                "subset": "validation",
                "annotations": [{"segment": [a, b], "label": c} for a, b, c in segments],
            }
            for name, _, _, segments in VIDEOS
        }
    }
    r = client.post(
        "/api/v1/import/ground-truth",
        headers=admin.h,
        files={"file": ("gt.json", json.dumps(gt).encode(), "application/json")},
    )
    assert r.status_code == 200, r.text
    clicks: dict[str, list[dict]] = {}  # alice's clicks as sent
    for k, (name, duration, T, segments) in enumerate(VIDEOS):
        vid = ids[name]
        present = sorted({classes[c] for _, _, c in segments})
        for who in (alice, bob):
            r = client.put(
                f"/api/v1/videos/{vid}/labels", headers=who.h, json={"class_ids": present}
            )
            assert r.status_code == 200, r.text
        step = duration / T
        sent = [
            {"t_s": 0.0},  # the first snippet
            {"t_s": 3 * step},  # exactly on a snippet boundary: snippet 3
            {"t_s": segments[0][0] - 1.2},  # just before the first action
            {"t_s": duration},  # the very end: the last snippet
            {"t_s": segments[-1][1] + 0.7},
        ]
        if k % 2 == 0:  # an action click in the middle of the first segment
            a, b, c = segments[0]
            sent.append({"t_s": (a + b) / 2, "kind": "action", "class_id": classes[c]})
        for j, body in enumerate(sent):
            r = client.post(
                f"/api/v1/videos/{vid}/clicks",
                headers=alice.h,
                json={**body, "client_key": f"{name}-{j}"},
            )
            assert r.status_code == 201, r.text
        clicks[name] = sent
        # bob: one background click inside the action (must not be in alice's export)
        a, b, _ = segments[0]
        r = client.post(f"/api/v1/videos/{vid}/clicks", headers=bob.h, json={"t_s": (a + b) / 2})
        assert r.status_code == 201, r.text
    # a deleted click of alice is not exported
    r = client.post(f"/api/v1/videos/{ids['v1']}/clicks", headers=alice.h, json={"t_s": 10.0})
    assert client.delete(f"/api/v1/clicks/{r.json()['id']}", headers=alice.h).status_code == 204
    return {"ids": ids, "classes": classes, "clicks": clicks, "features": stored}


def get_zip(client, admin, **params) -> zipfile.ZipFile:
    r = client.get("/api/v1/export/dataset", headers=admin.h, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert int(r.headers["content-length"]) == len(r.content)
    return zipfile.ZipFile(io.BytesIO(r.content))


def load_all(zf: zipfile.ZipFile) -> dict[str, dict[str, np.ndarray]]:
    """Every .npz of the zip, read from its bytes with allow_pickle=False, every array."""
    out = {}
    for info in zf.infolist():
        if not info.filename.endswith(".npz"):
            continue
        data = zf.read(info)
        assert data[:2] == b"PK"  # an npz is itself a zip of .npy files
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}  # reading each array unpickles nothing
        for key, value in arrays.items():
            assert not value.dtype.hasobject, (info.filename, key)
        out[info.filename] = arrays
    return out


def test_export_matches_the_clicks_and_trains_predicts_evaluates(
    client, admin, alice, world, tmp_path
):
    zf = get_zip(client, admin, format="official-npz", annotator_id=alice.id)
    names = sorted(zf.namelist())
    assert names == sorted(
        ["classes.json", "gt.json", "manifest.json"] + [f"val/{n}.npz" for n, *_ in VIDEOS]
    )
    assert json.loads(zf.read("classes.json")) == ["Bounce", "Spin"]
    arrays = load_all(zf)
    C = 2
    for name, duration, T, segments in VIDEOS:
        a = arrays[f"val/{name}.npz"]
        assert {
            "feat_spa",
            "feat_tem",
            "cls_label",
            "point_label",
            "action_point_label",
            "vid_name",
            "fps",
            "duration",
            "frame_num",
        } <= set(a)
        # two streams of the default extractor: appearance | motion
        assert a["feat_spa"].shape == (1280, T) and a["feat_tem"].shape == (92, T)
        assert a["feat_spa"].dtype == np.float32
        np.testing.assert_array_equal(
            np.concatenate([a["feat_spa"], a["feat_tem"]]).T, world["features"][name]
        )
        assert str(a["vid_name"]) == name and float(a["fps"]) == FPS
        assert float(a["duration"]) == duration and int(a["frame_num"]) == int(duration * FPS)
        present = {["Bounce", "Spin"].index(c) for _, _, c in segments}
        np.testing.assert_array_equal(a["cls_label"], [float(i in present) for i in range(C)])
        # point_label, snippet by snippet, from the clicks as sent and the one snippet rule
        expected_bg = np.full(T, -100, dtype=np.int64)
        expected_action = np.full(T, -100, dtype=np.int64)
        for click in world["clicks"][name]:
            k = snippet_index(click["t_s"], duration, T)
            if click.get("kind") == "action":
                expected_action[k] = ["Bounce", "Spin"].index(
                    next(n for n, i in world["classes"].items() if i == click["class_id"])
                )
            else:
                expected_bg[k] = C
        assert a["point_label"].dtype == np.int64
        np.testing.assert_array_equal(a["point_label"], expected_bg)
        np.testing.assert_array_equal(a["action_point_label"], expected_action)
        assert expected_bg[0] == C and expected_bg[3] == C and expected_bg[T - 1] == C
        np.testing.assert_allclose(
            a["gt_segments"],
            [[s, e, ["Bounce", "Spin"].index(c)] for s, e, c in sorted(segments)],
        )
    gt = json.loads(zf.read("gt.json"))
    assert gt["activity_list"] == ["Bounce", "Spin"]
    assert gt["database"]["v2"]["subset"] == "val"
    assert gt["database"]["v2"]["annotations"] == [
        {"segment": [2.0, 5.0], "label": "Spin", "idx": 1, "source": "imported"},
        {"segment": [10.0, 13.0], "label": "Bounce", "idx": 0, "source": "imported"},
    ]
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["streams"] == {"feat_spa": 1280, "feat_tem": 92, "split": "two streams"}
    assert manifest["annotator_id"] == alice.id and manifest["background_label"] == 2

    # the round trip: unzip, then the trainer's own CLI, unchanged
    data = tmp_path / "data"
    zf.extractall(data)
    out = tmp_path / "run"
    cli = [sys.executable, "-m", "model.cli"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*cli, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    run(
        "train", "--data", str(data), "--out", str(out), "--epochs", "4", "--hidden", "32",
        "--batch-size", "4", "--holdout", "0.34", "--device", "cpu",
    )  # fmt: skip
    assert (out / "model.pt").is_file()
    pred = tmp_path / "results.json"
    run(
        "predict", "--ckpt", str(out / "model.pt"), "--data", str(data), "--split", "val",
        "--out", str(pred), "--gt", str(data / "gt.json"), "--device", "cpu",
    )  # fmt: skip
    results = json.loads(pred.read_text())["results"]
    assert set(results) == {n for n, *_ in VIDEOS}
    labels = {seg["label"] for segs in results.values() for seg in segs}
    assert labels <= {"Bounce", "Spin"}
    done = run(
        "eval", "--gt", str(data / "gt.json"), "--pred", str(pred), "--subset", "val", "--json"
    )
    scores = json.loads(done.stdout.strip().splitlines()[-1])
    assert 0.0 <= scores["avg_0.1_0.7"] <= 1.0
    assert scores["mAP"]["0.1"] > 0  # trained on these very videos: it finds something


def test_everyone_and_class_filter(client, admin, alice, bob, world):
    # no annotator filter: alice's and bob's clicks pooled (bob's lands inside the action)
    arrays = load_all(get_zip(client, admin))
    a = arrays["val/v1.npz"]
    T = a["point_label"].shape[0]
    assert a["point_label"][snippet_index(6.0, 20.0, T)] == 2
    # only Spin: C = 1, background label 1, Bounce action clicks and GT left out
    spin = world["classes"]["Spin"]
    zf = get_zip(client, admin, class_ids=str(spin), annotator_id=alice.id)
    assert json.loads(zf.read("classes.json")) == ["Spin"]
    arrays = load_all(zf)
    assert sorted(arrays) == ["val/v2.npz", "val/v3.npz", "val/v5.npz", "val/v6.npz"]
    v3 = arrays["val/v3.npz"]  # v3 (index 2) has an action click of Spin
    np.testing.assert_array_equal(v3["cls_label"], [1.0])
    assert set(np.unique(v3["point_label"])) == {-100, 1}
    assert set(np.unique(v3["action_point_label"])) == {-100, 0}
    v6 = arrays["val/v6.npz"]  # v6's action click is a Bounce one: not exported
    assert set(np.unique(v6["action_point_label"])) == {-100}
    np.testing.assert_allclose(v6["gt_segments"], [[12.0, 15.0, 0]])
    gt = json.loads(zf.read("gt.json"))
    assert gt["activity_list"] == ["Spin"] and "v1" not in gt["database"]
    # both spellings of a list
    both = f"{world['classes']['Bounce']},{spin}"
    assert len(load_all(get_zip(client, admin, class_ids=both))) == 6
    r = client.get(
        f"/api/v1/export/dataset?class_ids={world['classes']['Bounce']}&class_ids={spin}",
        headers=admin.h,
    )
    assert r.status_code == 200 and len(zipfile.ZipFile(io.BytesIO(r.content)).namelist()) == 9
    # another split name: the folder and the GT subset follow it
    zf = get_zip(client, admin, split="train")
    assert "train/v1.npz" in zf.namelist()
    assert json.loads(zf.read("gt.json"))["database"]["v1"]["subset"] == "train"


def test_bad_parameters_are_clear_4xx(client, admin, alice, world):
    url = "/api/v1/export/dataset"

    def get(**params):
        return client.get(url, headers=admin.h, params=params)

    r = get(annotator_id=99999)
    assert r.status_code == 404 and "no user with id 99999" in r.json()["detail"]
    r = get(class_ids="1,99999")
    assert r.status_code == 404 and "no class with id 99999" in r.json()["detail"]
    r = get(class_ids="1,x")
    assert r.status_code == 422 and "'x' is not a number" in r.json()["detail"]
    r = get(class_ids=",")
    assert r.status_code == 422 and "class_ids is empty" in r.json()["detail"]
    r = get(format="npy")
    assert r.status_code == 422
    r = get(split="../x")
    assert r.status_code == 422 and "split" in r.json()["detail"]
    r = get(extractor="tiny-stats")
    assert r.status_code == 422 and "nothing to export" in r.json()["detail"]
    assert "'tiny-stats'" in r.json()["detail"]
    r = client.get(url, headers=alice.h)
    assert r.status_code == 403
    assert client.get(url).status_code == 401


def test_nothing_to_export_and_single_stream_features(client, app, admin):
    r = client.get("/api/v1/export/dataset", headers=admin.h)
    assert r.status_code == 422 and "nothing to export" in r.json()["detail"]
    assert stream_split("tiny-stats", 32) == (16, "halves")
    assert stream_split("i3d-npz", 2048) == (1024, "two streams")
    assert stream_split(EXTRACTOR, 1372) == (1280, "two streams")
    assert stream_split(EXTRACTOR, 10) == (5, "halves")


def test_validation_videos_and_segments_in_the_export(client, app, admin, alice, world, tmp_path):
    """Validation videos go to their own split, never the training one; segments are the
    ground truth where none was imported, and gt.json says what came from a prediction."""
    from tests.server.suggestions.seed import add_version

    ids, classes = world["ids"], world["classes"]
    # v5 loses its imported GT; alice draws one segment and accepts a predicted one there
    gt = {"database": {"v5": {"annotations": []}}}
    r = client.post(
        "/api/v1/import/ground-truth",
        headers=admin.h,
        files={"file": ("gt.json", json.dumps(gt).encode(), "application/json")},
    )
    assert r.status_code == 200, r.text
    r = client.post(
        f"/api/v1/videos/{ids['v5']}/segments",
        headers=alice.h,
        json={"class_id": classes["Spin"], "start_s": 14.0, "end_s": 20.0},
    )
    assert r.status_code == 201, r.text
    version = add_version(
        app, active=True, segments=[(ids["v5"], classes["Bounce"], 2.0, 4.0, 0.8)]
    )
    r = client.post(
        f"/api/v1/videos/{ids['v5']}/segments/accept", headers=alice.h, json={"at_s": 3.0}
    )
    assert r.status_code == 201, r.text
    # v6 becomes a validation video (its imported GT measures versions)
    r = client.patch(f"/api/v1/videos/{ids['v6']}", headers=admin.h, json={"is_validation": True})
    assert r.status_code == 200, r.text

    zf = get_zip(client, admin)
    assert sorted(n for n in zf.namelist() if n.endswith(".npz")) == [
        "test/v6.npz", "val/v1.npz", "val/v2.npz", "val/v3.npz", "val/v4.npz", "val/v5.npz"
    ]  # fmt: skip
    gt = json.loads(zf.read("gt.json"))
    assert gt["database"]["v6"]["subset"] == "test"
    assert {a["source"] for a in gt["database"]["v6"]["annotations"]} == {"imported"}
    assert gt["database"]["v5"] == {
        "subset": "val",
        "duration": 22.0,
        "annotations": [
            {
                "segment": [2.0, 4.0],
                "label": "Bounce",
                "idx": 0,
                "source": "prediction",
                "annotator": "alice",
                "model_version_id": version,
                "score": 0.8,
            },
            {
                "segment": [14.0, 20.0],
                "label": "Spin",
                "idx": 1,
                "source": "drawn",
                "annotator": "alice",
            },
        ],
    }
    np.testing.assert_allclose(load_all(zf)["val/v5.npz"]["gt_segments"], [[2, 4, 0], [14, 20, 1]])
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["validation_split"] == "test"
    by_name = {v["vid_name"]: v for v in manifest["videos"]}
    assert (by_name["v6"]["split"], by_name["v6"]["validation"]) == ("test", True)
    assert (by_name["v1"]["split"], by_name["v1"]["validation"]) == ("val", False)
    assert manifest["summary"]["validation_videos"] == 1

    r = client.get(
        "/api/v1/export/dataset",
        headers=admin.h,
        params={"split": "val", "validation_split": "val"},
    )
    assert r.status_code == 422 and "validation_split must differ from split" in r.json()["detail"]

    # the trainer's CLI evaluates on the validation split as it is: predict --split test, eval
    data = tmp_path / "data"
    zf.extractall(data)
    cli = [sys.executable, "-m", "model.cli"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*cli, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    out = tmp_path / "run"
    run(
        "train", "--data", str(data), "--out", str(out), "--epochs", "2", "--hidden", "16",
        "--batch-size", "4", "--device", "cpu",
    )  # fmt: skip
    pred = tmp_path / "results.json"
    run(
        "predict", "--ckpt", str(out / "model.pt"), "--data", str(data), "--split", "test",
        "--out", str(pred), "--gt", str(data / "gt.json"), "--device", "cpu",
    )  # fmt: skip
    assert set(json.loads(pred.read_text())["results"]) == {"v6"}
    done = run("eval", "--gt", str(data / "gt.json"), "--pred", str(pred), "--json")
    assert 0.0 <= json.loads(done.stdout.strip().splitlines()[-1])["avg_0.1_0.7"] <= 1.0
