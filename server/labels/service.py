"""Action classes and video-level labels."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select
from sqlalchemy.orm import Session

from server.assignments.work import note_work
from server.errors import Conflict, Unprocessable
from server.labels.schemas import ClassOut
from server.models import ActionClass, User, VideoLabel
from server.videos.service import get_live_video


def list_classes(session: Session) -> list[ActionClass]:
    """All classes (retired ones too) in index order (creation order)."""
    return list(session.scalars(select(ActionClass).order_by(ActionClass.id)))


def class_outs(session: Session, include_retired: bool = False) -> list[ClassOut]:
    """The classes as the API shows them; ``index`` counts retired classes too (it is the
    class's position among all classes, stable when one is retired)."""
    return [
        ClassOut(id=c.id, name=c.name, index=i, retired=c.retired_at is not None)
        for i, c in enumerate(list_classes(session))
        if include_retired or c.retired_at is None
    ]


def class_out(session: Session, cls: ActionClass) -> ClassOut:
    return next(c for c in class_outs(session, include_retired=True) if c.id == cls.id)


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


def check_not_retired(session: Session | Connection, class_ids: list[int]) -> None:
    """New labels and action clicks take live classes only."""
    if not class_ids:
        return
    retired = list(
        session.scalars(
            select(ActionClass.name).where(
                ActionClass.id.in_(class_ids), ActionClass.retired_at.is_not(None)
            )
        )
    )
    if retired:
        raise Unprocessable(
            f"class {', '.join(sorted(retired))} is retired: an admin can unretire it on the "
            "admin page (POST /classes/{id}/unretire)"
        )


def set_labels(session: Session, video_id: int, user: User, class_ids: list[int]) -> None:
    """Replace the caller's video-level labels of a video."""
    get_live_video(session, video_id)
    note_work(session, video_id, user)
    ids = sorted(set(class_ids))
    check_class_ids(session, ids)
    held = set(
        session.scalars(
            select(VideoLabel.class_id).where(
                VideoLabel.video_id == video_id, VideoLabel.annotator_id == user.id
            )
        )
    )
    check_not_retired(session, [c for c in ids if c not in held])  # kept ones may stay
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
