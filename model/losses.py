"""BackTAL losses, vectorised over the batch (no per-video Python loops).

    total = video_base + video_supp + 1e-4·fg_norm + click + 1·separation + 0.8·embedding

- video_base / video_supp: cross-entropy of the top-k video scores against the normalised
  label, with the background class on ([y, 1]) for the base branch and off ([y, 0]) for the
  suppressed branch.
- fg_norm: L1 norm over time of the foreground weights, averaged over videos.
- click: cross-entropy of the base CAS at clicked snippets (background clicks target class C,
  action clicks their class), averaged over clicked snippets.
- separation: for each video with background clicks and each of its classes c,
  softplus(mean_{t ∈ bg} CAS_base[c, t] − video_score_base[c]) (= CE of [fg, bg] towards fg);
  mean over the classes of a video, then over videos.
- embedding: per video with background clicks, fg anchors = top-k snippets of the suppressed
  CAS of each of its classes (concatenated), bg anchors = clicked snippets. With S the cosine
  matrix: mean over fg anchors of relu(0.5 − min_fg S) + mean over bg anchors of
  relu(0.5 − min_bg S) + mean over fg anchors of relu(max_bg S − 0.1) + mean over bg anchors of
  relu(max_fg S − 0.1); mean over videos.

Terms that have nothing to act on in a batch (no clicks) are 0, not NaN.

``click_loss`` (``TrainConfig.click_loss``) chooses what background clicks train; action clicks
always keep their cross-entropy towards their class. Per variant (docs/benchmarks.md, "Click
losses"):

- ``published``: CE of the base CAS towards background at each background click, score
  separation, embedding loss.
- ``no-click-ce``: separation and embedding only (no CE at background clicks).
- ``keep-labelled``: CE towards background over background + the classes the video is *not*
  labelled with (its labelled classes leave the softmax at background clicks), embedding; no
  separation (it acts on the labelled classes only).
- ``separation``: the separation margin only.
- ``filter``: only the foreground filter learns from clicks: BCE of a_t towards 0 at background
  clicks (and towards 1 at action clicks); no term on the class logits.

The click term is always the mean over clicked snippets of each click's loss (0 for a click a
variant does not use), so it is normalised over the same set in every variant (exact under
data-parallel training, :mod:`model.distributed`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from model.config import CLICK_LOSSES, LossWeights
from model.data import IGNORE, Batch
from model.network import BackTALOutput, masked_topk


def video_ce(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with a normalised multi-hot target.  # (B, K), (B, K) -> ()"""
    target = labels / (labels.sum(1, keepdim=True) + 1e-10)
    return -(target * F.log_softmax(scores, dim=1)).sum(1).mean()


def click_ce(cas: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Mean CE at clicked snippets, 0 without clicks.  # (B, C+1, T), (B, T) -> ()"""
    count = (points != IGNORE).sum()
    total = F.cross_entropy(cas, points, ignore_index=IGNORE, reduction="sum")
    return total / count.clamp(min=1)


def click_loss_term(
    cas_base: torch.Tensor,
    fg_weight: torch.Tensor,
    points: torch.Tensor,
    labels: torch.Tensor,
    variant: str = "published",
) -> torch.Tensor:
    """Mean over clicked snippets of each click's loss under ``variant`` (module docstring).

    cas_base: (B, C+1, T); fg_weight: (B, T); points: (B, T) class index at clicks, IGNORE
    elsewhere (C = background); labels: (B, C)  ->  ()"""
    if variant not in CLICK_LOSSES:
        raise ValueError(f"unknown click loss {variant!r}")
    if variant == "published":
        return click_ce(cas_base, points)
    num_classes = labels.shape[1]
    clicked = points != IGNORE  # (B, T)
    bg = points == num_classes  # (B, T)
    cas = cas_base
    if variant == "keep-labelled":
        labelled = F.pad(labels > 0, (0, 1))  # (B, C+1), background never hidden
        cas = cas.masked_fill(bg[:, None, :] & labelled[:, :, None], float("-inf"))
    ce = F.cross_entropy(cas, points, ignore_index=IGNORE, reduction="none")  # (B, T)
    if variant != "keep-labelled":
        ce = ce * (clicked & ~bg).to(ce.dtype)  # action clicks only
    total = ce.sum()
    if variant == "filter":
        a = fg_weight.clamp(1e-6, 1 - 1e-6)  # (B, T)
        bce = torch.where(bg, -torch.log1p(-a), -torch.log(a))  # towards 0 at bg, 1 at action
        total = total + (bce * clicked.to(bce.dtype)).sum()
    return total / clicked.sum().clamp(min=1)


# which of the other two click terms each variant keeps
USES_SEPARATION = {"published", "no-click-ce", "separation"}
USES_EMBEDDING = {"published", "no-click-ce", "keep-labelled"}


def _mean_over(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted mean over the last axis, 0 where weights sum to 0.  # (B, T), (B, T) -> (B,)"""
    return (values * weights).sum(-1) / weights.sum(-1).clamp(min=1e-12)


def separation_loss(
    cas_base: torch.Tensor, score_base: torch.Tensor, labels: torch.Tensor, bg: torch.Tensor
) -> torch.Tensor:
    """cas_base: (B, C+1, T); score_base: (B, C+1); labels: (B, C); bg: (B, T) bool -> ()"""
    num_classes = labels.shape[1]
    bgf = bg.to(cas_base.dtype)  # (B, T)
    bg_mean = (cas_base[:, :num_classes] * bgf[:, None, :]).sum(2) / bgf.sum(1, keepdim=True).clamp(
        min=1
    )  # (B, C)
    per_class = F.softplus(bg_mean - score_base[:, :num_classes])  # (B, C)
    pos = labels > 0  # (B, C)
    per_video = _mean_over(per_class, pos.to(per_class.dtype))  # (B,)
    used = bg.any(1) & pos.any(1)  # (B,)
    return _mean_over(per_video, used.to(per_video.dtype))


def embedding_loss(
    embedding: torch.Tensor,
    cas_supp: torch.Tensor,
    labels: torch.Tensor,
    bg: torch.Tensor,
    mask: torch.Tensor,
    topk: torch.Tensor,
    similar_min: float,
    different_max: float,
) -> torch.Tensor:
    """embedding: (B, E, T) unit vectors; cas_supp: (B, C+1, T); labels: (B, C);
    bg: (B, T) bool; mask: (B, T); topk: (B,)  ->  ()"""
    batch, num_classes = labels.shape
    _, idx, valid = masked_topk(cas_supp[:, :num_classes].detach(), mask, topk)  # (B, C, k)
    anchor = valid & (labels[:, :, None] > 0)  # (B, C, k)
    # fg multiplicity per snippet: a snippet in the top-k of two classes is two anchors
    fg_count = torch.zeros(
        batch, embedding.shape[2], dtype=embedding.dtype, device=embedding.device
    )
    fg_count.scatter_add_(1, idx.flatten(1), anchor.flatten(1).to(embedding.dtype))  # (B, T)
    fg = fg_count > 0  # (B, T)
    bgf = bg.to(embedding.dtype)  # (B, T)

    sim = torch.einsum("bet,bes->bts", embedding, embedding)  # (B, T, T)
    inf = torch.finfo(sim.dtype).max

    def hardest(members: torch.Tensor, largest: bool) -> torch.Tensor:
        """Per anchor t: min or max of S[t, s] over member snippets s.  # (B, T) -> (B, T)"""
        if largest:
            return sim.masked_fill(~members[:, None, :], -inf).amax(2)
        return sim.masked_fill(~members[:, None, :], inf).amin(2)

    fg2fg = _mean_over(F.relu(similar_min - hardest(fg, largest=False)), fg_count)  # (B,)
    bg2bg = _mean_over(F.relu(similar_min - hardest(bg, largest=False)), bgf)
    fg2bg = _mean_over(F.relu(hardest(bg, largest=True) - different_max), fg_count)
    bg2fg = _mean_over(F.relu(hardest(fg, largest=True) - different_max), bgf)
    per_video = fg2fg + bg2bg + fg2bg + bg2fg  # (B,)
    return _mean_over(per_video, bg.any(1).to(per_video.dtype))


def backtal_losses(
    outputs: BackTALOutput,
    batch: Batch,
    weights: LossWeights,
    supervision: str,
    click_loss: str = "published",
) -> dict[str, torch.Tensor]:
    """Every loss term by name, plus the weighted "total".

    ``batch.points`` already holds only the clicks ``supervision`` allows (see
    :func:`model.data.collate`); ``supervision`` is checked for consistency: in "weak" mode
    no click term is used even if the batch carries clicks. ``click_loss``: what background
    clicks train (module docstring); terms a variant does not use are 0.
    """
    num_classes = batch.labels.shape[1]
    points = batch.points
    if supervision == "weak":
        points = torch.full_like(points, IGNORE)
    bg = points == num_classes  # (B, T)
    ones = torch.ones_like(batch.labels[:, :1])
    zero = outputs.cas_base.new_zeros(())
    terms = {
        "video_base": video_ce(outputs.score_base, torch.cat([batch.labels, ones], 1)),
        "video_supp": video_ce(outputs.score_supp, torch.cat([batch.labels, ones * 0], 1)),
        "fg_norm": outputs.fg_weight.abs().sum(1).mean(),
        "click": click_loss_term(
            outputs.cas_base, outputs.fg_weight, points, batch.labels, click_loss
        ),
        "separation": (
            separation_loss(outputs.cas_base, outputs.score_base, batch.labels, bg)
            if click_loss in USES_SEPARATION
            else zero
        ),
        "embedding": (
            embedding_loss(
                outputs.embedding,
                outputs.cas_supp,
                batch.labels,
                bg,
                outputs.mask,
                outputs.topk,
                weights.similar_min,
                weights.different_max,
            )
            if click_loss in USES_EMBEDDING
            else zero
        ),
    }
    terms["total"] = (
        weights.video_base * terms["video_base"]
        + weights.video_supp * terms["video_supp"]
        + weights.fg_norm * terms["fg_norm"]
        + weights.click * terms["click"]
        + weights.separation * terms["separation"]
        + weights.embedding * terms["embedding"]
    )
    return terms
