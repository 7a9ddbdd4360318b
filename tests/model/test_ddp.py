"""Data-parallel training (model.distributed): the sharded loss normalisation, the DDP code
path at world size 1, and 2 CPU processes (gloo) against 1 process.

Tolerance: after 6 Adam steps (lr 1e-3) the 2-process weights match the 1-process weights to
max |diff| < 1e-5. The sharded gradients are the full-batch gradients up to float32 rounding
(the per-rank sums and the all-reduce add in another order); dropout is 0 because each rank
draws its own masks.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from model import distributed
from model.data import VideoItem, collate, write_npz_video
from model.losses import backtal_losses
from model.network import BackTAL
from model.recipes import train_config
from model.train import fit, forward, load_checkpoint
from tests.model.backtal_toy import make_toy_videos, tiny_model_config

REPO = Path(__file__).resolve().parents[2]
WEIGHT_TOL = 1e-5  # max abs difference of any weight, 2 processes vs 1
LOSS_TOL = 1e-5  # relative, per-epoch mean training losses and held-out metrics

# 14 videos: 3 held out (mAP selection), 11 trained in global batches of 5, 5, 1 -> shards of
# (3, 2), (3, 2), (1, 0): uneven shards and a rank with nothing (it joins with weight 0).
CONFIG = train_config(
    "published", supervision="both", epochs=2, batch_size=5, lr=1e-3, holdout_fraction=0.2, seed=3
)
MODEL = tiny_model_config(dropout=0.0)


def toy_items(count: int = 14) -> list[VideoItem]:
    """Variable lengths; every third video has no background click, so the click,
    separation and embedding terms are averaged over different sets on different ranks."""
    items = make_toy_videos(count, seed=5, length=(30, 50))
    empty = np.zeros(0, dtype=np.int64)
    return [replace(it, bg_clicks=empty) if i % 3 == 0 else it for i, it in enumerate(items)]


def max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ----------------------------------------------------------------------------- no processes


def test_shard_bounds_partition_the_batch() -> None:
    for size in range(0, 9):
        for world in (1, 2, 3, 4):
            bounds = [distributed.shard_bounds(size, r, world) for r in range(world)]
            assert bounds[0][0] == 0 and bounds[-1][1] == size
            assert all(hi == lo2 for (_, hi), (lo2, _) in itertools.pairwise(bounds))
            sizes = [hi - lo for lo, hi in bounds]
            assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("supervision", ["both", "bg-click", "weak"])
def test_sharded_losses_and_gradients_sum_to_the_full_batch(supervision: str) -> None:
    torch.manual_seed(0)
    model = BackTAL(MODEL)
    items = toy_items(7)
    weights = CONFIG.loss_weights

    def loss_and_grads(chunk: list[VideoItem], shares: dict[str, float] | None, length: int):
        batch = distributed.pad_batch(collate(chunk, supervision), length)
        terms = backtal_losses(forward(model, batch), batch, weights, supervision)
        if shares is not None:
            terms = distributed.shard_terms(terms, shares, weights)
        model.zero_grad()
        terms["total"].backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        return {k: float(v.detach()) for k, v in terms.items()}, grads

    length = max(it.num_snippets for it in items)
    full, full_grads = loss_and_grads(items, None, length)
    summed: dict[str, float] = dict.fromkeys(full, 0.0)
    summed_grads = {n: torch.zeros_like(g) for n, g in full_grads.items()}
    naive = 0.0  # what plain DDP averaging of per-shard means would optimise
    world = 3
    for rank in range(world):
        lo, hi = distributed.shard_bounds(len(items), rank, world)
        shard = items[lo:hi]
        shares = distributed.loss_shares(shard, items, supervision)
        part, grads = loss_and_grads(shard, shares, length)
        naive += loss_and_grads(shard, None, length)[0]["total"] / world
        for k in summed:
            summed[k] += part[k]
        for n in summed_grads:
            summed_grads[n] += grads[n]
    assert summed == pytest.approx(full, rel=1e-5, abs=1e-7)
    for n in full_grads:
        torch.testing.assert_close(summed_grads[n], full_grads[n], rtol=1e-4, atol=1e-6)
    if supervision != "weak":  # shard sizes 3, 2, 2 and uneven clicks: naive weighting differs
        assert abs(naive - full["total"]) > 1e-3


def test_world_size_one_process_group_trains_bit_identically(tmp_path: Path) -> None:
    """The DDP code path (wrap, shares, all-reduce) with one rank = the plain fit()."""
    items = toy_items()
    plain = fit(CONFIG, MODEL, items)
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        assert distributed.context() is not None
        seen: list[dict] = []
        ddp = fit(CONFIG, MODEL, items, on_progress=seen.append)
    finally:
        dist.destroy_process_group()
    assert distributed.context() is None
    assert len(seen) == CONFIG.epochs
    assert max_abs_diff(plain.model.state_dict(), ddp.model.state_dict()) == 0.0
    assert ddp.history == plain.history and ddp.best_epoch == plain.best_epoch
    assert ddp.holdout == plain.holdout


# ----------------------------------------------------------------------------- 2 processes


def _worker(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    assert distributed.init_from_env("cpu")
    try:
        seen: list[dict] = []
        result = fit(CONFIG, MODEL, toy_items(), on_progress=seen.append)
        torch.save(
            {
                "state": result.model.state_dict(),
                "history": result.history,
                "best_epoch": result.best_epoch,
                "progress_calls": len(seen),
            },
            Path(out) / f"rank{rank}.pt",
        )
    finally:
        distributed.cleanup()


def test_two_gloo_processes_train_the_same_model_as_one(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    single = fit(CONFIG, MODEL, toy_items())
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]

    # every rank ends with the same model, chosen at the same epoch; only rank 0 reports
    assert max_abs_diff(ranks[0]["state"], ranks[1]["state"]) == 0.0
    assert ranks[0]["history"] == ranks[1]["history"]
    assert [r["progress_calls"] for r in ranks] == [CONFIG.epochs, 0]

    diff = max_abs_diff(single.model.state_dict(), ranks[0]["state"])
    print(f"max |w_2proc - w_1proc| = {diff:.3g}")
    assert diff < WEIGHT_TOL
    assert ranks[0]["best_epoch"] == single.best_epoch
    for got, want in zip(ranks[0]["history"], single.history, strict=True):
        assert got["losses"] == pytest.approx(want["losses"], rel=LOSS_TOL, abs=1e-7)
        assert got["val"] == pytest.approx(want["val"], rel=LOSS_TOL, abs=1e-7)


def test_torchrun_cli_train_writes_one_checkpoint(tmp_path: Path) -> None:
    """``torchrun --nproc_per_node=2 -m model.cli train``: gloo on CPU, rank 0 writes OUT."""
    data = tmp_path / "data"
    (data / "val").mkdir(parents=True)
    for item in make_toy_videos(8, length=(30, 40)):
        write_npz_video(data / "val" / f"{item.name}.npz", item)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    # torch.distributed.run is what the torchrun script runs
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2"]
    cmd += ["--master_addr=127.0.0.1", f"--master_port={free_port()}", "-m", "model.cli"]
    cmd += ["train", "--data", str(data), "--out", str(out), "--epochs", "2", "--hidden", "32"]
    cmd += ["--batch-size", "3", "--holdout", "0.25", "--device", "cpu"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("best epoch") == 1  # printed by rank 0 only
    assert sorted(p.name for p in out.iterdir()) == ["history.json", "model.pt", "recipe.json"]
    _, config, names, meta = load_checkpoint(out / "model.pt")
    assert config.hidden == 32 and names == ["class_0", "class_1"]
    assert meta["metrics"]["best_epoch"] in (1, 2)
