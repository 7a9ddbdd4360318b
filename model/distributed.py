"""Data-parallel training helpers (``torch.distributed``; see docs/distributed.md).

:func:`model.train.fit` switches to data-parallel mode when a process group is initialised
(``torchrun`` + :func:`init_from_env`). Every rank builds the same global batches in the same
order as a single process would, keeps a contiguous slice of each (:func:`shard_bounds`) and
scales its loss terms so that the gradients DistributedDataParallel averages equal the
gradient of the full-batch loss:

The loss terms of :mod:`model.losses` are means over different sets: ``video_*`` and
``fg_norm`` over videos, ``click`` over clicked snippets, ``separation`` over videos with
background clicks and a positive label, ``embedding`` over videos with background clicks. A
shard's mean of term t over its n_t members times n_t / N_t (N_t: members in the global
batch) is that shard's exact part of the global mean; summed over ranks it is the global
mean. The counts depend only on the labels and clicks, so every rank computes them for the
whole global batch without communication (:func:`loss_shares`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from model.config import LossWeights
from model.data import IGNORE, Batch, VideoItem, point_labels

# loss term (also the LossWeights field weighting it) -> the set model.losses averages it over
TERM_GROUPS = {
    "video_base": "videos",
    "video_supp": "videos",
    "fg_norm": "videos",
    "click": "clicks",
    "separation": "bg_positive_videos",
    "embedding": "bg_videos",
}


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def context() -> DistContext | None:
    """The current process group's rank and size; None when none is initialised."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    local_rank = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank)


def is_main_process() -> bool:
    ctx = context()
    return ctx is None or ctx.is_main


def _wants_cuda(device: str) -> bool:
    if device == "auto":
        return torch.cuda.is_available()
    return torch.device(device).type == "cuda"


def init_from_env(device: str = "auto", timeout_s: float = 1800.0) -> bool:
    """Join the process group described by torchrun's environment (RANK, WORLD_SIZE,
    LOCAL_RANK, MASTER_ADDR, MASTER_PORT): nccl when this rank trains on CUDA, gloo otherwise.

    Returns True when this call initialised a group (pair it with :func:`cleanup`); False
    outside torchrun or when a group already exists.
    """
    if "WORLD_SIZE" not in os.environ or not dist.is_available() or dist.is_initialized():
        return False
    backend = "gloo"
    if _wants_cuda(device):
        torch.cuda.set_device(rank_device(device, int(os.environ.get("LOCAL_RANK", "0"))))
        backend = "nccl"
    dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s))
    return True


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def rank_device(name: str, local_rank: int) -> torch.device:
    """``cuda:LOCAL_RANK`` for "auto" (with CUDA) and for a bare "cuda"; else ``name``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank)
    return device


def wrap(model: torch.nn.Module, device: torch.device) -> DistributedDataParallel:
    """DDP around ``model`` (already on ``device``): averages gradients during backward."""
    device_ids = None
    if device.type == "cuda":
        torch.cuda.set_device(device)  # collectives of objects (nccl) use the current device
        device_ids = [device.index]
    return DistributedDataParallel(model, device_ids=device_ids)


def shard_bounds(size: int, rank: int, world_size: int) -> tuple[int, int]:
    """Rows [lo, hi) of a global batch of ``size`` owned by ``rank``: contiguous, the first
    ``size % world_size`` ranks get one more; a rank may get none when size < world_size."""
    base, extra = divmod(size, world_size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def loss_counts(items: Sequence[VideoItem], supervision: str) -> dict[str, int]:
    """How many members each normalising set of :mod:`model.losses` has in ``items``."""
    counts = {"videos": len(items), "clicks": 0, "bg_positive_videos": 0, "bg_videos": 0}
    if supervision == "weak" or not items:
        return counts  # no click terms at all
    use_action = supervision in ("action-click", "both")
    use_bg = supervision in ("bg-click", "both")
    num_classes = items[0].labels.shape[0]
    for item in items:
        points = point_labels(item, num_classes, use_action, use_bg)
        has_bg = bool(np.any(points == num_classes))
        counts["clicks"] += int(np.count_nonzero(points != IGNORE))
        counts["bg_videos"] += int(has_bg)
        counts["bg_positive_videos"] += int(has_bg and bool(np.any(item.labels > 0)))
    return counts


def loss_shares(
    shard: Sequence[VideoItem], batch: Sequence[VideoItem], supervision: str
) -> dict[str, float]:
    """Per loss term, n_t(shard) / N_t(batch) (0 when the global set is empty)."""
    mine, total = loss_counts(shard, supervision), loss_counts(batch, supervision)
    return {
        term: mine[group] / total[group] if total[group] else 0.0
        for term, group in TERM_GROUPS.items()
    }


def shard_terms(
    terms: dict[str, torch.Tensor], shares: dict[str, float], weights: LossWeights
) -> dict[str, torch.Tensor]:
    """A shard's exact parts of the global loss terms and of the weighted total.

    Summed over ranks they equal :func:`model.losses.backtal_losses` on the global batch.
    """
    parts = {name: terms[name] * shares[name] for name in TERM_GROUPS}
    total = sum(
        (getattr(weights, name) * value for name, value in parts.items()),
        start=torch.zeros((), device=terms["total"].device),
    )
    return {**parts, "total": total}


def pad_batch(batch: Batch, length: int) -> Batch:
    """Pad a collated batch on the time axis to ``length`` snippets (as collate would)."""
    extra = length - batch.features.shape[2]
    if extra <= 0:
        return batch
    return Batch(
        features=F.pad(batch.features, (0, extra)),
        mask=F.pad(batch.mask, (0, extra), value=False),
        labels=batch.labels,
        points=F.pad(batch.points, (0, extra), value=IGNORE),
        names=batch.names,
    )


def sum_across(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """All-reduce (sum) a dict of floats; every rank must pass the same keys in the same order."""
    names = list(values)
    tensor = torch.tensor([values[n] for n in names], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return dict(zip(names, tensor.tolist(), strict=True))


def any_rank(flag: bool, device: torch.device) -> bool:
    tensor = torch.tensor([int(flag)], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` of rank ``src`` on every rank (picklable objects)."""
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
