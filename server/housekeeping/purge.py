"""``purge --older-than DAYS [--dry-run]``: free the space of videos deleted long ago.

A deleted video (``DELETE /videos/{id}``) only leaves every list; its files and everything
computed from it stay until it is purged. What a purge removes, for every video deleted
more than DAYS ago that no queued or running job still works on:

* files: the original (unless another remaining video row uses the same file), the proxy,
  the thumbnail sprite and its index, every feature file (``features/<id>/``);
* rows computed from the video: ``features``, ``predictions``, ``activation_curves``,
  ``suggestions`` and the ``suggestion_responses`` to those suggestions;
* and the video row's file, proxy and thumbnail paths are cleared.

What stays on record: the video row itself (name, checksum, fps, duration: what a click's
time means), its **clicks** (the annotators' work, kept so that the annotation record
is complete and auditable; exports already leave deleted videos out), video-level labels,
imported ground truth and its job rows (history). A purged video cannot be undeleted
with its media; upload the file again.

Besides the videos, a purge also removes checkpoint files beyond the retention rule
(:mod:`server.housekeeping.checkpoints`), temporary files of dead writers or older than
``stale_temp_after_s`` (:mod:`server.housekeeping.tempfiles`) and what an interrupted
purge left in ``.trash/``.

One database transaction: the rows go and the files are moved into ``.trash/<stamp>/``
inside the media folder (a rename) before the commit; a rollback moves them back, a
commit deletes the trash folder. ``--dry-run`` builds the same plan and prints it: the
lines it prints are exactly the lines a real purge prints for what it removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select, true, update
from sqlalchemy.orm import Session

from server.db import on_commit, on_rollback
from server.housekeeping.checkpoints import checkpoints_to_drop
from server.housekeeping.tempfiles import stale_temp_files
from server.models import (
    ActivationCurve,
    Feature,
    Job,
    JobStatus,
    Prediction,
    Suggestion,
    SuggestionResponse,
    Video,
    utcnow,
)
from server.storage import LocalStorage, Storage, StorageError

log = logging.getLogger("backtal.purge")
TRASH = ".trash"
PROXIES = "proxies"
THUMBNAILS = "thumbnails"
FEATURES = "features"


@dataclass
class VideoPurge:
    video_id: int
    name: str
    deleted_at: datetime
    files: list[str] = field(default_factory=list)  # relative to the media folder
    features: list[int] = field(default_factory=list)
    predictions: list[int] = field(default_factory=list)
    curves: list[int] = field(default_factory=list)  # model_version_id (video_id is ours)
    suggestions: list[int] = field(default_factory=list)
    responses: list[tuple[int, int]] = field(default_factory=list)  # (suggestion, annotator)
    clear_paths: bool = False

    def lines(self) -> list[str]:
        v = self.video_id
        out = [f"file {f}" for f in self.files]
        out += [f"row features id={i}" for i in self.features]
        out += [f"row predictions id={i}" for i in self.predictions]
        out += [f"row activation_curves model_version_id={m} video_id={v}" for m in self.curves]
        out += [f"row suggestions id={i}" for i in self.suggestions]
        out += [
            f"row suggestion_responses suggestion_id={s} annotator_id={a}"
            for s, a in self.responses
        ]
        if self.clear_paths:
            out.append(f"update videos id={v}: file, proxy and thumbnail paths cleared")
        return out

    @property
    def empty(self) -> bool:
        return not self.lines()


@dataclass
class PurgePlan:
    cutoff: datetime
    videos: list[VideoPurge] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # videos left alone, and why
    checkpoints: list[tuple[int, str]] = field(default_factory=list)  # (version, path)
    temp_files: list[str] = field(default_factory=list)
    trash: list[str] = field(default_factory=list)  # leftovers of an interrupted purge

    def lines(self) -> list[str]:
        """One line per thing removed (files, rows) or changed (video rows)."""
        out: list[str] = []
        for vp in self.videos:
            out.append(f"video {vp.video_id} {vp.name!r} deleted {vp.deleted_at.isoformat()}")
            out += [f"  {line}" for line in vp.lines()]
        out += [f"checkpoint file {p} (model version {v})" for v, p in self.checkpoints]
        out += [f"temporary file {p}" for p in self.temp_files]
        out += [f"trash {p}" for p in self.trash]
        return out

    def files(self) -> list[str]:
        names = [f for vp in self.videos for f in vp.files]
        return names + [p for _, p in self.checkpoints] + self.temp_files

    def summary(self, storage: Storage) -> str:
        rows = sum(
            len(vp.features)
            + len(vp.predictions)
            + len(vp.curves)
            + len(vp.suggestions)
            + len(vp.responses)
            for vp in self.videos
        )
        size = 0
        for rel in self.files():
            with contextlib.suppress(OSError, ValueError):
                info = storage.stat(rel)
                size += info.size if info is not None else 0
        return (
            f"{len(self.videos)} video(s), {len(self.files())} file(s) ({size / 2**20:.1f} MiB), "
            f"{rows} row(s); {len(self.skipped)} deleted video(s) skipped"
        )


def _present(storage: Storage, rel: str | None) -> str | None:
    """``rel`` if it names an object of ``storage`` (local: a regular file inside the media
    folder, no escapes, no links)."""
    if not rel:
        return None
    if isinstance(storage, LocalStorage):
        return _inside(storage.root, rel)
    try:
        return rel if storage.exists(rel) else None
    except ValueError:  # not a valid key
        return None


def _inside(media_dir: Path, rel: str | None) -> str | None:
    """``rel`` if it names a regular file inside the media folder (no escapes, no links)."""
    if not rel:
        return None
    path = media_dir / rel
    try:
        real = path.resolve()
    except OSError:
        return None
    if path.is_symlink() or not real.is_relative_to(media_dir) or not real.is_file():
        return None
    return real.relative_to(media_dir).as_posix()


def plan_purge(
    session: Session,
    storage: Storage,
    older_than_days: float,
    *,
    keep_checkpoints: int,
    stale_temp_after_s: float,
    now: datetime | None = None,
) -> PurgePlan:
    """What a purge of videos deleted more than ``older_than_days`` ago removes."""
    root = storage.root if isinstance(storage, LocalStorage) else None
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    plan = PurgePlan(cutoff=cutoff)
    candidates = list(
        session.scalars(
            select(Video)
            .where(Video.deleted_at.is_not(None), Video.deleted_at < cutoff)
            .order_by(Video.id)
        )
    )
    busy = set(
        session.scalars(
            select(Job.video_id).where(
                Job.status.in_([JobStatus.queued, JobStatus.running]), Job.video_id.is_not(None)
            )
        )
    )
    purged_ids = {v.id for v in candidates if v.id not in busy}
    for v in candidates:
        if v.id in busy:
            plan.skipped.append(f"video {v.id} {v.name!r}: a job still works on it")
    # files that other (remaining) video rows refer to are never removed
    remaining = Video.id.not_in(purged_ids) if purged_ids else true()
    others = session.execute(
        select(Video.file_path, Video.proxy_path, Video.thumbnails_path).where(remaining)
    ).all()
    other_paths = {p for row in others for p in row if p}
    other_paths |= {
        Path(row.thumbnails_path).with_suffix(".jpg").as_posix()
        for row in others
        if row.thumbnails_path
    }
    other_paths |= set(
        session.scalars(
            select(Feature.path).where(
                Feature.video_id.not_in(purged_ids) if purged_ids else true()
            )
        )
    )
    other_paths = {os.path.normpath(p) for p in other_paths}
    for v in candidates:
        if v.id not in purged_ids:
            continue
        vp = VideoPurge(v.id, v.name, v.deleted_at)  # type: ignore[arg-type]
        feature_rows = session.execute(
            select(Feature.id, Feature.path).where(Feature.video_id == v.id).order_by(Feature.id)
        ).all()
        candidates_files = [
            v.file_path,
            v.proxy_path,
            v.thumbnails_path,
            Path(v.thumbnails_path).with_suffix(".jpg").as_posix() if v.thumbnails_path else None,
            f"{PROXIES}/{v.id}.mp4",
            f"{THUMBNAILS}/{v.id}.jpg",
            f"{THUMBNAILS}/{v.id}.json",
            *(row.path for row in feature_rows),
        ]
        if root is not None:
            feature_dir = root / FEATURES / str(v.id)
            if feature_dir.is_dir():
                candidates_files += [
                    p.relative_to(root).as_posix() for p in sorted(feature_dir.rglob("*"))
                ]
        else:
            candidates_files += [o.key for o in storage.list(f"{FEATURES}/{v.id}/")]
        for rel in dict.fromkeys(candidates_files):
            found = _present(storage, rel)
            if found and found not in other_paths and found not in vp.files:
                vp.files.append(found)
        vp.features = [row.id for row in feature_rows]
        vp.predictions = list(
            session.scalars(
                select(Prediction.id).where(Prediction.video_id == v.id).order_by(Prediction.id)
            )
        )
        vp.curves = list(
            session.scalars(
                select(ActivationCurve.model_version_id)
                .where(ActivationCurve.video_id == v.id)
                .order_by(ActivationCurve.model_version_id)
            )
        )
        vp.suggestions = list(
            session.scalars(
                select(Suggestion.id).where(Suggestion.video_id == v.id).order_by(Suggestion.id)
            )
        )
        if vp.suggestions:
            vp.responses = [
                (r.suggestion_id, r.annotator_id)
                for r in session.execute(
                    select(SuggestionResponse.suggestion_id, SuggestionResponse.annotator_id)
                    .where(SuggestionResponse.suggestion_id.in_(vp.suggestions))
                    .order_by(SuggestionResponse.suggestion_id, SuggestionResponse.annotator_id)
                )
            ]
        vp.clear_paths = bool(v.file_path or v.proxy_path or v.thumbnails_path)
        if not vp.empty:
            plan.videos.append(vp)
    plan.checkpoints = [
        (d.version_id, p)
        for d in checkpoints_to_drop(session, storage, keep_checkpoints)
        if (p := _present(storage, d.path))
    ]
    if root is not None:  # a bucket has no temporary objects (a put is complete or nothing)
        media_dir = root
        plan.temp_files = [
            p.relative_to(media_dir).as_posix()
            for p in stale_temp_files(media_dir, stale_temp_after_s)
        ]
        trash = media_dir / TRASH
        if trash.is_dir():
            plan.trash = sorted(p.name for p in trash.iterdir())
    return plan


def execute_purge(session: Session, storage: Storage, plan: PurgePlan) -> list[str]:
    """Carry out ``plan`` in ``session``'s transaction; returns the lines of what went.

    Local folder: files are moved into ``.trash/<stamp>/`` now (moved back if the
    transaction rolls back) and deleted once it has committed. Object storage: the objects
    are deleted once the transaction has committed (a deletion that fails is logged; the
    rows no longer refer to the object). The plan must come from the same transaction.
    """
    for vp in plan.videos:
        if vp.responses:
            for sid, aid in vp.responses:
                session.execute(
                    delete(SuggestionResponse).where(
                        SuggestionResponse.suggestion_id == sid,
                        SuggestionResponse.annotator_id == aid,
                    )
                )
        if vp.suggestions:
            session.execute(delete(Suggestion).where(Suggestion.id.in_(vp.suggestions)))
        if vp.predictions:
            session.execute(delete(Prediction).where(Prediction.id.in_(vp.predictions)))
        if vp.curves:
            session.execute(
                delete(ActivationCurve).where(
                    ActivationCurve.video_id == vp.video_id,
                    ActivationCurve.model_version_id.in_(vp.curves),
                )
            )
        if vp.features:
            session.execute(delete(Feature).where(Feature.id.in_(vp.features)))
        if vp.clear_paths:
            session.execute(
                update(Video)
                .where(Video.id == vp.video_id)
                .values(file_path="", proxy_path=None, thumbnails_path=None)
            )
    session.flush()
    if not isinstance(storage, LocalStorage):
        keys = plan.files()

        def delete_objects() -> None:
            for key in keys:
                try:
                    storage.delete(key)
                except (StorageError, OSError) as exc:
                    log.warning("purge: could not delete object %s: %s", key, exc)

        on_commit(session, delete_objects)
        return plan.lines()
    media_dir = storage.root
    stamp = f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    trash = media_dir / TRASH / stamp
    moved: list[tuple[Path, Path]] = []

    def put_back() -> None:
        for src, dst in reversed(moved):
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
        shutil.rmtree(trash, ignore_errors=True)

    on_rollback(session, put_back)
    removed_files = set()
    for rel in plan.files():
        src = media_dir / rel
        dst = trash / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(src, dst)
        except FileNotFoundError:
            continue  # gone meanwhile (e.g. a worker's sweep): nothing to remove
        moved.append((dst, src))
        removed_files.add(rel)
    old_trash = [media_dir / TRASH / name for name in plan.trash]

    def empty_trash() -> None:
        shutil.rmtree(trash, ignore_errors=True)
        for path in old_trash:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        for vp in plan.videos:  # the per-video features folder, now empty
            folder = media_dir / FEATURES / str(vp.video_id)
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()

    on_commit(session, empty_trash)
    return _removed_lines(plan, removed_files)


def _removed_lines(plan: PurgePlan, removed_files: set[str]) -> list[str]:
    """``plan.lines()`` without the files that were already gone."""
    lines = plan.lines()
    gone = {f for f in plan.files() if f not in removed_files}
    if not gone:
        return lines
    drop = {f"  file {f}" for f in gone} | {f"temporary file {f}" for f in gone}
    drop |= {f"checkpoint file {p} (model version {v})" for v, p in plan.checkpoints if p in gone}
    return [line for line in lines if line not in drop]
