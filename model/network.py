"""The BackTAL network (BaS-Net lineage with affinity convolutions).

    features x ──filter──▶ foreground weight a_t ∈ (0, 1)
             ──embedding─▶ unit vectors e_t ──▶ neighbour similarities s_t = cos(e_t, e_{t±1})
             ──affinity conv 1 ─▶ LeakyReLU ─▶ affinity conv 2 ─▶ LeakyReLU ─▶ dropout
               ─▶ classifier (C + 1 classes, background last) ─▶ CAS ─▶ top-k mean = video score

The base branch sees x, the suppressed branch x·a; both share every weight and the
similarities (the embedding is computed once, from x).

Affinity conv, paper version: tap k of the kernel at time t is scaled by cos(e_t, e_{t+k-1}),
    y_t = Σ_k s_{t,k} · W_k x_{t+k-1}        (s_{t,1} = 1, neighbours past the ends give 0).
The released code instead unfolds x channel-major (row 3c + k) but tiles the similarities
tap-major (row k·D + c), so row r is scaled by the similarity of tap r // D: input channel
groups, not taps, get the left / centre / right similarity. ``affinity="official"`` reproduces
that. Both are described as blocks (tap k, similarity j, channel range):
y_t = Σ_blocks s_{t,j} · (W[:, range, k] x[range])_{t+k-1}.

Efficiency: because a_t is a per-time scalar, the suppressed branch's first paper-mode layer
reuses the base branch's per-tap products, (W_k (x·a))_t = a_t (W_k x)_t, so the widest layer
is multiplied once for both branches; the second layer runs both branches as one batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from model.config import ModelConfig

Block = tuple[int, int, int, int]  # (tap k, similarity index j, first channel, end channel)


def affinity_blocks(in_channels: int, mode: str) -> list[Block]:
    """Which similarity scales which (tap, input-channel range) of a k=3 affinity conv."""
    if mode == "paper":
        return [(k, k, 0, in_channels) for k in range(3)]
    if mode != "official":
        raise ValueError(f"unknown affinity mode {mode!r}")
    # unfold row r = 3c + k gets similarity j = r // C  ⇔  j·C ≤ 3c + k < (j+1)·C
    blocks = []
    for k in range(3):
        for j in range(3):
            lo = max(0, -((k - j * in_channels) // 3))  # ceil((j·C − k) / 3)
            hi = min(in_channels, -((k - (j + 1) * in_channels) // 3))
            if hi > lo:
                blocks.append((k, j, lo, hi))
    return blocks


def shift_time(x: torch.Tensor, offset: int) -> torch.Tensor:
    """out[..., t] = x[..., t + offset], zero outside.  # (..., T) -> (..., T)"""
    if offset == 0:
        return x
    if offset > 0:
        return F.pad(x[..., offset:], (0, offset))
    return F.pad(x[..., :offset], (-offset, 0))


def neighbour_similarity(embedding: torch.Tensor) -> torch.Tensor:
    """Cosine of each unit embedding with its left neighbour, itself and its right neighbour.

    embedding: (B, E, T) unit vectors, zero on padding  ->  (B, 3, T); 0 where a neighbour is
    outside the video.
    """
    left = (embedding * shift_time(embedding, -1)).sum(1)  # (B, T)
    centre = (embedding * embedding).sum(1)  # (B, T)
    right = (embedding * shift_time(embedding, 1)).sum(1)  # (B, T)
    return torch.stack([left, centre, right], dim=1)  # (B, 3, T)


class AffinityConv1d(nn.Module):
    """Kernel-3, bias-free temporal conv whose taps are weighted by embedding similarity.

    Paper mode: three 1×1 products W_k x (one convolution with 3·Cout outputs), each shifted
    by its tap offset and scaled by its similarity. Official mode: for each similarity j, a
    k=3 convolution over the channel range of group j with the (channel, tap) pairs of other
    groups masked out, scaled by s_j.
    """

    def __init__(self, in_channels: int, out_channels: int, mode: str = "paper") -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 3))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Conv1d's default init
        self.mode = mode
        self.blocks = affinity_blocks(in_channels, mode)
        # official mode: channel range [lo, hi) and (channel, tap) mask of each similarity j
        self.groups: list[tuple[int, int]] = []
        for j in range(3 if mode == "official" else 0):
            mine = [b for b in self.blocks if b[1] == j]
            lo, hi = min(b[2] for b in mine), max(b[3] for b in mine)
            mask = torch.zeros(1, hi - lo, 3)
            for k, _, b_lo, b_hi in mine:
                mask[0, b_lo - lo : b_hi - lo, k] = 1.0
            self.register_buffer(f"mask_{j}", mask, persistent=False)
            self.groups.append((lo, hi))

    def tap_products(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Paper mode: W_k · x for the three taps, before shifting.

        # (B, Cin, T) -> 3 × (B, Cout, T)
        """
        out_ch = self.weight.shape[0]
        w = self.weight.permute(2, 0, 1).reshape(3 * out_ch, -1, 1)  # (3·Cout, Cin, 1)
        return list(F.conv1d(x, w).split(out_ch, dim=1))

    @staticmethod
    def combine(
        products: Sequence[torch.Tensor], sims: torch.Tensor, scale: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Paper mode: Σ_k s_k · shift_k(scale · W_k x).

        products: 3 × (B, Cout, T); sims: (B, 3, T); scale: (B, T) per-time input scaling
        (the foreground weight for the suppressed branch) or None  ->  (B, Cout, T)
        """
        out: torch.Tensor | None = None
        for k, p in enumerate(products):
            if scale is not None:
                p = p * scale[:, None, :]
            term = shift_time(p, k - 1) * sims[:, k : k + 1, :]
            out = term if out is None else out + term
        assert out is not None
        return out

    def forward(self, x: torch.Tensor, sims: torch.Tensor) -> torch.Tensor:
        """# (B, Cin, T), (B, 3, T) -> (B, Cout, T)"""
        if self.mode == "paper":
            return self.combine(self.tap_products(x), sims)
        out: torch.Tensor | None = None
        for j, (lo, hi) in enumerate(self.groups):
            w = self.weight[:, lo:hi] * getattr(self, f"mask_{j}")  # (Cout, hi-lo, 3)
            term = F.conv1d(x[:, lo:hi], w, padding=1) * sims[:, j : j + 1, :]
            out = term if out is None else out + term
        assert out is not None
        return out

    def forward_pair(
        self, x: torch.Tensor, sims: torch.Tensor, scale: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs for x and for x·scale (the suppressed branch).

        In paper mode (W_k (x·a))_t = a_t (W_k x)_t, so both come from one set of products.
        # (B, Cin, T), (B, 3, T), (B, T) -> 2 × (B, Cout, T)
        """
        if self.mode == "paper":
            taps = self.tap_products(x)
            return self.combine(taps, sims), self.combine(taps, sims, scale)
        return self(x, sims), self(x * scale[:, None, :], sims)


def topk_counts(mask: torch.Tensor, ratio: int) -> torch.Tensor:
    """k = max(1, ⌊T_valid / ratio⌋) per video.  # (B, T) bool -> (B,) int64"""
    return torch.clamp(mask.sum(1) // ratio, min=1)


def masked_topk(
    values: torch.Tensor, mask: torch.Tensor, k: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-k over valid time steps with a per-video k.

    values: (B, K, T); mask: (B, T); k: (B,)  ->  top values (B, K, kmax), their time indices
    (B, K, kmax) and which ranks count (B, 1, kmax), kmax = max(k).
    """
    kmax = int(k.max())
    filled = values.masked_fill(~mask[:, None, :], float("-inf"))
    top, idx = filled.topk(kmax, dim=2)  # (B, K, kmax)
    ranks = torch.arange(kmax, device=values.device)
    valid = (ranks[None, :] < k[:, None])[:, None, :]  # (B, 1, kmax)
    return top, idx, valid


def topk_mean(values: torch.Tensor, mask: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Mean of the k largest valid values over time.  # (B, K, T) -> (B, K)"""
    top, _, valid = masked_topk(values, mask, k)
    top = torch.where(valid, top, torch.zeros_like(top))
    return top.sum(2) / k[:, None].to(values.dtype)


class BackTALOutput(NamedTuple):
    fg_weight: torch.Tensor  # (B, T) foreground attention a_t, 0 on padding
    embedding: torch.Tensor  # (B, E, T) unit vectors, 0 on padding
    cas_base: torch.Tensor  # (B, C+1, T) logits, background last
    cas_supp: torch.Tensor  # (B, C+1, T)
    score_base: torch.Tensor  # (B, C+1) top-k mean logits
    score_supp: torch.Tensor  # (B, C+1)
    features_supp: torch.Tensor  # (B, H, T) first-layer suppressed features (magnitudes)
    mask: torch.Tensor  # (B, T) bool
    topk: torch.Tensor  # (B,) k used for each video


class BackTAL(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        d, h = config.feature_dim, config.hidden
        self.filter_conv1 = nn.Conv1d(d, config.filter_hidden, 1)
        self.filter_conv2 = nn.Conv1d(config.filter_hidden, 1, 1)
        self.embed_conv1 = nn.Conv1d(d, config.embed_hidden, 3, padding=1)
        self.embed_conv2 = nn.Conv1d(config.embed_hidden, config.embed_dim, 3, padding=1)
        self.conv1 = AffinityConv1d(d, h, config.affinity)
        self.conv2 = AffinityConv1d(h, h, config.affinity)
        self.classifier = nn.Conv1d(h, config.num_classes + 1, 1, bias=False)
        self.act = nn.LeakyReLU(config.leaky_slope)
        self.dropout = nn.Dropout(config.dropout)
        if config.input_norm == "standardize":
            # per-dimension statistics of the training snippets (``set_input_stats``)
            self.register_buffer("input_mean", torch.zeros(d))
            self.register_buffer("input_std", torch.ones(d))

    def set_input_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Mean and std of the training features (``input_norm="standardize"``).  # (D,), (D,)"""
        if self.config.input_norm != "standardize":
            raise ValueError("set_input_stats needs input_norm='standardize'")
        self.get_buffer("input_mean").copy_(mean)
        self.get_buffer("input_std").copy_(std.clamp(min=1e-6))

    def embed(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """Unit embeddings, zero on padding.  # (B, D, T), (B, 1, T) -> (B, E, T)"""
        hidden = self.act(self.embed_conv1(x)) * m  # (B, 512, T)
        return F.normalize(self.embed_conv2(hidden), p=2, dim=1) * m  # (B, E, T)

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> BackTALOutput:
        """features: (B, D, T); mask: (B, T) bool, True on real snippets (None = all)."""
        batch, _, length = features.shape
        if mask is None:
            mask = torch.ones(batch, length, dtype=torch.bool, device=features.device)
        m = mask[:, None, :].to(features.dtype)  # (B, 1, T)
        if self.config.input_norm == "standardize":
            mean, std = self.get_buffer("input_mean"), self.get_buffer("input_std")  # (D,)
            features = (features - mean[:, None]) / std[:, None]
        x = features * m  # (B, D, T)

        k = topk_counts(mask, self.config.topk_ratio)  # (B,)
        fg = torch.sigmoid(self.filter_conv2(self.act(self.filter_conv1(x)))) * m  # (B, 1, T)
        if self.config.filter_norm == "topk":
            # scale-free filter: the top-k weights average 1 (gradient flows through the mean)
            fg = fg / topk_mean(fg, mask, k)[:, :, None].clamp(min=1e-6)
        embedding = self.embed(x, m)  # (B, E, T)
        sims = neighbour_similarity(embedding)  # (B, 3, T)

        h_base, h_supp = self.conv1.forward_pair(x, sims, fg[:, 0])  # (B, H, T) each
        h_supp = self.act(h_supp)
        h1 = torch.cat([self.act(h_base), h_supp], dim=0)  # (2B, H, T)
        h2 = self.dropout(self.act(self.conv2(h1, sims.repeat(2, 1, 1))))  # (2B, H, T)
        cas_base, cas_supp = self.classifier(h2).chunk(2, dim=0)  # (B, C+1, T) each

        return BackTALOutput(
            fg_weight=fg[:, 0],
            embedding=embedding,
            cas_base=cas_base,
            cas_supp=cas_supp,
            score_base=topk_mean(cas_base, mask, k),
            score_supp=topk_mean(cas_supp, mask, k),
            features_supp=h_supp,
            mask=mask,
            topk=k,
        )


# Parameter names of the released code (lib/models/network.py) -> ours.
OFFICIAL_KEY_MAP = {
    "filter_module.conv_1.0.weight": "filter_conv1.weight",
    "filter_module.conv_1.0.bias": "filter_conv1.bias",
    "filter_module.conv_2.0.weight": "filter_conv2.weight",
    "filter_module.conv_2.0.bias": "filter_conv2.bias",
    "embedding_module.conv_1.weight": "embed_conv1.weight",
    "embedding_module.conv_1.bias": "embed_conv1.bias",
    "embedding_module.conv_2.weight": "embed_conv2.weight",
    "embedding_module.conv_2.bias": "embed_conv2.bias",
    "base_module.conv_1.weight": "conv1.weight",
    "base_module.conv_2.weight": "conv2.weight",
    "classifier_module.conv.weight": "classifier.weight",
}


def from_official_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a released BackTAL state dict for :class:`BackTAL` (use ``affinity="official"``)."""
    state = {key.removeprefix("module."): value for key, value in state.items()}
    missing = set(OFFICIAL_KEY_MAP) - set(state)
    if missing:
        raise KeyError(f"not a BackTAL state dict, missing {sorted(missing)}")
    return {ours: state[theirs] for theirs, ours in OFFICIAL_KEY_MAP.items()}
