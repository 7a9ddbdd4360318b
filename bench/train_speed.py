"""Training-step time and peak memory: our BackTAL trainer vs. a baseline with the released
code's structure, same shapes, measured in the same run.

The baseline (written here, not copied) mirrors the official implementation: each affinity
conv is nn.Unfold + a similarity tile stacked tap-major + a matmul, the base and the
suppressed branch each run both convs, and the separation and embedding losses loop over
videos and classes in Python. Ours: ``model.train.train_step`` (per-tap products shared by
both branches, both branches batched in the second layer, vectorised losses).

Variants: ``baseline``; ``ours`` (fp32, paper affinity, the default trainer); ``ours-bf16``
(``TrainConfig.precision="bf16"``); ``ours-official`` (fp32, ``affinity="official"``, the same
arithmetic as the baseline).

Step times: all variants live in one process and their steps are interleaved round-robin, so
that load from other processes on a shared machine hits them alike; the median over the timed
rounds is reported. Peak memory: each variant runs alone in a subprocess (warm-up + one
measured step): growth of the peak RSS over the RSS before the step on CPU (Linux VmHWM, reset
through /proc/self/clear_refs), ``torch.cuda.max_memory_allocated`` over the allocated memory
on CUDA.

    python -m bench.train_speed --device cuda              # published shapes: B=16, T=750, D=H=2048
    python -m bench.train_speed --batch 2 --steps 5        # a few minutes on a 2-core CPU
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from model.config import ModelConfig, TrainConfig
from model.data import IGNORE, Batch
from model.network import BackTAL
from model.train import make_optimizer, train_step

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("baseline", "ours", "ours-bf16", "ours-official")


# ----------------------------------------------------------------------------- baseline
class UnfoldAffinityConv(nn.Module):
    """Released-code structure: unfold (B, 3C, T), multiply by a tap-major tile, matmul."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 3))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)

    def forward(self, x: torch.Tensor, sims: torch.Tensor) -> torch.Tensor:
        """# (B, C, T), (B, 3, T) -> (B, Cout, T)"""
        batch, channels, length = x.shape
        unf = F.unfold(x[..., None], kernel_size=(3, 1), padding=(1, 0))  # (B, 3C, T)
        tile = torch.zeros(batch, 3 * channels, length, dtype=x.dtype, device=x.device)
        for k in range(3):
            tile[:, k * channels : (k + 1) * channels] = sims[:, k : k + 1]
        flat = self.weight.view(self.weight.shape[0], -1)  # (Cout, 3C)
        return torch.matmul((unf * tile).transpose(1, 2), flat.t()).transpose(1, 2)


class BaselineNet(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d, h = cfg.feature_dim, cfg.hidden
        self.filter = nn.Sequential(
            nn.Conv1d(d, 512, 1), nn.LeakyReLU(), nn.Conv1d(512, 1, 1), nn.Sigmoid()
        )
        self.embed1 = nn.Conv1d(d, 512, 3, padding=1)
        self.embed2 = nn.Conv1d(512, cfg.embed_dim, 3, padding=1)
        self.conv1 = UnfoldAffinityConv(d, h)
        self.conv2 = UnfoldAffinityConv(h, h)
        self.classifier = nn.Conv1d(h, cfg.num_classes + 1, 1, bias=False)
        self.act = nn.LeakyReLU()
        self.dropout = nn.Dropout(cfg.dropout)
        self.k = 0

    def branch(self, x: torch.Tensor, sims: torch.Tensor) -> torch.Tensor:
        """# (B, D, T) -> (B, C+1, T)"""
        f1 = self.act(self.conv1(x, sims))
        f2 = self.dropout(self.act(self.conv2(f1, sims)))
        return self.classifier(f2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        fg = self.filter(x)  # (B, 1, T)
        emb = F.normalize(self.embed2(self.act(self.embed1(x))), dim=1)  # (B, E, T)
        left = torch.zeros_like(emb)
        left[:, :, 1:] = emb[:, :, :-1]
        right = torch.zeros_like(emb)
        right[:, :, :-1] = emb[:, :, 1:]
        sims = torch.stack([F.cosine_similarity(emb, n, dim=1) for n in (left, emb, right)], 1)
        cas_base = self.branch(x, sims)
        cas_supp = self.branch(x * fg, sims)
        k = x.shape[2] // 8
        score_base = cas_base.topk(k, dim=2)[0].mean(2)
        score_supp = cas_supp.topk(k, dim=2)[0].mean(2)
        return score_base, cas_base, score_supp, cas_supp, emb, fg


def baseline_loss(outputs: tuple[torch.Tensor, ...], batch: Batch) -> torch.Tensor:
    score_base, cas_base, score_supp, cas_supp, emb, fg = outputs
    labels, points = batch.labels, batch.points
    num_classes = labels.shape[1]
    ones = torch.ones_like(labels[:, :1])

    def cls_loss(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target / (target.sum(1, keepdim=True) + 1e-10)
        return -(target * F.log_softmax(scores, 1)).sum(1).mean()

    total = cls_loss(score_base, torch.cat([labels, ones], 1))
    total = total + cls_loss(score_supp, torch.cat([labels, 0 * ones], 1))
    total = total + 1e-4 * fg.abs().sum(2).mean()
    total = total + F.cross_entropy(cas_base, points, ignore_index=IGNORE)
    k = cas_base.shape[2] // 8
    seps, embs = [], []
    for b in range(labels.shape[0]):  # per video, per class, as the released code
        bg = torch.where(points[b] == num_classes)[0]
        if bg.numel() == 0:
            continue
        per_class, fg_idx = [], []
        for c in torch.where(labels[b] == 1)[0]:
            pair = torch.stack([score_base[b, c], cas_base[b, c, bg].mean()])[None]
            per_class.append(-F.log_softmax(pair, dim=1)[0, 0])
            fg_idx.extend(cas_supp[b, c].topk(k)[1].tolist())
        seps.append(torch.stack(per_class).mean())
        fg_e, bg_e = emb[b][:, fg_idx].t(), emb[b][:, bg].t()
        ff, bb, fb = fg_e @ fg_e.t(), bg_e @ bg_e.t(), fg_e @ bg_e.t()
        embs.append(
            F.relu(0.5 - ff.min(1)[0]).mean()
            + F.relu(0.5 - bb.min(1)[0]).mean()
            + F.relu(fb.max(1)[0] - 0.1).mean()
            + F.relu(fb.max(0)[0] - 0.1).mean()
        )
    return total + torch.stack(seps).mean() + 0.8 * torch.stack(embs).mean()


# ----------------------------------------------------------------------------- measuring
def make_batch(args: argparse.Namespace, device: torch.device) -> Batch:
    g = torch.Generator().manual_seed(0)
    b, t, c = args.batch, args.T, args.classes
    feats = torch.randn(b, args.dim, t, generator=g).abs()  # I3D features are post-ReLU
    labels = torch.zeros(b, c)
    labels[torch.arange(b), torch.randint(0, c, (b,), generator=g)] = 1.0
    points = torch.full((b, t), IGNORE, dtype=torch.long)
    for i in range(b):  # about 11 background clicks per video (2264 over 200 videos)
        points[i, torch.randperm(t, generator=g)[:11]] = c
    mask = torch.ones(b, t, dtype=torch.bool)
    return Batch(feats, mask, labels, points, [str(i) for i in range(b)]).to(device)


def build_step(variant: str, args: argparse.Namespace, batch: Batch) -> Callable[[], None]:
    """A closure doing one full training step (forward, losses, backward, Adam) of a variant."""
    device = batch.features.device
    cfg = ModelConfig(
        feature_dim=args.dim,
        num_classes=args.classes,
        hidden=args.hidden,
        affinity="official" if variant == "ours-official" else "paper",
    )
    if variant == "baseline":
        net = BaselineNet(cfg).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=1e-4, weight_decay=5e-4)

        def baseline_step() -> None:
            net.train()
            loss = baseline_loss(net(batch.features), batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return baseline_step
    model = BackTAL(cfg).to(device)
    train_cfg = TrainConfig(
        supervision="bg-click", precision="bf16" if variant == "ours-bf16" else "fp32"
    )
    optimizer = make_optimizer(model, train_cfg)

    def our_step() -> None:
        train_step(model, batch, optimizer, train_cfg)

    return our_step


def timed(step: Callable[[], None], cuda: bool) -> float:
    start = time.perf_counter()
    step()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure_times(args: argparse.Namespace, variants: list[str]) -> dict[str, list[float]]:
    device = torch.device(args.device)
    batch = make_batch(args, device)
    steps = {}
    for v in variants:
        torch.manual_seed(0)
        steps[v] = build_step(v, args, batch)
    cuda = device.type == "cuda"
    for v in variants:
        for _ in range(args.warmup):
            timed(steps[v], cuda)
    times: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(args.steps):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]  # rotate
        for v in order:
            times[v].append(timed(steps[v], cuda))
    return times


def _proc_status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def measure_peak_mib(args: argparse.Namespace, variant: str) -> float:
    """Memory a training step needs beyond weights, gradients, optimizer state and input."""
    device = torch.device(args.device)
    batch = make_batch(args, device)
    torch.manual_seed(0)
    step = build_step(variant, args, batch)
    cuda = device.type == "cuda"
    timed(step, cuda)  # creates gradients and optimizer state
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        timed(step, cuda)
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    # Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    base_kib = _proc_status_kib("VmRSS")
    timed(step, cuda)
    return (_proc_status_kib("VmHWM") - base_kib) / 1024


def main() -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.train_speed", description=__doc__.split("\n")[0]
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--T", type=int, default=750)
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--classes", type=int, default=20)
    p.add_argument("--steps", type=int, default=5, help="timed rounds (median reported)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--memory-of", choices=VARIANTS, help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_of:
        print(json.dumps({"peak_mib": measure_peak_mib(args, args.memory_of)}))
        return

    variants = args.variants.split(",")
    print(
        f"device={args.device} B={args.batch} T={args.T} D={args.dim} H={args.hidden} "
        f"C={args.classes} threads={args.threads} rounds={args.steps} (+{args.warmup} warm-up)"
    )
    times = measure_times(args, variants)
    shape = [
        f"--{name}={getattr(args, name)}"
        for name in ("device", "batch", "T", "dim", "hidden", "classes", "threads")
    ]
    peaks: dict[str, float] = {}
    if not args.no_memory:
        for v in variants:
            proc = subprocess.run(
                [sys.executable, "-m", "bench.train_speed", *shape, f"--memory-of={v}"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            peaks[v] = json.loads(proc.stdout.strip().splitlines()[-1])["peak_mib"]
    median = {v: statistics.median(ts) for v, ts in times.items()}
    for v in variants:
        steps_ms = " ".join(f"{t * 1000:.0f}" for t in times[v])
        peak = f"  peak {peaks[v]:7.0f} MiB" if v in peaks else ""
        print(f"{v:14s} median {median[v] * 1000:9.1f} ms{peak}   steps [{steps_ms}] ms")
    if "baseline" in median:
        for v in variants:
            if v == "baseline":
                continue
            line = f"baseline / {v}: time x{median['baseline'] / median[v]:.2f}"
            if v in peaks and "baseline" in peaks and peaks[v] > 0:
                line += f", peak memory x{peaks['baseline'] / peaks[v]:.2f}"
            print(line)


if __name__ == "__main__":
    main()
