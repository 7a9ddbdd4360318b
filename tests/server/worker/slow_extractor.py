"""A deliberately slow extractor for crash tests, and an entry point that starts a worker
with it registered: ``python -m tests.server.worker.slow_extractor [worker args]``."""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from model.features import register_extractor
from model.features.base import ExtractionCancelled, FeatureExtractor, ProgressFn, StopFn

STEPS = 40
DIM = 8


class SlowExtractor(FeatureExtractor):
    name = "slow-test"
    dim = DIM

    def extract(
        self,
        video_path: str | os.PathLike[str],
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> np.ndarray:
        delay = float(os.environ.get("SLOW_EXTRACTOR_DELAY_S", "0.1"))
        rows = []
        for i in range(STEPS):
            if should_stop is not None and should_stop():
                raise ExtractionCancelled("stopped")
            time.sleep(delay)
            rows.append(np.full(DIM, i, dtype=np.float32))
            if progress is not None:
                progress((i + 1) / STEPS)
        return np.stack(rows)


register_extractor(SlowExtractor.name, SlowExtractor)

if __name__ == "__main__":
    from server.worker.__main__ import main

    sys.exit(main(sys.argv[1:]))
