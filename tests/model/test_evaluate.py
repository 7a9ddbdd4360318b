"""ActivityNet mAP: hand-worked cases, a straightforward reference loop, the JSON formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model.evaluate import (
    DEFAULT_TIOUS,
    average_precision_interpolated,
    compute_map,
    format_map_table,
    load_gt_json,
    load_results_json,
    segment_iou,
    write_results_json,
)

REAL_GT = Path(__file__).resolve().parents[3] / "shared" / "thumos14" / "gt_thumos14.json"


def test_segment_iou_by_hand() -> None:
    cands = np.array([[0.0, 10.0], [5.0, 15.0], [10.0, 20.0], [2.0, 4.0], [-5.0, 0.0]])
    got = segment_iou(np.array([0.0, 10.0]), cands)
    np.testing.assert_allclose(got, [1.0, 5 / 15, 0.0, 0.2, 0.0])


def test_interpolated_ap_by_hand() -> None:
    # precision made monotone from the right: [1, .667, .667]; recall steps .5 and .5
    ap = average_precision_interpolated(np.array([1.0, 0.5, 2 / 3]), np.array([0.5, 0.5, 1.0]))
    assert ap == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    # recall never reaches 1: area stops at the last recall
    assert average_precision_interpolated(np.array([1.0]), np.array([0.25])) == 0.25
    assert average_precision_interpolated(np.array([0.0, 0.0]), np.array([0.0, 0.0])) == 0.0


def test_detection_ap_small_case_by_hand() -> None:
    gt = {"v1": [(0.0, 10.0, "A"), (20.0, 30.0, "A")], "v2": [(0.0, 5.0, "B")]}
    preds = {
        "v1": [
            (40.0, 50.0, "A", 0.95),  # false positive
            (0.0, 9.0, "A", 0.9),  # IoU 0.9
            (21.0, 30.0, "A", 0.8),  # IoU 0.9
            (0.0, 10.0, "A", 0.7),  # duplicate of an already matched GT: false positive
        ],
        "v2": [(0.0, 4.0, "B", 0.5), (1.0, 5.0, "A", 0.99), (0.0, 5.0, "Z", 0.9)],
    }
    res = compute_map(gt, preds, tious=(0.5, 0.85, 0.95))
    # class A, order: v2 A (fp, no A GT in v2), fp, tp, tp, fp
    # precision [0, 0, 1/3, 1/2, 2/5], recall [0, 0, .5, 1, 1] -> AP = .5 * .5 + .5 * .5
    assert res["ap"]["A"][0] == pytest.approx(0.5)
    assert res["ap"]["A"][1] == pytest.approx(0.5)
    # at 0.95 only the last prediction (IoU 1) matches: precision 1/5 at recall .5
    assert res["ap"]["A"][2] == pytest.approx(0.1)
    # class B: IoU 0.8 -> AP 1, 0, 0; label "Z" has no GT and is ignored
    assert res["ap"]["B"] == pytest.approx([1.0, 0.0, 0.0])
    assert res["mAP"] == pytest.approx({"0.5": 0.75, "0.85": 0.25, "0.95": 0.05})
    assert res["classes"] == ["A", "B"]


def test_averages_and_table() -> None:
    gt = {"v": [(0.0, 10.0, 0)]}
    preds = {"v": [(0.0, 7.0, 0, 1.0)]}  # IoU 0.7
    res = compute_map(gt, preds)
    assert [res["mAP"][f"{t:g}"] for t in DEFAULT_TIOUS] == [1, 1, 1, 1, 1, 1, 1, 0, 0]
    assert res["avg_0.1_0.7"] == 1.0 and res["avg_0.3_0.7"] == 1.0
    preds = {"v": [(0.0, 4.5, 0, 1.0)]}  # IoU 0.45: hits 0.1..0.4
    res = compute_map(gt, preds)
    assert res["avg_0.1_0.7"] == pytest.approx(4 / 7)
    assert res["avg_0.3_0.7"] == pytest.approx(2 / 5)
    assert "57.14" in format_map_table(res)


# ----------------------------------------------------------------- reference algorithm


def reference_ap(gt_rows: list, pred_rows: list, tious: tuple[float, ...]) -> np.ndarray:
    """ActivityNet's detection AP written as plain loops (one class), sorting with the same
    numpy calls as the official ``compute_average_precision_detection`` (ties included).

    gt_rows: [(video, start, end)]; pred_rows: [(video, start, end, score)], both in file order.
    """
    ap = np.zeros(len(tious))
    if not pred_rows:
        return ap
    sort_idx = np.array([r[3] for r in pred_rows], dtype=np.float64).argsort()[::-1]
    preds = [pred_rows[i] for i in sort_idx]
    lock = [[-1] * len(gt_rows) for _ in tious]
    tp = np.zeros((len(tious), len(preds)))
    fp = np.zeros((len(tious), len(preds)))
    for i, (video, ps, pe, _) in enumerate(preds):
        cand = [j for j, g in enumerate(gt_rows) if g[0] == video]
        if not cand:
            fp[:, i] = 1
            continue
        ious = []
        for j in cand:
            gs, ge = gt_rows[j][1], gt_rows[j][2]
            inter = max(0.0, min(pe, ge) - max(ps, gs))
            ious.append(inter / ((ge - gs) + (pe - ps) - inter))
        by_iou = np.array(ious, dtype=np.float64).argsort()[::-1]
        for t, thr in enumerate(tious):
            for n in by_iou:
                if ious[n] < thr:
                    fp[t, i] = 1
                    break
                if lock[t][cand[n]] >= 0:
                    continue
                tp[t, i] = 1
                lock[t][cand[n]] = i
                break
            if tp[t, i] == 0 and fp[t, i] == 0:
                fp[t, i] = 1
    for t in range(len(tious)):
        tpc, fpc = np.cumsum(tp[t]), np.cumsum(fp[t])
        rec = tpc / len(gt_rows)
        prec = tpc / (tpc + fpc)
        mprec = [0.0, *prec.tolist(), 0.0]
        mrec = [0.0, *rec.tolist(), 1.0]
        for k in range(len(mprec) - 2, -1, -1):
            mprec[k] = max(mprec[k], mprec[k + 1])
        ap[t] = sum(
            (mrec[k] - mrec[k - 1]) * mprec[k]
            for k in range(1, len(mrec))
            if mrec[k] != mrec[k - 1]
        )
    return ap


def test_matches_reference_on_random_sets() -> None:
    rng = np.random.default_rng(0)
    for trial in range(30):
        videos = [f"v{i}" for i in range(rng.integers(1, 6))]
        labels = ["a", "b", "c"][: rng.integers(1, 4)]
        gt: dict[str, list] = {v: [] for v in videos}
        for v in videos:
            for _ in range(rng.integers(0, 6)):
                s = float(rng.uniform(0, 100))
                gt[v].append((s, s + float(rng.uniform(1, 20)), str(rng.choice(labels))))
        preds: dict[str, list] = {v: [] for v in [*videos, "extra"]}
        for v in preds:
            for _ in range(rng.integers(0, 15)):
                if gt.get(v) and rng.random() < 0.6:  # jitter a GT segment
                    s, e, lab = gt[v][rng.integers(len(gt[v]))]
                    s, e = s + rng.normal(0, 2), e + rng.normal(0, 2)
                    if e <= s:
                        e = s + 0.5
                else:
                    s = float(rng.uniform(0, 100))
                    e, lab = s + float(rng.uniform(1, 20)), str(rng.choice(labels))
                preds[v].append((float(s), float(e), lab, float(rng.random())))
        got = compute_map(gt, preds)
        for label in got["classes"]:
            g = [(v, s, e) for v, segs in gt.items() for s, e, lab in segs if lab == label]
            p = [
                (v, s, e, sc) for v, segs in preds.items() for s, e, lab, sc in segs if lab == label
            ]
            want = reference_ap(g, p, DEFAULT_TIOUS)
            np.testing.assert_allclose(got["ap"][label], want, atol=1e-6, err_msg=f"trial {trial}")


def test_tiou_tie_tries_the_later_gt_first_as_the_official_code() -> None:
    # numpy keeps equal keys of a 2-element array in input order; reversed: later first
    assert np.argsort(np.array([0.6, 0.6])).tolist() == [0, 1]
    # P1 [1,5] has tIoU 3/5 with both A [0,4] and B [2,6]: the official order tries B first,
    # so P1 takes B; P2 [2,6] then finds B taken and A at 2/6 < 0.5: a false positive.
    # (Taking the first best GT instead, P1 -> A and P2 -> B would both be hits: AP 1.)
    gt = {"v": [(0.0, 4.0, "x"), (2.0, 6.0, "x")]}
    preds = {"v": [(1.0, 5.0, "x", 0.9), (2.0, 6.0, "x", 0.8)]}
    # ranks: TP (P 1, R .5), FP (P .5, R .5) -> AP = .5 * 1
    assert compute_map(gt, preds, tious=(0.5,))["ap"]["x"] == pytest.approx([0.5])
    # at 0.3 P2 falls back to A (tIoU 1/3): both hit
    assert compute_map(gt, preds, tious=(0.3,))["ap"]["x"] == pytest.approx([1.0])


def test_equal_scores_visit_the_later_prediction_first_as_the_official_code() -> None:
    assert np.argsort(np.array([0.5, 0.5])).tolist() == [0, 1]
    gt = {"v": [(0.0, 4.0, "x")]}
    # equal scores: the official order visits P2 (listed second) first
    preds = {"v": [(0.0, 4.0, "x", 0.5), (0.0, 2.0, "x", 0.5)]}
    # at 0.7: P2 (tIoU .5) is a FP, then P1 (tIoU 1) a TP: precision 1/2 at recall 1
    # at 0.5: P2 takes the GT, P1 is a duplicate: precision 1 at recall 1
    res = compute_map(gt, preds, tious=(0.5, 0.7))
    assert res["ap"]["x"] == pytest.approx([1.0, 0.5])
    swapped = {"v": preds["v"][::-1]}  # now P1 is visited first: a hit at 0.7 too
    assert compute_map(gt, swapped, tious=(0.5, 0.7))["ap"]["x"] == pytest.approx([1.0, 1.0])


def test_matches_official_order_on_crafted_ties() -> None:
    """Integer segments and few distinct scores: many exact tIoU and score ties, more than
    16 predictions per class and 16 GT per video (where numpy's sort stops keeping ties)."""
    rng = np.random.default_rng(12)
    tious = (0.1, 0.2, 0.25, 0.3, 1 / 3, 0.4, 0.5, 0.6, 2 / 3, 0.7, 0.75, 0.8, 0.9, 1.0)
    for trial in range(40):
        videos = [f"v{i}" for i in range(rng.integers(1, 4))]
        labels = ["a", "b"][: rng.integers(1, 3)]
        gt: dict[str, list] = {}
        for v in videos:
            gt[v] = []
            for _ in range(rng.integers(0, 25)):
                s = int(rng.integers(0, 12))
                gt[v].append((float(s), float(s + rng.integers(1, 5)), str(rng.choice(labels))))
        preds: dict[str, list] = {}
        for v in [*videos, "extra"]:
            preds[v] = []
            for _ in range(rng.integers(0, 40)):
                s = int(rng.integers(0, 12))
                e = s + int(rng.integers(1, 5))
                score = float(rng.integers(1, 4)) / 4  # 0.25, 0.5, 0.75
                preds[v].append((float(s), float(e), str(rng.choice(labels)), score))
        got = compute_map(gt, preds, tious=tious)
        for label in got["classes"]:
            g = [(v, s, e) for v, segs in gt.items() for s, e, lab in segs if lab == label]
            p = [
                (v, s, e, sc) for v, segs in preds.items() for s, e, lab, sc in segs if lab == label
            ]
            want = reference_ap(g, p, tious)
            np.testing.assert_allclose(got["ap"][label], want, atol=1e-6, err_msg=f"trial {trial}")


# ----------------------------------------------------------------- formats


def test_results_json_round_trip_and_gt_reader(tmp_path: Path) -> None:
    preds = {"v1": [(1.0, 2.5, "Jump", 0.75)], "v2": []}
    path = tmp_path / "results.json"
    write_results_json(path, preds)
    raw = json.loads(path.read_text())
    assert raw["version"] == "VERSION 1.3" and raw["external_data"] == {}
    assert raw["results"]["v1"] == [{"label": "Jump", "score": 0.75, "segment": [1.0, 2.5]}]
    assert load_results_json(path) == preds

    gt_path = tmp_path / "gt.json"
    gt_path.write_text(
        json.dumps(
            {
                "database": {
                    "a": {"subset": "test", "annotations": [{"segment": [1, 2], "label": "X"}]},
                    "b": {"subset": "val", "annotations": [{"segment": [3, 4], "label": "Y"}]},
                },
                "activity_list": ["X", "Y"],
            }
        )
    )
    assert load_gt_json(gt_path, "test") == {"a": [(1.0, 2.0, "X")]}
    assert set(load_gt_json(gt_path, None)) == {"a", "b"}


@pytest.mark.skipif(not REAL_GT.is_file(), reason="shared THUMOS14 GT not present")
def test_real_thumos14_gt_counts() -> None:
    test = load_gt_json(REAL_GT, "test")
    val = load_gt_json(REAL_GT, "val")
    assert len(test) == 210 and sum(map(len, test.values())) == 3311
    assert len(val) == 200 and sum(map(len, val.values())) == 3003
    perfect = {v: [(s, e, lab, 1.0) for s, e, lab in segs] for v, segs in test.items()}
    res = compute_map(test, perfect)
    assert len(res["classes"]) == 20 and res["avg_0.3_0.7"] == pytest.approx(1.0)
