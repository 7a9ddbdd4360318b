"""The worker loop: recover stale jobs, claim one, run it with a heartbeat, publish."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from server.config import Settings
from server.db import make_engine, make_sessionmaker, session_scope
from server.jobs import service as jobs
from server.models import Job, JobKind, JobStatus, Video, VideoStatus
from server.storage import open_storage
from server.storage.scratch import WorkerScratch
from server.worker.context import Handler, JobCancelled, JobContext, PermanentJobError

log = logging.getLogger("backtal.worker")
PARENT_POLL_S = 0.5


def default_handlers() -> dict[JobKind, Handler]:
    from server.worker.media_jobs import run_features, run_media

    handlers: dict[JobKind, Handler] = {JobKind.media: run_media, JobKind.features: run_features}
    try:
        from server.worker.train_jobs import run_predict, run_train
    except ImportError:  # pragma: no cover - the training handlers are optional
        pass
    else:
        handlers[JobKind.train] = run_train
        handlers[JobKind.predict] = run_predict
        from server.worker.compare_jobs import run_compare

        handlers[JobKind.compare] = run_compare
    return handlers


def _mark_video_failed(session: Session, job: Job, reason: str) -> None:
    if job.video_id is None or job.kind not in (JobKind.media, JobKind.features):
        return
    video = session.get(Video, job.video_id)
    if video is not None:
        video.status = VideoStatus.failed
        video.status_message = f"{job.kind.value} job failed: {reason}"[:2000]


class Worker:
    def __init__(
        self,
        settings: Settings,
        worker_id: str | None = None,
        kinds: list[JobKind] | None = None,
        handlers: dict[JobKind, Handler] | None = None,
        parent_pid: int | None = None,
    ) -> None:
        self.settings = settings
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.engine = make_engine(settings)
        self.factory = make_sessionmaker(self.engine)
        self.handlers = handlers or default_handlers()
        self.kinds = kinds or list(self.handlers)
        self.stop_event = threading.Event()
        self.storage = open_storage(settings)
        # a private scratch folder, emptied now: what a killed predecessor left goes
        self.scratch = WorkerScratch(settings.scratch_root)
        if self.scratch.cleaned:
            log.info(
                "worker %s: removed %d leftover entries from %s",
                self.worker_id,
                self.scratch.cleaned,
                self.scratch.path,
            )
        # started by ``serve --with-worker``: stop (handing the job back) when it is gone
        self.parent_pid = parent_pid
        self._swept = False

    # ------------------------------------------------------------------------------------
    def recover_stale(self) -> None:
        with session_scope(self.factory) as s:
            for job in jobs.recover_stale(s, self.settings.job_stale_after_s):
                log.warning("job %s: %s", job.id, job.message)
                if job.status == JobStatus.failed:
                    _mark_video_failed(s, job, job.error or "worker stopped")

    def claim(self) -> JobContext | None:
        with session_scope(self.factory) as s:
            job = jobs.claim_next(s, self.worker_id, self.kinds)
            if job is None:
                return None
            ctx = JobContext(
                job_id=job.id,
                worker_id=self.worker_id,
                kind=job.kind.value,
                params=dict(job.params or {}),
                video_id=job.video_id,
                model_version_id=job.model_version_id,
                settings=self.settings,
                factory=self.factory,
                shutdown=self.stop_event,
                storage=self.storage,
                scratch=self.scratch,
            )
            attempt = job.attempts
        if self.settings.job_trace_file is not None:
            with open(self.settings.job_trace_file, "a") as fh:
                fh.write(f"{ctx.job_id} {self.worker_id} {attempt}\n")
        return ctx

    def run_one(self) -> bool:
        """Recover stale jobs, then claim and run one job. False when none was queued."""
        self.recover_stale()
        ctx = self.claim()
        if ctx is None:
            return False
        self.execute(ctx)
        return True

    def sweep_temp_files(self) -> None:
        """Remove temporary files of dead writers (e.g. this worker before a SIGKILL)."""
        from server.housekeeping.tempfiles import sweep

        try:
            for path in sweep(self.settings.media_dir, self.settings.stale_temp_after_s):
                log.info("removed stale temporary file %s", path)
        except OSError as exc:  # never a reason not to work
            log.warning("sweeping temporary files failed: %s", exc)

    def _watch_parent(self) -> None:
        while True:
            if os.getppid() != self.parent_pid:
                log.warning("worker %s: its parent process is gone; stopping", self.worker_id)
                self.stop_event.set()
                return
            if self.stop_event.wait(PARENT_POLL_S):
                return

    def run(self, *, once: bool = False, max_jobs: int | None = None) -> int:
        """Loop until stopped (or, with ``once``, until the queue is empty).

        Starts by sweeping stale temporary files. Setting ``stop_event`` (SIGTERM, SIGINT,
        the parent process gone) stops the loop and hands a running job back to the queue.
        """
        if not self._swept:
            self._swept = True
            self.sweep_temp_files()
        if self.parent_pid is not None:
            threading.Thread(target=self._watch_parent, daemon=True, name="parent").start()
        done = 0
        while not self.stop_event.is_set():
            try:
                ran = self.run_one()
            except (OperationalError, InterfaceError) as exc:
                # The database went away (restart, failover, network): nothing was claimed
                # or published by this attempt (every step is one transaction). The pool
                # drops the dead connections; wait and poll again instead of dying.
                log.warning(
                    "worker %s: database unavailable (%s); retrying",
                    self.worker_id,
                    str(exc).splitlines()[0][:200],
                )
                self.stop_event.wait(self.settings.worker_poll_s)
                continue
            if ran:
                done += 1
                if max_jobs is not None and done >= max_jobs:
                    break
            elif once:
                break
            else:
                self.stop_event.wait(self.settings.worker_poll_s)
        return done

    def close(self) -> None:
        self.scratch.close()
        self.engine.dispose()

    # ------------------------------------------------------------------------------------
    def _heartbeat(self, ctx: JobContext, stop: threading.Event) -> None:
        while not stop.wait(self.settings.worker_heartbeat_s):
            try:
                ctx.beat()
            except Exception:  # a missed beat is not fatal; the next one may pass
                log.exception("job %s: heartbeat failed", ctx.job_id)

    def execute(self, ctx: JobContext) -> JobStatus | None:
        handler = self.handlers[JobKind(ctx.kind)]
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(ctx, stop), daemon=True)
        beat.start()
        log.info("job %s (%s) started by %s", ctx.job_id, ctx.kind, self.worker_id)
        try:
            return self._run_handler(ctx, handler)
        finally:
            stop.set()
            beat.join()

    def _run_handler(self, ctx: JobContext, handler: Handler) -> JobStatus | None:
        t0 = time.monotonic()
        try:
            publish = handler(ctx)
            ctx.check_stop(shutdown=False)  # finished work is published even when stopping
        except JobCancelled as exc:
            if ctx.stopping:
                return self._hand_back(ctx)
            return self._end(ctx, JobStatus.cancelled, message=f"cancelled: {exc}")
        except PermanentJobError as exc:
            return self._fail(ctx, str(exc), permanent=True)
        except Exception as exc:
            log.error("job %s failed:\n%s", ctx.job_id, traceback.format_exc())
            return self._fail(ctx, f"{type(exc).__name__}: {exc}", permanent=False)
        try:
            with session_scope(self.factory) as s:
                message = publish(s)
                if not jobs.finish(
                    s, ctx.job_id, self.worker_id, JobStatus.succeeded, message=message or "done"
                ):
                    raise JobCancelled("the job was taken away before it could be published")
        except JobCancelled:
            log.warning("job %s: lost before publishing; result discarded", ctx.job_id)
            return None
        except Exception as exc:
            log.error("job %s: publishing failed:\n%s", ctx.job_id, traceback.format_exc())
            return self._fail(ctx, f"{type(exc).__name__}: {exc}", permanent=False)
        log.info("job %s succeeded in %.1f s", ctx.job_id, time.monotonic() - t0)
        return JobStatus.succeeded

    def _hand_back(self, ctx: JobContext) -> JobStatus | None:
        with session_scope(self.factory) as s:
            ok = jobs.hand_back(s, ctx.job_id, self.worker_id)
        log.info("job %s handed back to the queue (worker stopping)", ctx.job_id)
        return JobStatus.queued if ok else None

    def _end(self, ctx: JobContext, status: JobStatus, message: str) -> JobStatus | None:
        with session_scope(self.factory) as s:
            ok = jobs.finish(s, ctx.job_id, self.worker_id, status, message=message)
        return status if ok else None

    def _fail(self, ctx: JobContext, reason: str, *, permanent: bool) -> JobStatus | None:
        with session_scope(self.factory) as s:
            if permanent:
                ok = jobs.finish(
                    s, ctx.job_id, self.worker_id, JobStatus.failed, message=reason, error=reason
                )
                status: JobStatus | None = JobStatus.failed if ok else None
            else:
                status = jobs.retry_or_fail(s, ctx.job_id, self.worker_id, reason)
            if status == JobStatus.failed:
                job = s.get(Job, ctx.job_id)
                if job is not None:
                    _mark_video_failed(s, job, reason)
        return status


def run_until_idle(settings: Settings, **kwargs: object) -> int:
    """Run jobs until none is queued (tests, ``--once``)."""
    worker = Worker(settings, **kwargs)  # type: ignore[arg-type]
    try:
        return worker.run(once=True)
    finally:
        worker.close()
