"""bench.correction on a tiny sim whose predictions are written by hand: θ is chosen on the
held-out fold (never on test), the savings, paired differences and the goal come out as
computed by hand, a rerun costs nothing again, the CLI writes the report and the plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import correction as bc
from tests.bench.tiny_runs import GTList, make_run_folder


def exact(name: str, gt: GTList) -> list[list[float]]:
    """Every GT instance exactly (score 0.9) and one wrong segment at 1.0–1.5 s (score 0.3)."""
    return [[s, e, c, 0.9] for s, e, c in gt] + [[1.0, 1.5, 0, 0.3]]


def shifted(name: str, gt: GTList) -> list[list[float]]:
    """Every instance 3 s late (score 0.6): both edges off by more than the tolerance
    (max(0.5 s, duration / 40) ≤ 1.5 s here), so accepting costs 1 + 2 drags = drawing."""
    return [[s + 3.0, e + 3.0, c, 0.6] for s, e, c in gt]


def good_on_test_only(name: str, gt: GTList) -> list[list[float]]:
    """Exact on test videos; on held-out ones only wrong segments (score 0.8)."""
    if name.startswith("video_test"):
        return [[s, e, c, 0.8] for s, e, c in gt]
    return [[0.5, 1.0, 0, 0.8], [58.0, 59.0, 1, 0.8]]


RULES = {
    "weak": shifted,
    "bg-click:published": exact,
    "action-click:published": good_on_test_only,
    "bg-click:published@1000": exact,
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run_folder(tmp_path_factory.mktemp("correction"), RULES)


def test_costs_theta_choice_and_savings_by_hand(runs: Path, tmp_path: Path) -> None:
    payload = bc.run_costs(bc.collect_runs([runs]), tmp_path)
    table = bc.summarize(payload)[3]
    for seed in (0, 1):
        bg = table["bg-click:published"][seed]["costs"]
        # held-out: θ = 0.90 shows the exact segments only (1 accept per instance), the
        # highest θ of least cost; test: 2 instances, 2 accepts against 6 from scratch
        assert bg["review"]["theta"] == 0.9
        assert bg["review"]["test"]["scratch"] == 6
        chosen = bg["review"]["test"]["per_theta"][bg["review"]["chosen"]]
        assert (chosen["accepts"], chosen["deletes"], chosen["total"]) == (2, 0, 2)
        for variant in bc.VARIANTS:
            assert bc._test_saving(table["bg-click:published"][seed], variant) == pytest.approx(
                2 / 3
            )
        # showing the late segments costs as much as drawing: "show nothing" (a tie) ...
        weak = table["weak"][seed]["costs"]
        assert all(weak[v]["theta"] is None for v in ("review", "review, 0.5 s", "pick"))
        assert all(bc._test_saving(table["weak"][seed], v) == 0.0 for v in bc.VARIANTS)
    # ... except in bulk on seed 1's held-out video (two Jump instances): one Shift+P and 4
    # drags (5) beat drawing both (6); the test videos have one instance each (3 = 3)
    assert table["weak"][0]["costs"]["bulk"]["theta"] is None
    assert table["weak"][1]["costs"]["bulk"]["theta"] == 0.6
    assert table["weak"][1]["costs"]["bulk"]["heldout"]["per_theta"][8]["total"] == 5
    for seed in (0, 1):
        # exact on test, only wrong segments on held-out: θ chosen on held-out shows nothing,
        # although test alone would have said 0.80
        ac = table["action-click:published"][seed]
        assert ac["costs"]["review"]["theta"] is None
        assert bc._test_saving(ac, "review") == 0.0
        assert bc._best_test_saving(ac, "review") == pytest.approx(2 / 3)
    # a rerun costs nothing new
    logged: list[str] = []
    again = bc.run_costs(bc.collect_runs([runs]), tmp_path, logged.append)
    assert logged == [] and again["runs"].keys() == payload["runs"].keys()


def test_report_and_cli(runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert bc.main(["--runs", str(runs), "--out-dir", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert "bg-click:published saves 66.7 ± 0.0 %" in text and "the goal **holds**" in text
    assert "| bg-click:published − weak | 0,1 | +66.7, +66.7 | 66.7 ± 0.0 |" in text
    assert "| bg-click:published@1000 − bg-click:published | 0,1 | +0.0, +0.0 |" in text
    assert "| weak | 0,1 | none, none | 0.0, 0.0 |" in text
    assert (out / "correction-v3.png").stat().st_size > 10_000
    stored = json.loads((out / "costs.json").read_text())
    assert stored["settings"]["prices"]["review"]["new_segment"] == 3
    # only the asked arms are reported
    assert bc.main(["--runs", str(runs), "--out-dir", str(out), "--arms", "weak"]) == 0
    assert "bg-click" not in (out / "report.md").read_text().split("## Sim v3")[1]
    with pytest.raises(SystemExit, match="no finished run"):
        bc.main(["--runs", str(runs), "--out-dir", str(out), "--versions", "2"])


def test_t_interval_by_hand() -> None:
    # mean 2, sd 1, n 3: 2 ± 4.303 / √3
    lo, hi = bc.t_interval([1.0, 2.0, 3.0]) or (0.0, 0.0)
    assert lo == pytest.approx(2 - 4.303 / 3**0.5) and hi == pytest.approx(2 + 4.303 / 3**0.5)
    assert bc.t_interval([1.0]) is None
