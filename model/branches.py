"""Per-snippet foreground beliefs of BackTAL's two halves (one forward pass).

The input of the ``branch_disagreement`` suggestion signal (:mod:`model.suggest`): the
filter's foreground weight ``a_t`` (what the suppressed branch is fed) and the base
branch's foreground probability ``1 − softmax(CAS_base[:, t])[background]``.
"""

from __future__ import annotations

import numpy as np
import torch

from model.network import BackTAL


@torch.no_grad()
def foreground_beliefs(model: BackTAL, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fg_filter, fg_base) of one video, both in [0, 1].  # (T, D) -> (T,), (T,)"""
    model.eval()
    device = next(model.parameters()).device
    feats = torch.from_numpy(np.ascontiguousarray(features.T, dtype=np.float32))[None]  # (1, D, T)
    out = model(feats.to(device))
    fg_filter = out.fg_weight[0].float().cpu().numpy()  # (T,)
    probs = torch.softmax(out.cas_base[0].float(), dim=0)  # (C+1, T)
    fg_base = (1.0 - probs[-1]).cpu().numpy()  # (T,)
    return fg_filter.astype(np.float64), fg_base.astype(np.float64)
