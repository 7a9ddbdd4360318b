"""Running a benchmark's trainings and resuming them: results are stored after every training
under the settings that made them (:func:`stored_payload` resumes only a matching file), and
:func:`run_pending` runs what is ready, here or in ``--jobs`` worker processes."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any


def run_pending(
    pending: Callable[[set[Hashable]], list[dict[str, Any]]],
    key: Callable[[dict[str, Any]], Hashable],
    task: Callable[..., dict[str, Any]],
    task_args: tuple[Any, ...],
    finished: Callable[[dict[str, Any]], None],
    jobs: int,
    log: Callable[[str], None],
    describe: Callable[[dict[str, Any]], str],
) -> None:
    """Run ``task(spec, *task_args)`` for what ``pending`` offers until it offers nothing.

    ``pending(busy)``: the specs ready to run, best first, none whose ``key`` is in ``busy``
    (a finished run may make new ones ready: the guided rounds are a chain). ``finished``
    gets each run in this process, in completion order. ``jobs`` <= 1: one at a time here;
    else that many at once in spawned worker processes (``task`` must be importable; every
    training seeds itself, so the runs equal a one-process run).
    """
    if jobs <= 1:
        while todo := pending(set()):
            log(f"{describe(todo[0])}: training")
            finished(task(todo[0], *task_args))
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        running: dict[Future[dict[str, Any]], Hashable] = {}
        while True:
            for spec in pending(set(running.values()))[: jobs - len(running)]:
                log(f"{describe(spec)}: training")
                running[pool.submit(task, spec, *task_args)] = key(spec)
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                del running[future]
                finished(future.result())


def minute_log() -> Callable[[str], None]:
    """A log that prints each line after the minutes since it was made: ``[   3.2 min] …``."""
    started = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{(time.perf_counter() - started) / 60:6.1f} min] {msg}", flush=True)

    return log


def print_log(msg: str) -> None:
    """A log that prints each line as it comes (flushed: worker processes interleave)."""
    print(msg, flush=True)


def stored_payload(json_path: Path, key: Any, log: Callable[[str], None]) -> dict[str, Any] | None:
    """The results stored at ``json_path`` when they were made with the settings ``key`` (a
    rerun resumes them); None when there are none or they were made with other settings."""
    if not json_path.exists():
        return None
    old: dict[str, Any] = json.loads(json_path.read_text())
    if old.get("settings") != key:
        return None
    log(f"resuming: {len(old['runs'])} trainings already in {json_path}")
    return old


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (a temporary file, then a rename): a run
    stopped while saving never leaves a half-written results file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)
