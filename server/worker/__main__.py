"""``python -m server.worker [--once] [--id NAME] [--kinds media,features,...]``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from types import FrameType

from server.config import Settings
from server.models import JobKind
from server.worker.loop import Worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.worker", description=__doc__)
    parser.add_argument("--once", action="store_true", help="exit when the queue is empty")
    parser.add_argument("--id", default=None, help="worker id shown on its jobs")
    parser.add_argument("--kinds", default=None, help="comma-separated job kinds to take")
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="stop (handing the running job back) when this parent process is gone",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings()
    log = logging.getLogger("backtal.worker")
    try:  # BACKTAL_WORKER_THREADS (default 1: more stalls a busy 2-core machine)
        import torch

        torch.set_num_threads(settings.worker_threads)
        log.info("torch intra-op threads: %d", torch.get_num_threads())
    except ImportError:  # pragma: no cover
        pass
    kinds = [JobKind(k) for k in args.kinds.split(",")] if args.kinds else None
    if args.parent_pid is not None and os.getppid() != args.parent_pid:
        log.warning("parent %s is gone already", args.parent_pid)
        return 0
    settings.check_storage()  # refuses a BACKTAL_STORAGE_URL that names no backend
    worker = Worker(settings, worker_id=args.id, kinds=kinds, parent_pid=args.parent_pid)

    def _stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("backtal.worker").info(
            "signal %s: stopping (a running job is handed back to the queue)", signum
        )
        worker.stop_event.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        worker.run(once=args.once)
    finally:
        worker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
