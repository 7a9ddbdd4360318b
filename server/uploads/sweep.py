"""Removing unfinished uploads that expired: tus uploads' files, and (S3 direct uploads) the
bucket's unfinished multipart uploads. Run when the API starts and whenever an upload is
started (at most once a minute per process)."""

from __future__ import annotations

import logging

from server.config import Settings
from server.storage import Storage
from server.storage.s3 import S3Storage
from server.uploads import direct
from server.uploads.tus import TusFolder

log = logging.getLogger("backtal.uploads")


def sweep_expired(settings: Settings, storage: Storage) -> None:
    """Remove expired uploads; failures are logged (the next sweep tries again)."""
    try:
        removed = TusFolder(settings.upload_root, settings.upload_expire_s).sweep()
        if removed:
            log.info("removed %d expired unfinished uploads", len(removed))
    except OSError as exc:
        log.warning("could not sweep %s: %s", settings.upload_root, exc)
    if direct.enabled(storage, settings.s3_upload):
        assert isinstance(storage, S3Storage)
        try:
            aborted = direct.sweep(storage, settings.upload_expire_s)
            if aborted:
                log.info("aborted %d expired direct uploads", aborted)
        except Exception as exc:  # the bucket may be down at start: not fatal
            log.warning("could not sweep direct uploads: %s", exc)
