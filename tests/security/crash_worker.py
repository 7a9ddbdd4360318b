"""A test-only worker entry point that SIGKILLs itself at one stage of a job.

``CRASH_AT`` picks the stage (production code has no such hook; this module patches the
worker's collaborators before starting the real worker loop)::

    proxy             while the browser proxy is being encoded (after its first progress)
    proxy-file        while the browser proxy is being encoded, once its temporary file is
                      on disk (the encoder buffers its first frames before writing)
    thumbnails        while the thumbnail sprite is being made
    features          while the extractor runs
    publish-media     inside the transaction that publishes the media job, before commit
    publish-features  inside the transaction that publishes the features job, before commit

``python -m tests.security.crash_worker [worker args]``
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

STAGES = ("proxy", "proxy-file", "thumbnails", "features", "publish-media", "publish-features")


def _die() -> None:
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _dying_progress(progress: Any) -> Any:
    def wrapped(fraction: float) -> None:
        if progress is not None:
            progress(fraction)
        if fraction > 0:
            _die()

    return wrapped


def install(stage: str) -> None:
    from server.jobs import service as jobs
    from server.models import Job, JobKind, JobStatus
    from server.worker import media_jobs

    if stage == "proxy":
        real_proxy = media_jobs.make_proxy

        def proxy(*args: Any, progress: Any = None, **kwargs: Any) -> Any:
            real_proxy(*args, progress=_dying_progress(progress), **kwargs)
            _die()  # the encoder reported no progress before it finished

        media_jobs.make_proxy = proxy  # type: ignore[assignment]
    elif stage == "proxy-file":
        real_proxy = media_jobs.make_proxy

        def proxy_file(src: Any, dst: Any, *args: Any, progress: Any = None, **kw: Any) -> Any:
            folder, name = Path(dst).parent, Path(dst).name

            def wrapped(fraction: float) -> None:
                if progress is not None:
                    progress(fraction)
                if any(p.name.startswith(f".{name}") for p in folder.iterdir()):
                    _die()

            real_proxy(src, dst, *args, progress=wrapped, **kw)
            _die()  # no temporary file was seen: the test's own check then fails

        media_jobs.make_proxy = proxy_file  # type: ignore[assignment]
    elif stage == "thumbnails":
        real_sprite = media_jobs.make_thumbnail_sprite

        def sprite(*args: Any, progress: Any = None, **kwargs: Any) -> Any:
            real_sprite(*args, progress=_dying_progress(progress), **kwargs)
            _die()

        media_jobs.make_thumbnail_sprite = sprite  # type: ignore[assignment]
    elif stage == "features":
        import model.features as features

        real_get = features.get_extractor

        class Dying:
            def __init__(self, inner: Any) -> None:
                self.inner = inner

            def extract(self, path: Any, progress: Any = None, should_stop: Any = None) -> Any:
                self.inner.extract(path, progress=_dying_progress(progress))
                _die()

        features.get_extractor = lambda name: Dying(real_get(name))  # type: ignore[assignment]
    elif stage in ("publish-media", "publish-features"):
        kind = JobKind.media if stage == "publish-media" else JobKind.features
        real_finish = jobs.finish

        def finish(s: Any, job_id: int, worker_id: str, status: JobStatus, **kw: Any) -> Any:
            job = s.get(Job, job_id)
            if status == JobStatus.succeeded and job is not None and job.kind == kind:
                s.flush()  # the published rows are written, not committed
                _die()
            return real_finish(s, job_id, worker_id, status, **kw)

        jobs.finish = finish  # type: ignore[assignment]
    else:
        raise SystemExit(f"CRASH_AT must be one of {STAGES}, not {stage!r}")


if __name__ == "__main__":
    install(os.environ.get("CRASH_AT", ""))
    from server.worker.__main__ import main

    sys.exit(main(sys.argv[1:]))
