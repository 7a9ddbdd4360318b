"""Checkpoint retention: keep the active version's checkpoint and the newest N others.

A model version's row stays (its metrics, predictions and suggestions remain readable);
only the ``.pt`` file of an old version goes. A checkpoint that a queued or running predict
job still needs is kept. Such a version can no longer be run again: a predict job for it
fails at once, saying why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Job, JobKind, JobStatus, ModelVersion
from server.storage import Storage, StorageError

log = logging.getLogger("backtal.checkpoints")


@dataclass(frozen=True)
class DroppedCheckpoint:
    version_id: int
    path: str  # storage key


def checkpoints_to_drop(
    session: Session, storage: Storage, keep_last: int
) -> list[DroppedCheckpoint]:
    """Checkpoint files (that exist) of versions outside the retention rule, oldest first."""
    versions = session.execute(
        select(ModelVersion.id, ModelVersion.checkpoint_path, ModelVersion.is_active).order_by(
            ModelVersion.created_at.desc(), ModelVersion.id.desc()
        )
    ).all()
    needed = set(
        session.scalars(
            select(Job.model_version_id).where(
                Job.kind == JobKind.predict,
                Job.status.in_([JobStatus.queued, JobStatus.running]),
                Job.model_version_id.is_not(None),
            )
        )
    )
    keep = {v.id for v in versions[:keep_last]} | {v.id for v in versions if v.is_active} | needed
    kept_paths = {v.checkpoint_path for v in versions if v.id in keep}
    return [
        DroppedCheckpoint(v.id, v.checkpoint_path)
        for v in reversed(versions)
        if v.id not in keep
        and v.checkpoint_path
        and v.checkpoint_path not in kept_paths
        and storage.exists(v.checkpoint_path)
    ]


def remove_files(storage: Storage, dropped: list[DroppedCheckpoint]) -> None:
    """Delete the dropped checkpoints' objects (after the commit; a failure leaves an
    orphan object that the next training's retention pass removes)."""
    for item in dropped:
        try:
            storage.delete(item.path)
        except (StorageError, OSError) as exc:
            log.warning("could not remove checkpoint %s: %s", item.path, exc)
