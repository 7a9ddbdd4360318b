"""The job worker: ``python -m server.worker`` claims job rows and runs them."""

from server.worker.loop import Worker

__all__ = ["Worker"]
