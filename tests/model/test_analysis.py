"""False-positive analysis (DETAD rules): every category decided by hand, the precedence,
the top-k·G cut, the profile, the plot and ``model.cli analyze``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.analysis import (
    ERROR_TYPES,
    classify_error,
    false_positive_analysis,
    format_analysis_table,
    plot_false_positive_analysis,
)
from model.cli import main
from model.evaluate import write_results_json

# One video "v" with A1 = [0, 10] (class A) and B1 = [20, 30] (class B); video "w" has no GT.
GT = {"v": [(0.0, 10.0, "A"), (20.0, 30.0, "B")], "w": []}
PREDS = {
    "v": [
        (0.0, 10.0, "A", 0.9),  # p1: tIoU 1 with A1 -> true positive
        (0.0, 9.0, "A", 0.8),  # p2: 0.9 with A1, which p1 took -> double detection
        (20.0, 30.0, "A", 0.7),  # p3: 1.0 with B1 (class B) -> wrong label
        (0.0, 3.0, "A", 0.6),  # p4: 0.3 with A1 -> localization (at t = 0.5)
        (20.0, 23.0, "A", 0.5),  # p5: 0.3 with B1 -> confusion (at t = 0.5)
        (40.0, 50.0, "A", 0.4),  # p6: no overlap -> background
        (0.0, 1.0, "A", 0.3),  # p7: exactly 0.1 with A1 -> localization (0.1 counts)
        (20.0, 30.0, "B", 0.95),  # true positive of class B
        (5.0, 6.0, "Z", 0.99),  # label without GT: left out, counted
    ],
    "w": [(0.0, 5.0, "A", 0.2)],  # p8: video without GT -> background
}


def test_classify_error_table() -> None:
    assert classify_error(0.9, True, 0.5) == "double_detection"
    assert classify_error(0.5, True, 0.5) == "double_detection"  # ≥ t
    assert classify_error(0.9, False, 0.5) == "wrong_label"
    assert classify_error(0.49, True, 0.5) == "localization"
    assert classify_error(0.1, True, 0.5) == "localization"  # ≥ min_tiou
    assert classify_error(0.3, False, 0.5) == "confusion"
    assert classify_error(0.099, True, 0.5) == "background"
    assert classify_error(0.0, False, 0.5) == "background"
    assert classify_error(0.15, True, 0.5, min_tiou=0.2) == "background"


def test_each_category_by_hand() -> None:
    res = false_positive_analysis(GT, PREDS)
    assert res["tious"] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    assert res["num_gt"] == 2
    assert res["num_predictions"] == 9 and res["num_predictions_total"] == 9
    assert res["ignored_labels"] == {"Z": 1}
    assert res["videos_without_gt"] == 1
    half = res["per_tiou"]["0.5"]
    assert half == res["summary"]
    assert half["true_positive"] == 2 and half["false_positive"] == 7
    assert half["counts"] == {
        "double_detection": 1,  # p2
        "wrong_label": 1,  # p3
        "localization": 2,  # p4, p7
        "confusion": 1,  # p5
        "background": 2,  # p6, p8
    }
    assert half["share_of_fp"]["localization"] == pytest.approx(2 / 7)
    assert sum(half["share_of_fp"].values()) == pytest.approx(1.0)
    assert half["share_of_predictions"]["true_positive"] == pytest.approx(2 / 9)
    assert sum(half["share_of_predictions"].values()) == pytest.approx(1.0)
    # at 0.1, tIoU 0.3 and 0.1 are above the threshold: p4, p7 become double detections
    # (A1 is taken by p1) and p5 a wrong label
    low = res["per_tiou"]["0.1"]["counts"]
    assert low == {
        "double_detection": 3,
        "wrong_label": 2,
        "localization": 0,
        "confusion": 0,
        "background": 2,
    }
    # at 0.7 the same as at 0.5 (p2's tIoU 0.9 is still ≥ 0.7)
    assert res["per_tiou"]["0.7"]["counts"] == half["counts"]


def test_double_detection_needs_the_gt_taken_by_a_better_prediction() -> None:
    # without p1, A1 is still free when p2 (tIoU 0.9) comes: p2 is the true positive
    preds = {"v": [r for r in PREDS["v"] if r[3] != 0.9]}
    res = false_positive_analysis(GT, preds, tious=(0.5,))
    assert res["summary"]["true_positive"] == 2
    assert res["summary"]["counts"]["double_detection"] == 0


def test_highest_tiou_gt_decides_across_classes() -> None:
    gt = {"p": [(0.0, 10.0, "A"), (2.0, 10.0, "B")]}
    preds = {
        "p": [
            (0.0, 10.0, "A", 1.0),  # takes A's GT
            # 0.8 with A's (taken) GT but 1.0 with B's: the B GT decides -> wrong label
            (2.0, 10.0, "A", 0.9),
            # 0.9 with A's GT, 0.7 with B's: A decides -> double detection
            (0.0, 9.0, "A", 0.8),
        ]
    }
    res = false_positive_analysis(gt, preds, tious=(0.5,))
    assert res["summary"]["counts"]["wrong_label"] == 1
    assert res["summary"]["counts"]["double_detection"] == 1
    # ≥ t with another class beats "localization" with its own: [0,4] A has 0.4 with A's
    # [0,10] but 1.0 with B's [0,4] -> wrong label, not localization
    gt = {"q": [(0.0, 10.0, "A"), (0.0, 4.0, "B")]}
    res = false_positive_analysis(gt, {"q": [(0.0, 4.0, "A", 1.0)]}, tious=(0.5,))
    assert res["summary"]["counts"]["wrong_label"] == 1
    assert res["summary"]["true_positive"] == 0


def test_exact_tiou_tie_first_gt_in_file_order_decides() -> None:
    # [2,6] has tIoU 2/6 with both [0,4] and [4,8]
    pred = {"t": [(2.0, 6.0, "A", 1.0)]}
    b_first = {"t": [(0.0, 4.0, "B"), (4.0, 8.0, "A")]}
    a_first = {"t": [(4.0, 8.0, "A"), (0.0, 4.0, "B")]}
    res = false_positive_analysis(b_first, pred, tious=(0.5,))
    assert res["summary"]["counts"]["confusion"] == 1
    res = false_positive_analysis(a_first, pred, tious=(0.5,))
    assert res["summary"]["counts"]["localization"] == 1


def test_top_k_cut_per_class_and_profile() -> None:
    gt = {"v": [(0.0, 10.0, "A"), (20.0, 30.0, "B"), (40.0, 50.0, "B")]}
    preds = {
        "v": [
            (0.0, 10.0, "A", 0.9),  # TP
            (60.0, 70.0, "A", 0.8),  # background
            (70.0, 80.0, "A", 0.7),  # cut (A has 1 GT: top 2·1)
            (0.0, 10.0, "A", 0.05),  # lowest score: cut, although it would be a double
            (20.0, 30.0, "B", 0.5),  # TP
            (40.0, 50.0, "B", 0.4),  # TP
            (80.0, 90.0, "B", 0.3),  # background
            (90.0, 99.0, "B", 0.2),  # background (B has 2 GT: top 4 kept)
            (95.0, 99.0, "B", 0.1),  # cut
        ]
    }
    res = false_positive_analysis(gt, preds, tious=(0.5,), limit_factor=2)
    assert res["num_predictions"] == 2 + 4 and res["num_predictions_total"] == 9
    assert res["summary"]["true_positive"] == 3
    assert res["summary"]["counts"]["background"] == 3
    assert res["summary"]["false_positive"] == 3
    # profile: 1G = A's rank 0 + B's ranks 0-1 (3 TP); 2G = A's rank 1 + B's ranks 2-3
    assert res["profile"]["bins"] == ["1G", "2G"]
    first, second = res["profile"]["breakdown"]
    assert first == {"true_positive": 3, **{t: 0 for t in ERROR_TYPES}}
    assert second["true_positive"] == 0 and second["background"] == 3
    # k = 1.5: A keeps int(1.5) = 1, B keeps int(3) = 3; two bins, the second partial
    res = false_positive_analysis(gt, preds, tious=(0.5,), limit_factor=1.5)
    assert res["num_predictions"] == 1 + 3
    assert [sum(b.values()) for b in res["profile"]["breakdown"]] == [3, 1]


def test_cut_keeps_true_positive_status() -> None:
    # the kept predictions are matched as in the whole list (the cut keeps a prefix of the
    # score order); the better-fitting prediction below the cut is simply not analysed
    gt = {"v": [(0.0, 10.0, "A")]}
    preds = {"v": [(0.0, 9.0, "A", 0.9), (0.0, 10.0, "A", 0.5)]}
    res = false_positive_analysis(gt, preds, tious=(0.5, 0.95), limit_factor=1)
    assert res["per_tiou"]["0.5"]["true_positive"] == 1
    assert res["per_tiou"]["0.95"]["counts"]["localization"] == 1  # tIoU 0.9 < 0.95


def test_summary_tiou_outside_the_list_and_bad_arguments() -> None:
    res = false_positive_analysis(GT, PREDS, tious=(0.1, 0.3), summary_tiou=0.5)
    assert list(res["per_tiou"]) == ["0.1", "0.3"]
    assert res["summary"]["counts"]["localization"] == 2
    assert "0.5" in format_analysis_table(res)
    with pytest.raises(ValueError, match="limit_factor"):
        false_positive_analysis(GT, PREDS, limit_factor=0)
    with pytest.raises(ValueError, match="tIoU"):
        false_positive_analysis(GT, PREDS, summary_tiou=1.5)


def test_empty_predictions() -> None:
    res = false_positive_analysis(GT, {})
    assert res["num_predictions"] == 0
    assert res["summary"]["false_positive"] == 0
    assert res["summary"]["share_of_fp"] == {t: 0.0 for t in ERROR_TYPES}


def test_result_is_json_and_plot_is_png(tmp_path: Path) -> None:
    res = false_positive_analysis(GT, PREDS)
    assert json.loads(json.dumps(res)) == res
    out = tmp_path / "fp.png"
    plot_false_positive_analysis(res, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- CLI


def _write(tmp_path: Path, preds: dict) -> tuple[Path, Path]:
    database = {
        video: {
            "subset": "test",
            "annotations": [{"segment": [s, e], "label": lab} for s, e, lab in segs],
        }
        for video, segs in GT.items()
    }
    database["other"] = {"subset": "val", "annotations": [{"segment": [0, 1], "label": "A"}]}
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps({"database": database}))
    pred_path = tmp_path / "results.json"
    write_results_json(pred_path, preds)
    return gt_path, pred_path


def test_cli_analyze(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt_path, pred_path = _write(tmp_path, PREDS)
    plot = tmp_path / "out.png"
    args = ["analyze", "--gt", str(gt_path), "--pred", str(pred_path)]
    assert main([*args, "--json", "--plot", str(plot), "--tiou", "0.7"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["summary_tiou"] == 0.7
    assert report["per_tiou"]["0.5"]["counts"]["localization"] == 2
    assert report["summary"] == report["per_tiou"]["0.7"]
    assert "'Z'" in captured.err  # the label without GT is warned about
    assert "1 predicted videos have no GT" in captured.err
    assert plot.read_bytes()[:4] == b"\x89PNG"

    assert main(args) == 0
    table = capsys.readouterr().out
    assert "double detection" in table and "background" in table
    assert table.splitlines()[2].split()[:3] == ["0.1", "2", "7"]


def test_cli_analyze_and_eval_refuse_labels_unknown_to_the_gt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    preds = {"v": [(0.0, 10.0, "class_0", 0.9), (20.0, 30.0, "class_1", 0.8)]}
    gt_path, pred_path = _write(tmp_path, preds)
    for command in ("analyze", "eval"):
        assert main([command, "--gt", str(gt_path), "--pred", str(pred_path)]) == 2
        err = capsys.readouterr().err
        assert "none of the 2 predicted segments" in err
        assert "'class_0'" in err and "'A'" in err and "--gt GT.json" in err
