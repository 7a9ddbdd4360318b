"""Action classes and video-level labels."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select
from sqlalchemy.orm import Session

from server.errors import Conflict, Unprocessable
from server.models import ActionClass, User, VideoLabel
from server.videos.service import get_live_video


def list_classes(session: Session) -> list[ActionClass]:
    """All classes in index order (the order the model sees them)."""
    return list(session.scalars(select(ActionClass).order_by(ActionClass.id)))


def create_class(session: Session, name: str) -> ActionClass:
    name = name.strip()
    if session.scalar(select(ActionClass.id).where(ActionClass.name == name)) is not None:
        raise Conflict(f"a class named {name!r} already exists")
    cls = ActionClass(name=name)
    session.add(cls)
    session.flush()
    return cls


def check_class_ids(session: Session | Connection, class_ids: list[int]) -> None:
    known = set(session.scalars(select(ActionClass.id).where(ActionClass.id.in_(class_ids))))
    unknown = sorted(set(class_ids) - known)
    if unknown:
        raise Unprocessable(f"unknown class id(s): {', '.join(map(str, unknown))}")


def set_labels(session: Session, video_id: int, user: User, class_ids: list[int]) -> None:
    """Replace the caller's video-level labels of a video."""
    get_live_video(session, video_id)
    ids = sorted(set(class_ids))
    check_class_ids(session, ids)
    session.execute(
        delete(VideoLabel).where(
            VideoLabel.video_id == video_id, VideoLabel.annotator_id == user.id
        )
    )
    session.add_all(VideoLabel(video_id=video_id, class_id=c, annotator_id=user.id) for c in ids)
    session.flush()


def get_labels(
    session: Session, video_id: int, user: User, everyone: bool
) -> list[tuple[int, str, list[int]]]:
    """(annotator id, name, class ids) for the caller, or for every annotator."""
    get_live_video(session, video_id)
    q = (
        select(VideoLabel.annotator_id, User.name, VideoLabel.class_id)
        .join(User, User.id == VideoLabel.annotator_id)
        .where(VideoLabel.video_id == video_id)
        .order_by(VideoLabel.annotator_id, VideoLabel.class_id)
    )
    if not everyone:
        q = q.where(VideoLabel.annotator_id == user.id)
    out: dict[int, tuple[int, str, list[int]]] = {}
    for annotator_id, name, class_id in session.execute(q):
        out.setdefault(annotator_id, (annotator_id, name, []))[2].append(class_id)
    if not everyone and user.id not in out:
        out[user.id] = (user.id, user.name, [])
    return list(out.values())
