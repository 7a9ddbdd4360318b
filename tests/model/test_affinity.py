"""Affinity conv (paper and official), network wiring, masking, top-k, official key map."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from model.network import (
    OFFICIAL_KEY_MAP,
    AffinityConv1d,
    BackTAL,
    affinity_blocks,
    from_official_state_dict,
    neighbour_similarity,
    topk_counts,
    topk_mean,
)
from tests.model.backtal_toy import tiny_model_config


def _unit_embeddings(batch: int, dim: int, length: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(batch, dim, length, generator=g, dtype=torch.float64), dim=1)


def test_paper_affinity_equals_explicit_per_tap_loop() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 7, generator=g, dtype=torch.float64)  # (B, Cin, T)
    emb = _unit_embeddings(2, 4, 7, seed=1)  # (B, E, T)
    conv = AffinityConv1d(5, 3, "paper").double()

    got = conv(x, neighbour_similarity(emb))

    w = conv.weight.detach()  # (Cout, Cin, 3)
    want = torch.zeros(2, 3, 7, dtype=torch.float64)
    for b in range(2):
        for t in range(7):
            for k in range(3):
                s = t + k - 1  # the neighbour tap k looks at
                if not 0 <= s < 7:
                    continue
                cos = float(emb[b, :, t] @ emb[b, :, s])
                want[b, :, t] += cos * (w[:, :, k] @ x[b, :, s])
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def official_unfold_tile(x: torch.Tensor, emb: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Independent re-statement of the released code: unfold (channel-major rows 3c + k),
    similarity tile stacked tap-major (rows k·C + c), multiply, matmul with the flat weight."""
    batch, channels, length = x.shape
    unf = F.unfold(x[..., None], kernel_size=(3, 1), padding=(1, 0))  # (B, 3C, T)
    left = torch.zeros_like(emb)
    left[:, :, 1:] = emb[:, :, :-1]
    right = torch.zeros_like(emb)
    right[:, :, :-1] = emb[:, :, 1:]
    sims = [F.cosine_similarity(emb, n, dim=1) for n in (left, emb, right)]  # 3 x (B, T)
    tile = torch.cat([s[:, None, :].expand(batch, channels, length) for s in sims], dim=1)
    return torch.einsum("of,bft->bot", weight.reshape(weight.shape[0], -1), unf * tile)


@pytest.mark.parametrize("channels", [6, 7, 8])
def test_official_affinity_equals_unfold_and_tap_major_tile(channels: int) -> None:
    g = torch.Generator().manual_seed(channels)
    x = torch.randn(2, channels, 9, generator=g, dtype=torch.float64)
    emb = _unit_embeddings(2, 4, 9, seed=channels + 1)
    conv = AffinityConv1d(channels, 5, "official").double()

    got = conv(x, neighbour_similarity(emb))
    want = official_unfold_tile(x, emb, conv.weight.detach())
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)

    paper = AffinityConv1d(channels, 5, "paper").double()
    paper.load_state_dict(conv.state_dict())
    assert not torch.allclose(paper(x, neighbour_similarity(emb)), want)


def test_official_blocks_by_hand_for_four_channels() -> None:
    # unfold row r = 3c + k takes the similarity r // 4:
    # c0: r0 r1 r2 -> 0 0 0; c1: r3 r4 r5 -> 0 1 1; c2: r6 r7 r8 -> 1 1 2; c3: r9 r10 r11 -> 2 2 2
    assert affinity_blocks(4, "official") == [
        (0, 0, 0, 2), (0, 1, 2, 3), (0, 2, 3, 4),
        (1, 0, 0, 1), (1, 1, 1, 3), (1, 2, 3, 4),
        (2, 0, 0, 1), (2, 1, 1, 2), (2, 2, 2, 4),
    ]  # fmt: skip
    assert affinity_blocks(4, "paper") == [(0, 0, 0, 4), (1, 1, 0, 4), (2, 2, 0, 4)]


def test_neighbour_similarity_by_hand() -> None:
    emb = torch.tensor(
        [[[1.0, 0.0, 0.6], [0.0, 1.0, 0.8]]]
    )  # (1, 2, 3): e0=(1,0) e1=(0,1) e2=(.6,.8)
    sims = neighbour_similarity(emb)
    want = torch.tensor([[[0.0, 0.0, 0.8], [1.0, 1.0, 1.0], [0.0, 0.8, 0.0]]])
    torch.testing.assert_close(sims, want)


def test_suppressed_branch_reuses_base_products_exactly() -> None:
    torch.manual_seed(0)
    model = BackTAL(tiny_model_config(dim=6, hidden=5)).double().eval()
    x = torch.randn(2, 6, 11, dtype=torch.float64)
    out = model(x)
    sims = neighbour_similarity(out.embedding)
    direct = model.act(model.conv1(x * out.fg_weight[:, None, :], sims))  # conv on x·a
    torch.testing.assert_close(out.features_supp, direct, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("affinity", ["paper", "official"])
def test_padded_video_gives_same_outputs_as_alone(affinity: str) -> None:
    torch.manual_seed(0)
    model = BackTAL(tiny_model_config(dim=6, affinity=affinity)).double().eval()
    short = torch.randn(1, 6, 9, dtype=torch.float64)
    long = torch.randn(1, 6, 17, dtype=torch.float64)
    alone = model(short)
    batch = torch.zeros(2, 6, 17, dtype=torch.float64)
    batch[0, :, :9] = short[0]
    batch[1] = long[0]
    batch[0, :, 9:] = 5.0  # garbage in the padding must not leak
    mask = torch.zeros(2, 17, dtype=torch.bool)
    mask[0, :9] = True
    mask[1] = True
    padded = model(batch, mask)
    torch.testing.assert_close(padded.cas_supp[0, :, :9], alone.cas_supp[0])
    torch.testing.assert_close(padded.score_base[0], alone.score_base[0])
    torch.testing.assert_close(padded.score_supp[0], alone.score_supp[0])
    torch.testing.assert_close(padded.fg_weight[0, :9], alone.fg_weight[0])
    assert int(padded.topk[0]) == 1 and int(padded.topk[1]) == 2
    assert float(padded.fg_weight[0, 9:].detach().abs().sum()) == 0.0


def test_topk_count_and_mean_by_hand() -> None:
    assert topk_counts(torch.ones(1, 750, dtype=torch.bool), 8).tolist() == [93]
    mask = torch.tensor([[True] * 16 + [False] * 4, [True] * 5 + [False] * 15])
    k = topk_counts(mask, 8)
    assert k.tolist() == [2, 1]
    values = torch.arange(20, dtype=torch.float64).repeat(2, 1)[:, None, :]  # (2, 1, 20)
    # video 0: top-2 of 0..15 = (15 + 14) / 2; video 1: top-1 of 0..4 = 4
    assert topk_mean(values, mask, k)[:, 0].tolist() == [14.5, 4.0]


def test_network_shapes_and_published_defaults() -> None:
    cfg = tiny_model_config(dim=10, num_classes=3)
    out = BackTAL(cfg)(torch.randn(2, 10, 24))
    assert out.cas_base.shape == (2, 4, 24) and out.cas_supp.shape == (2, 4, 24)
    assert out.score_base.shape == (2, 4) and out.embedding.shape == (2, 8, 24)
    assert out.features_supp.shape == (2, 32, 24) and out.fg_weight.shape == (2, 24)
    norms = out.embedding.norm(dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms))
    assert cfg.topk_ratio == 8 and math.isclose(tiny_model_config(dim=4).leaky_slope, 0.01)


def test_released_state_dict_names_load() -> None:
    model = BackTAL(tiny_model_config(dim=6, affinity="official"))
    ours_to_theirs = {v: k for k, v in OFFICIAL_KEY_MAP.items()}
    released = {"module." + ours_to_theirs[k]: v + 1.0 for k, v in model.state_dict().items()}
    fresh = BackTAL(tiny_model_config(dim=6, affinity="official"))
    fresh.load_state_dict(from_official_state_dict(released))
    for key, value in model.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[key], value + 1.0)
    with pytest.raises(KeyError):
        from_official_state_dict({"foo": torch.zeros(1)})
