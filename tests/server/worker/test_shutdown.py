"""No orphans, no leftovers: ``serve --with-worker`` stops its worker on SIGTERM (the running
job is handed back to the queue), a worker whose parent died stops by itself, and a worker
restarted after a SIGKILL sweeps the temporary file its predecessor left."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from server.housekeeping.tempfiles import is_temp_name
from server.models import Job, JobKind, JobStatus
from tests.security.live import free_port, wait_for
from tests.server.helpers import FAST_WORKER, upload, worker_env, worker_once

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update=FAST_WORKER)


def _job(app: Any, kind: JobKind) -> Job | None:
    with app.state.sessionmaker() as s:
        return s.scalar(select(Job).where(Job.kind == kind))


def _group(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


def _serve_with_slow_worker(settings: Any, tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """``serve --with-worker`` in its own process group; its worker knows the slow test
    extractor (registered by a ``sitecustomize`` on the path, no hook in the server)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import tests.server.worker.slow_extractor\n")
    env = worker_env(
        settings,
        BACKTAL_FEATURE_EXTRACTOR="slow-test",
        SLOW_EXTRACTOR_DELAY_S="0.5",
        PYTHONPATH=f"{site}{os.pathsep}{ROOT}",
    )
    log = tmp_path / "serve.log"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--with-worker", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        start_new_session=True,  # its own process group: whatever it leaves is found there
    )

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).is_success
        except httpx.TransportError:
            return False

    wait_for(up, 60, "the server to start", lambda: log.read_text()[-2000:])
    return proc, log


def _features_job_running(app: Any, log: Path) -> None:
    def running() -> bool:
        job = _job(app, JobKind.features)
        return job is not None and job.status == JobStatus.running and job.progress > 0

    wait_for(running, 120, "the features job to run", lambda: log.read_text()[-3000:])


def _cleanup(proc: subprocess.Popen[bytes]) -> None:
    for pid in _group(proc.pid):
        os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.wait(10)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_to_serve_stops_its_worker_and_requeues_the_job(  # type: ignore[no-untyped-def]
    app, settings, client, alice, clip_bytes, tmp_path, signum
) -> None:
    upload(client, alice, clip_bytes)
    proc, log = _serve_with_slow_worker(settings, tmp_path)
    try:
        _features_job_running(app, log)
        match = re.search(r"worker started \(pid (\d+)\)", log.read_text())
        assert match, log.read_text()[-2000:]
        worker_pid = int(match[1])
        assert worker_pid in _group(proc.pid)
        os.kill(proc.pid, signum)  # the server process only, as a service manager would
        proc.wait(90)
        # nothing of the server is left: no process in its group, the worker is gone
        assert _group(proc.pid) == [], log.read_text()[-3000:]
        with pytest.raises(ProcessLookupError):
            os.kill(worker_pid, 0)
    finally:
        _cleanup(proc)
    job = _job(app, JobKind.features)
    assert job is not None
    assert job.status == JobStatus.queued, (job.status, job.message, log.read_text()[-3000:])
    assert job.worker_id is None and job.attempts == 0  # handed back: no attempt used up
    assert "handed the job back" in (job.message or "")
    assert "worker stopped" in log.read_text()


def test_a_worker_whose_server_died_stops_and_requeues_its_job(  # type: ignore[no-untyped-def]
    app, settings, client, alice, clip_bytes, tmp_path
) -> None:
    upload(client, alice, clip_bytes)
    proc, log = _serve_with_slow_worker(settings, tmp_path)
    try:
        _features_job_running(app, log)
        os.kill(proc.pid, signal.SIGKILL)  # the server dies without stopping its worker
        proc.wait(10)
        wait_for(lambda: _group(proc.pid) == [], 30, "the orphaned worker to exit")
    finally:
        _cleanup(proc)
    job = _job(app, JobKind.features)
    assert job is not None and job.status == JobStatus.queued, (job.status, job.message)
    assert job.attempts == 0 and "handed the job back" in (job.message or "")


def _temp_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file() and is_temp_name(p.relative_to(media))]


def _scratch_files(settings: Any) -> list[Path]:
    root = settings.scratch_root
    return [p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock")]


def test_a_worker_restarted_after_sigkill_leaves_no_temp_files(  # type: ignore[no-untyped-def]
    app, settings, client, alice, clip_bytes, tmp_path
) -> None:
    """The proxy is encoded in the worker's private scratch folder; a SIGKILLed worker
    leaves it there (nothing half-written in the media folder), and the next worker to
    start empties the folder before it takes any job."""
    upload(client, alice, clip_bytes)
    victim_log = tmp_path / "victim.log"
    victim = subprocess.run(  # killed by SIGKILL while encoding the proxy
        [sys.executable, "-m", "tests.security.crash_worker", "--id", "victim", "--once"],
        env=worker_env(settings, CRASH_AT="proxy-file"),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=victim_log.open("wb"),
        timeout=180,
    )
    assert victim.returncode == -signal.SIGKILL, victim_log.read_text()[-3000:]
    assert _temp_files(settings.media_dir) == []
    assert not (settings.media_dir / "proxies").exists()
    left = _scratch_files(settings)
    assert [p.suffix for p in left] and all(
        p.relative_to(settings.scratch_root).parts[0] == "worker-0" for p in left
    ), left  # the dead worker's partial proxy (and copy of nothing else: local original)
    # restarted (taking no job kind that is queued: whatever goes is the start's doing)
    restarted = worker_once(worker_env(settings), "--kinds", "train")
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert _scratch_files(settings) == [], restarted.stderr[-3000:]
    assert "leftover entries" in restarted.stderr
    assert _temp_files(settings.media_dir) == []
