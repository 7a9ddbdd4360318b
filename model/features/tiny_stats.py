"""``tiny-stats``: a cheap, deterministic extractor for tests and smoke runs.

Per snippet (real frames only, each scaled to 32×24 RGB): 8-bin histograms of R, G and B
(fractions of pixels, 24 values), the mean and standard deviation of each channel (6 values,
scaled to 0–1) and the mean and maximum absolute difference between consecutive gray frames
(2 values, 0–1). D = 32. No model, no randomness.
"""

from __future__ import annotations

import os

import numpy as np

from model.features.base import FeatureExtractor, ProgressFn, StopFn
from model.features.frames import (
    iter_snippets,
    read_video_meta,
    resampled_frame_count,
    snippet_count,
    to_array,
)

_W, _H, _BINS = 32, 24, 8


class TinyStatsExtractor(FeatureExtractor):
    name = "tiny-stats"
    dim = 3 * _BINS + 6 + 2

    def extract(
        self,
        video_path: str | os.PathLike[str],
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> np.ndarray:
        meta = read_video_meta(video_path)
        total = snippet_count(
            resampled_frame_count(meta.src_frames, meta.src_fps, self.fps), self.snippet_frames
        )
        rows: list[np.ndarray] = []
        prev_gray: np.ndarray | None = None
        last_frame, last_img = None, np.zeros((_H, _W, 3), np.uint8)
        for snip in iter_snippets(
            video_path, snippet_frames=self.snippet_frames, fps=self.fps, should_stop=should_stop
        ):
            imgs = []
            for frame in snip.frames[: snip.n_valid]:
                if frame is not last_frame:  # upsampling repeats the same frame object
                    last_frame, last_img = frame, to_array(frame, _W, _H, "rgb24")
                imgs.append(last_img)
            x = np.stack(imgs).astype(np.float32)  # (n, H, W, 3)
            hist = [
                np.histogram(x[..., c], bins=_BINS, range=(0, 256))[0] / x[..., c].size
                for c in range(3)
            ]
            gray = x.mean(axis=3)  # (n, H, W)
            gray_seq = np.concatenate([prev_gray[None], gray]) if prev_gray is not None else gray
            if len(gray_seq) > 1:
                diffs = np.abs(np.diff(gray_seq, axis=0)).mean(axis=(1, 2)) / 255.0
                motion = [diffs.mean(), diffs.max()]
            else:
                motion = [0.0, 0.0]
            prev_gray = gray[-1]
            row = np.concatenate(
                [
                    *hist,
                    x.mean(axis=(0, 1, 2)) / 255.0,
                    x.std(axis=(0, 1, 2)) / 255.0,
                    np.asarray(motion),
                ]
            )
            rows.append(row.astype(np.float32))
            if progress is not None and total:
                progress(min(0.99, len(rows) / total))
        if progress is not None:
            progress(1.0)
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack(rows).astype(np.float32)
