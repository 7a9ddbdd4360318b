"""Each loss term on a 2-video toy batch worked out by hand, and the vectorised losses against
a per-video loop written like the released code."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from model.config import LossWeights
from model.data import IGNORE, Batch
from model.losses import backtal_losses, embedding_loss
from model.network import BackTALOutput

LN2 = math.log(2.0)


def _unit(deg: float) -> list[float]:
    return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]


def toy_case() -> tuple[BackTALOutput, Batch]:
    """C = 2 classes, T = 4, E = 2, top-k = 2.

    video 0: class 0, background clicks at t = 0, 1; suppressed CAS of class 0 peaks at t = 2, 3.
    video 1: class 1, no clicks.
    """
    num_classes, length = 2, 4
    cas_base = torch.zeros(2, num_classes + 1, length)
    cas_base[0, 0, 0] = 1.0  # logits at click t=0: [1, 0, ln2]
    cas_base[0, 2, 0] = math.log(2.0)
    cas_base[0, 0, 1] = 3.0  # mean class-0 CAS at the clicks = 2
    cas_base[0, 2, 1] = math.log(2.0) + 1.0
    cas_supp = torch.zeros(2, num_classes + 1, length)
    cas_supp[0, 0] = torch.tensor([0.0, 0.1, 2.0, 1.0])  # top-2 of class 0 at t = 2, 3
    score_base = torch.tensor([[2.0, 0.0, 0.0], [0.0, math.log(3.0), 0.0]])
    score_supp = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, math.log(2.0)]])
    embedding = torch.zeros(2, 2, length)
    for t, deg in enumerate([0.0, 70.0, 90.0, 126.8698976]):  # e3 = (-0.6, 0.8)
        embedding[0, :, t] = torch.tensor(_unit(deg))
    embedding[1] = F.normalize(torch.ones(2, length), dim=0)
    fg = torch.tensor([[0.5, 0.25, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    mask = torch.ones(2, length, dtype=torch.bool)
    out = BackTALOutput(
        fg_weight=fg,
        embedding=embedding,
        cas_base=cas_base,
        cas_supp=cas_supp,
        score_base=score_base,
        score_supp=score_supp,
        features_supp=torch.zeros(2, 1, length),
        mask=mask,
        topk=torch.tensor([2, 2]),
    )
    points = torch.full((2, length), IGNORE)
    points[0, :2] = num_classes
    batch = Batch(
        features=torch.zeros(2, 1, length),
        mask=mask,
        labels=torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        points=points,
        names=["a", "b"],
    )
    return out, batch


def test_each_term_by_hand() -> None:
    out, batch = toy_case()
    terms = backtal_losses(out, batch, LossWeights(), "bg-click")

    # video_base: targets [.5, 0, .5] and [0, .5, .5]
    # v0 logits [2, 0, 0]: log Z = ln(e^2 + 2);  v1 logits [0, ln3, 0]: log Z = ln 5
    lz0, lz1 = math.log(math.exp(2) + 2), math.log(5.0)
    v0 = -(0.5 * (2 - lz0) + 0.5 * (0 - lz0))
    v1 = -(0.5 * (math.log(3) - lz1) + 0.5 * (0 - lz1))
    assert terms["video_base"].item() == pytest.approx((v0 + v1) / 2, rel=1e-6)
    # video_supp: targets [1, 0, 0] and [0, 1, 0]; v0 logits 0 -> ln 3; v1 [0, 0, ln2] -> ln 4
    assert terms["video_supp"].item() == pytest.approx((math.log(3) + math.log(4)) / 2, rel=1e-6)
    # fg_norm: L1 over time (1.75 and 0), mean over videos
    assert terms["fg_norm"].item() == pytest.approx(0.875)
    # click: t=0 logits [1, 0, ln2] -> -ln(2 / (e + 3))
    #        t=1 logits [3, 0, ln2 + 1] -> -ln(2e / (e^3 + 1 + 2e))
    c0 = -math.log(2 / (math.e + 3))
    c1 = -math.log(2 * math.e / (math.e**3 + 1 + 2 * math.e))
    assert terms["click"].item() == pytest.approx((c0 + c1) / 2, rel=1e-6)
    # separation: video 0, class 0: softplus(mean CAS at clicks (2) - video score (2)) = ln 2
    assert terms["separation"].item() == pytest.approx(LN2, rel=1e-6)
    # embedding (video 0 only; fg = {2, 3}, bg = {0, 1}); cosines:
    c01 = math.cos(math.radians(70))
    c12 = math.cos(math.radians(20))
    c13 = math.cos(math.radians(126.8698976 - 70))
    c02, c03, c23 = 0.0, -0.6, 0.8
    fg2fg = 0.0  # min over fg of each fg row = 0.8 >= 0.5
    bg2bg = (max(0, 0.5 - c01) + max(0, 0.5 - c01)) / 2
    fg2bg = (max(0, max(c02, c12) - 0.1) + max(0, max(c03, c13) - 0.1)) / 2
    bg2fg = (max(0, max(c02, c03) - 0.1) + max(0, max(c12, c13) - 0.1)) / 2
    assert c23 > 0.5
    assert terms["embedding"].item() == pytest.approx(fg2fg + bg2bg + fg2bg + bg2fg, rel=1e-5)
    want_total = (
        terms["video_base"]
        + terms["video_supp"]
        + 1e-4 * terms["fg_norm"]
        + terms["click"]
        + terms["separation"]
        + 0.8 * terms["embedding"]
    )
    assert terms["total"].item() == pytest.approx(want_total.item(), rel=1e-6)


def test_weak_mode_ignores_clicks_and_clickless_batches_give_zero() -> None:
    out, batch = toy_case()
    weak = backtal_losses(out, batch, LossWeights(), "weak")
    assert weak["click"].item() == 0.0
    assert weak["separation"].item() == 0.0
    assert weak["embedding"].item() == 0.0
    assert weak["total"].item() == pytest.approx(
        weak["video_base"].item() + weak["video_supp"].item() + 1e-4 * 0.875, rel=1e-6
    )


def test_action_click_targets_its_class() -> None:
    out, batch = toy_case()
    batch.points[:] = IGNORE
    batch.points[1, 3] = 1  # video 1, t=3: logits [0, 0, 0] -> CE ln 3
    terms = backtal_losses(out, batch, LossWeights(), "action-click")
    assert terms["click"].item() == pytest.approx(math.log(3), rel=1e-6)
    assert terms["separation"].item() == 0.0


def test_duplicate_fg_anchor_counts_twice() -> None:
    # 3 classes, all labelled; top-1 of class 0 at t=1, of classes 1 and 2 at t=2:
    # fg anchors = [1, 2, 2] (the released code concatenates per-class top-k), bg = {0}.
    e = torch.tensor([_unit(0.0), _unit(90.0), _unit(45.0), _unit(10.0)]).T[None]  # (1, 2, 4)
    cas = torch.zeros(1, 4, 4)
    cas[0, 0, 1] = cas[0, 1, 2] = cas[0, 2, 2] = 1.0
    loss = embedding_loss(
        e, cas, torch.ones(1, 3), torch.tensor([[True, False, False, False]]),
        torch.ones(1, 4, dtype=torch.bool), torch.tensor([1]), 0.5, 0.1,
    )  # fmt: skip
    c = math.cos(math.radians(45))
    # fg2fg: min cosines 0.707 >= 0.5 -> 0; bg2bg: self only -> 0
    # fg2bg over anchors [1, 2, 2]: (relu(0 - .1) + 2 relu(c - .1)) / 3; bg2fg: relu(c - .1)
    assert loss.item() == pytest.approx(2 * (c - 0.1) / 3 + (c - 0.1), rel=1e-6)


# ---------------------------------------------------------------- against a per-video loop


def loop_reference(out: BackTALOutput, batch: Batch, w: LossWeights) -> dict[str, float]:
    """The released code's structure: per video, per class Python loops."""
    num_classes = batch.labels.shape[1]
    ones = torch.ones(batch.labels.shape[0], 1)

    def cls_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = labels / (labels.sum(1, keepdim=True) + 1e-10)
        return -(labels * F.log_softmax(scores, 1)).sum(1).mean()

    res = {
        "video_base": cls_loss(out.score_base, torch.cat([batch.labels, ones], 1)).item(),
        "video_supp": cls_loss(out.score_supp, torch.cat([batch.labels, 0 * ones], 1)).item(),
        "fg_norm": out.fg_weight.abs().sum(1).mean().item(),
    }
    logits, targets = [], []
    for b in range(batch.labels.shape[0]):
        for t in range(batch.points.shape[1]):
            if batch.points[b, t] != IGNORE:
                logits.append(out.cas_base[b, :, t])
                targets.append(int(batch.points[b, t]))
    res["click"] = (
        F.cross_entropy(torch.stack(logits), torch.tensor(targets)).item() if logits else 0.0
    )
    sep, emb = [], []
    for b in range(batch.labels.shape[0]):
        bg_idx = torch.where(batch.points[b] == num_classes)[0]
        classes = torch.where(batch.labels[b] == 1)[0]
        if bg_idx.numel() == 0:
            continue
        per_class = []
        fg_list: list[int] = []
        for c in classes:
            bg_value = out.cas_base[b, c, bg_idx].mean()
            per_class.append(F.softplus(bg_value - out.score_base[b, c]))
            fg_list += out.cas_supp[b, c].topk(int(out.topk[b]))[1].tolist()
        sep.append(torch.stack(per_class).mean())
        e = out.embedding[b]
        fg_e, bg_e = e[:, fg_list].T, e[:, bg_idx].T
        ff, bb, fb = fg_e @ fg_e.T, bg_e @ bg_e.T, fg_e @ bg_e.T
        emb.append(
            F.relu(w.similar_min - ff.min(1)[0]).mean()
            + F.relu(w.similar_min - bb.min(1)[0]).mean()
            + F.relu(fb.max(1)[0] - w.different_max).mean()
            + F.relu(fb.max(0)[0] - w.different_max).mean()
        )
    res["separation"] = torch.stack(sep).mean().item() if sep else 0.0
    res["embedding"] = torch.stack(emb).mean().item() if emb else 0.0
    return res


def test_vectorised_losses_match_per_video_loops_on_random_batches() -> None:
    g = torch.Generator().manual_seed(0)
    for trial in range(5):
        b, c, t, e = 4, 3, 24, 5
        labels = (torch.rand(b, c, generator=g) < 0.5).float()
        labels[:, trial % c] = 1.0
        points = torch.full((b, t), IGNORE)
        for i in range(b - 1):  # the last video has no clicks
            idx = torch.randperm(t, generator=g)[: 2 + i]
            points[i, idx] = c
        points[0, 5] = 1  # an action click
        out = BackTALOutput(
            fg_weight=torch.rand(b, t, generator=g),
            embedding=F.normalize(torch.randn(b, e, t, generator=g), dim=1),
            cas_base=torch.randn(b, c + 1, t, generator=g),
            cas_supp=torch.randn(b, c + 1, t, generator=g),
            score_base=torch.randn(b, c + 1, generator=g),
            score_supp=torch.randn(b, c + 1, generator=g),
            features_supp=torch.zeros(b, 1, t),
            mask=torch.ones(b, t, dtype=torch.bool),
            topk=torch.full((b,), t // 8),
        )
        batch = Batch(torch.zeros(b, 1, t), out.mask, labels, points, [str(i) for i in range(b)])
        got = backtal_losses(out, batch, LossWeights(), "both")
        want = loop_reference(out, batch, LossWeights())
        for name, value in want.items():
            assert got[name].item() == pytest.approx(value, rel=1e-5, abs=1e-6), name


def test_click_loss_variants_by_hand() -> None:
    """Video 0 (class 0) has background clicks at t = 0 (logits [1, 0, ln 2], a = 0.5) and
    t = 1 (logits [3, 0, ln 2 + 1], a = 0.25); video 1 gets an action click of class 1 at t = 3
    (logits [0, 0, 0], a = 0.8)."""
    from dataclasses import replace

    out, batch = toy_case()
    e = math.e
    bg_ce = [math.log((e + 3) / 2), math.log((e**3 + 1 + 2 * e) / (2 * e))]
    # keep-labelled: class 0 (labelled) leaves the softmax at video 0's background clicks
    kept_ce = [math.log(3 / 2), math.log((1 + 2 * e) / (2 * e))]
    bce_bg = [math.log(2.0), math.log(4 / 3)]  # -ln(1 - a)
    published = backtal_losses(out, batch, LossWeights(), "bg-click", "published")
    assert float(published["click"]) == pytest.approx(sum(bg_ce) / 2)
    for variant, click, sep, emb in (
        ("no-click-ce", 0.0, True, True),
        ("keep-labelled", sum(kept_ce) / 2, False, True),
        ("separation", 0.0, True, False),
        ("filter", sum(bce_bg) / 2, False, False),
    ):
        terms = backtal_losses(out, batch, LossWeights(), "bg-click", variant)
        assert float(terms["click"]) == pytest.approx(click), variant
        for name, used in (("separation", sep), ("embedding", emb)):
            want = float(published[name]) if used else 0.0
            assert float(terms[name]) == pytest.approx(want), (variant, name)
        assert float(terms["video_supp"]) == pytest.approx(float(published["video_supp"]))

    points = batch.points.clone()
    points[1, 3] = 1  # an action click of class 1
    fg = out.fg_weight.clone()
    fg[1, 3] = 0.8
    both_out, both = out._replace(fg_weight=fg), replace(batch, points=points)
    action_ce = math.log(3.0)
    cases = {
        "published": (sum(bg_ce) + action_ce) / 3,
        "no-click-ce": action_ce / 3,  # action clicks keep their CE; still a mean over 3 clicks
        "keep-labelled": (sum(kept_ce) + action_ce) / 3,
        "filter": (sum(bce_bg) + action_ce - math.log(0.8)) / 3,  # a -> 1 at the action click
    }
    for variant, want in cases.items():
        got = backtal_losses(both_out, both, LossWeights(), "both", variant)["click"]
        assert float(got) == pytest.approx(want), variant
    with pytest.raises(ValueError, match="unknown click loss"):
        backtal_losses(out, batch, LossWeights(), "bg-click", "what")


def test_click_loss_variants_leave_the_labelled_class_logits_alone() -> None:
    """The gradient of the click term on the labelled class's logits at background clicks:
    published pushes them down, keep-labelled and filter do not touch them."""
    out, batch = toy_case()
    for variant, touched in (("published", True), ("keep-labelled", False), ("filter", False)):
        cas = out.cas_base.clone().requires_grad_(True)
        fg = out.fg_weight.clone().requires_grad_(True)
        terms = backtal_losses(
            out._replace(cas_base=cas, fg_weight=fg), batch, LossWeights(), "bg-click", variant
        )
        terms["click"].backward()
        assert cas.grad is not None
        labelled_at_clicks = cas.grad[0, 0, :2]
        assert bool((labelled_at_clicks > 0).all()) is touched, variant  # > 0: pushed down
        if variant == "filter":
            assert float(cas.grad.abs().sum()) == 0.0 and fg.grad is not None
            assert bool((fg.grad[0, :2] > 0).all())  # a_t pushed towards 0 at the clicks
