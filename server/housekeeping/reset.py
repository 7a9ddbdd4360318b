"""``reset --demo`` / ``reset --all --yes``: a clean start after trying the demo.

``--demo`` removes what ``seed-demo`` (``make demo``) made, and what was computed from it:

* the demo videos (named ``demo_NN``, registered from the storage's ``demo/`` folder) with
  everything on them: clicks and labels (anyone's), imported ground truth, segments,
  features, predictions, suggestions, their jobs; their files (original, proxy, thumbnails,
  features) and the generated clips in ``<media>/demo/``;
* the demo classes (Bounce, Spin), unless your own videos' labels, clicks, ground truth or
  segments use them (then they stay, and the report says so: rename, merge or retire them);
* the model versions whose class list names a removed class (they were trained on the demo),
  with their jobs and checkpoint files;
* the users ``annotator`` and ``demo-annotator``, unless they have work on your own videos
  (then they stay, and the report says so: deactivate them on the admin page).

The ``admin`` user stays — it is how you sign in — with a **new token** (printed): every
token ``make demo`` printed stops working. Your own videos, classes, users and versions
stay untouched.

``--all --yes`` removes every row (videos, classes, users, clicks, labels, GT, segments,
jobs, model versions, …) and every file the server made itself (originals it received as
uploads, proxies, thumbnails, features, checkpoints, the demo's clips). Files you put into
the media folder or the bucket yourself and registered (``POST /videos/register``,
``server.cli register``) are left where they are. No user is left: create an admin with
``python -m server.cli create-user --name NAME --role admin``.

Either refuses while a job it would remove is running (stop the workers first). One
database transaction; the files go once it has committed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.orm import Session

from server.db import Base, on_commit
from server.demo import CLASSES as DEMO_CLASSES
from server.demo import DEMO_ANNOTATOR
from server.models import (
    ActionClass,
    Click,
    Feature,
    GroundTruthSegment,
    Job,
    JobStatus,
    ModelVersion,
    Segment,
    User,
    Video,
    VideoLabel,
)
from server.storage import LocalStorage, Storage, StorageError
from server.users.service import rotate_token
from server.videos.service import OWN_PREFIXES

log = logging.getLogger("backtal.reset")

DEMO_PREFIX = "demo/"
DEMO_NAME = re.compile(r"^demo_\d+$")
DEMO_USERS = ("annotator", DEMO_ANNOTATOR)
DEMO_ADMIN = "admin"


class ResetRefused(Exception):
    """A job the reset would remove is running."""


@dataclass
class ResetPlan:
    everything: bool
    videos: list[tuple[int, str]] = field(default_factory=list)
    classes: list[tuple[int, str]] = field(default_factory=list)
    users: list[tuple[int, str]] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    jobs: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # storage keys
    local_files: list[Path] = field(default_factory=list)  # outside the storage
    kept: list[str] = field(default_factory=list)  # what stayed, and why
    running: list[str] = field(default_factory=list)
    rotate_admin: int | None = None  # the admin's user id

    def lines(self) -> list[str]:
        out = [f"video {i} {n!r}" for i, n in self.videos]
        out += [f"class {i} {n!r}" for i, n in self.classes]
        out += [f"user {i} {n!r}" for i, n in self.users]
        out += [f"model version {v}" for v in self.versions]
        out += [f"job {j}" for j in self.jobs]
        out += [f"file {k}" for k in self.files]
        out += [f"file {p}" for p in self.local_files]
        return out

    def summary(self) -> str:
        return (
            f"{len(self.videos)} video(s), {len(self.classes)} class(es), "
            f"{len(self.users)} user(s), {len(self.versions)} model version(s), "
            f"{len(self.jobs)} job(s), {len(self.files) + len(self.local_files)} file(s)"
        )


def _existing(storage: Storage, keys: list[str | None]) -> list[str]:
    out: list[str] = []
    for key in dict.fromkeys(k for k in keys if k):
        try:
            if storage.exists(key):
                out.append(key)
        except (ValueError, StorageError):  # not a key of this storage
            continue
    return out


def _count(session: Session, model: type[Base], *where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _demo_local_files(media_dir: Path, already: set[str], storage: Storage) -> list[Path]:
    """The generated clips and ground truth in ``<media>/demo/`` (seed-demo's cache)."""
    folder = media_dir / "demo"
    if not folder.is_dir():
        return []
    root = storage.root if isinstance(storage, LocalStorage) else None
    out = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or not (
            DEMO_NAME.match(path.stem) or path.name == "ground_truth.json"
        ):
            continue
        real, base = path.resolve(), root.resolve() if root is not None else None
        inside = base is not None and real.is_relative_to(base)
        if inside and base is not None and real.relative_to(base).as_posix() in already:
            continue
        out.append(path)
    return out


def plan_demo(session: Session, storage: Storage, media_dir: Path) -> ResetPlan:
    plan = ResetPlan(everything=False)
    videos = [
        v
        for v in session.scalars(
            select(Video).where(Video.file_path.startswith(DEMO_PREFIX)).order_by(Video.id)
        )
        if DEMO_NAME.match(v.name)
    ]
    vids = [v.id for v in videos]
    plan.videos = [(v.id, v.name) for v in videos]
    not_demo = Video.id.not_in(vids) if vids else Video.id.is_not(None)

    own = select(Video.id).where(not_demo)
    for name in DEMO_CLASSES:
        cls = session.scalar(select(ActionClass).where(ActionClass.name == name))
        if cls is None:
            continue
        used = (
            _count(session, VideoLabel, VideoLabel.class_id == cls.id, VideoLabel.video_id.in_(own))
            + _count(session, Click, Click.class_id == cls.id, Click.video_id.in_(own))
            + _count(
                session,
                GroundTruthSegment,
                GroundTruthSegment.class_id == cls.id,
                GroundTruthSegment.video_id.in_(own),
            )
            + _count(session, Segment, Segment.class_id == cls.id, Segment.video_id.in_(own))
        )
        if used:
            plan.kept.append(
                f"class {cls.name!r} stays: {used} label(s), click(s) or segment(s) on your own "
                "videos use it (rename, merge or retire it on the admin page)"
            )
        else:
            plan.classes.append((cls.id, cls.name))

    for name in DEMO_USERS:
        user = session.scalar(select(User).where(User.name == name))
        if user is None:
            continue
        work = (
            _count(session, Click, Click.annotator_id == user.id, Click.video_id.in_(own))
            + _count(
                session,
                VideoLabel,
                VideoLabel.annotator_id == user.id,
                VideoLabel.video_id.in_(own),
            )
            + _count(session, Segment, Segment.annotator_id == user.id, Segment.video_id.in_(own))
            + _count(session, Video, Video.created_by == user.id, not_demo)
        )
        if work:
            plan.kept.append(
                f"user {user.name!r} stays: they have {work} click(s), label(s), segment(s) or "
                "video(s) of your own (deactivate them on the admin page if they should not "
                "sign in)"
            )
        else:
            plan.users.append((user.id, user.name))
    admin = session.scalar(select(User).where(User.name == DEMO_ADMIN))
    seeded = plan.videos or plan.users or any(n for _, n in plan.classes) or plan.kept
    if admin is not None and seeded:  # seed-demo printed its token
        plan.rotate_admin = admin.id

    removed_names = {n for _, n in plan.classes}
    versions = [
        v
        for v in session.scalars(select(ModelVersion).order_by(ModelVersion.id))
        if removed_names & set(v.class_names or [])
    ]
    plan.versions = [v.id for v in versions]
    jobs_q = select(Job).order_by(Job.id)
    conditions: list[ColumnElement[bool]] = []
    if vids:
        conditions.append(Job.video_id.in_(vids))
    if plan.versions:
        conditions.append(Job.model_version_id.in_(plan.versions))
        conditions.append(Job.id.in_([v.job_id for v in versions if v.job_id is not None]))
    jobs = list(session.scalars(jobs_q.where(or_(*conditions)))) if conditions else []
    plan.jobs = [j.id for j in jobs]
    plan.running = [
        f"job {j.id} ({j.kind.value}) is running" for j in jobs if j.status == JobStatus.running
    ]

    keys: list[str | None] = []
    for v in videos:
        keys += [v.file_path, v.proxy_path, v.thumbnails_path]
        if v.thumbnails_path:
            keys.append(str(Path(v.thumbnails_path).with_suffix(".jpg").as_posix()))
        keys += [f"proxies/{v.id}.mp4", f"thumbnails/{v.id}.jpg", f"thumbnails/{v.id}.json"]
        keys += list(session.scalars(select(Feature.path).where(Feature.video_id == v.id)))
        keys += [o.key for o in storage.list(f"features/{v.id}/")]
    keys += [v.checkpoint_path for v in versions]
    plan.files = _existing(storage, keys)
    plan.local_files = _demo_local_files(media_dir, set(plan.files), storage)
    return plan


def plan_all(session: Session, storage: Storage, media_dir: Path) -> ResetPlan:
    plan = ResetPlan(everything=True)
    plan.videos = [(v.id, v.name) for v in session.scalars(select(Video).order_by(Video.id))]
    plan.classes = [
        (c.id, c.name) for c in session.scalars(select(ActionClass).order_by(ActionClass.id))
    ]
    plan.users = [(u.id, u.name) for u in session.scalars(select(User).order_by(User.id))]
    plan.versions = list(session.scalars(select(ModelVersion.id).order_by(ModelVersion.id)))
    jobs = list(session.scalars(select(Job).order_by(Job.id)))
    plan.jobs = [j.id for j in jobs]
    plan.running = [
        f"job {j.id} ({j.kind.value}) is running" for j in jobs if j.status == JobStatus.running
    ]
    keys = [o.key for p in (*OWN_PREFIXES, DEMO_PREFIX) for o in storage.list(p)]
    plan.files = sorted(dict.fromkeys(keys))
    plan.local_files = _demo_local_files(media_dir, set(plan.files), storage)
    yours = [
        v.file_path
        for v in session.scalars(select(Video))
        if v.file_path and not v.file_path.startswith((*OWN_PREFIXES, DEMO_PREFIX))
    ]
    if yours:
        plan.kept.append(
            f"{len(yours)} registered file(s) stay where you put them (e.g. {yours[0]}): "
            "register them again to bring them back"
        )
    return plan


def plan_reset(
    session: Session, storage: Storage, media_dir: Path, *, everything: bool
) -> ResetPlan:
    if everything:
        return plan_all(session, storage, media_dir)
    return plan_demo(session, storage, media_dir)


def execute_reset(session: Session, storage: Storage, plan: ResetPlan) -> str | None:
    """Carry out ``plan`` in the session's transaction; returns the admin's new token
    (``--demo``) or None. Files are deleted after the commit."""
    if plan.running:
        raise ResetRefused(
            "; ".join(plan.running)
            + ": stop the workers (or wait for the job) and run the reset again"
        )
    if plan.everything:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
        token = None
    else:
        if plan.jobs:
            session.execute(delete(Job).where(Job.id.in_(plan.jobs)))
        if plan.versions:
            session.execute(delete(ModelVersion).where(ModelVersion.id.in_(plan.versions)))
        vids = [i for i, _ in plan.videos]
        if vids:
            for model in (VideoLabel, Click, GroundTruthSegment, Segment):
                session.execute(delete(model).where(model.video_id.in_(vids)))
            session.execute(delete(Video).where(Video.id.in_(vids)))
        if plan.classes:
            session.execute(
                delete(ActionClass).where(ActionClass.id.in_([i for i, _ in plan.classes]))
            )
        if plan.users:
            session.execute(delete(User).where(User.id.in_([i for i, _ in plan.users])))
        token = None
        if plan.rotate_admin is not None:
            token = rotate_token(session, plan.rotate_admin)[1]
    session.flush()
    keys, local = list(plan.files), list(plan.local_files)

    def remove_files() -> None:
        for key in keys:
            try:
                storage.delete(key)
            except (StorageError, OSError) as exc:
                log.warning("reset: could not delete %s: %s", key, exc)
        for path in local:
            path.unlink(missing_ok=True)
        if isinstance(storage, LocalStorage):
            _remove_empty_folders(storage.root)

    on_commit(session, remove_files)
    return token


def _remove_empty_folders(root: Path) -> None:
    for prefix in (*OWN_PREFIXES, DEMO_PREFIX):
        folder = root / prefix
        if not folder.is_dir():
            continue
        for sub in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if sub.is_dir() and not any(sub.iterdir()):
                sub.rmdir()
