"""Clicks: idempotent creation, listing with ownership rules, soft deletion."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.clicks.schemas import ClickIn, ClickOut
from server.errors import Forbidden, Gone, NotFound, Unprocessable
from server.labels.service import check_class_ids
from server.models import Click, ClickKind, Role, User, Video, utcnow
from server.timebase import frame_index
from server.videos.service import get_live_video


def validate_click_time(video: Any, t_s: float, end_s: float | None = None) -> None:
    if not 0 <= t_s <= video.duration_s:
        raise Unprocessable(
            f"t_s={t_s:g} is outside the video: it must lie in [0, {video.duration_s:g}] seconds"
        )
    if end_s is not None and not t_s <= end_s <= video.duration_s:
        raise Unprocessable(f"end_s={end_s:g} must lie in [t_s, {video.duration_s:g}] seconds")


def validate_kind(session: Session, kind: ClickKind, class_id: int | None) -> None:
    if kind == ClickKind.background and class_id is not None:
        raise Unprocessable("a background click has no class_id")
    if kind == ClickKind.action:
        if class_id is None:
            raise Unprocessable("an action click needs a class_id")
        check_class_ids(session, [class_id])


def _by_key(session: Session, annotator_id: int, key: str) -> Click | None:
    return session.scalar(
        select(Click).where(Click.annotator_id == annotator_id, Click.client_key == key)
    )


def add_click(session: Session, video_id: int, user: User, body: ClickIn) -> tuple[ClickOut, bool]:
    """Store a click; with a ``client_key`` seen before, return that click instead.

    Returns ``(click, created)``. With a key, the row is written with ``INSERT … ON
    CONFLICT (annotator_id, client_key) DO NOTHING``: concurrent retries of one key are
    settled by the unique index in one statement, and the loser reads the winner's row.

    This is the hottest write of the product (every annotator keystroke), so it runs on
    SQLAlchemy Core: one SELECT of the four video columns it needs, one INSERT … RETURNING,
    no ORM entities (measured in docs/performance.md).
    """
    conn = session.connection()
    video = conn.execute(_VIDEO_FOR_CLICK, {"video_id": video_id}).first()
    if video is None:
        raise NotFound(f"video {video_id} does not exist")
    if video.deleted_at is not None:
        raise Gone(f"video {video_id} was deleted")
    validate_click_time(video, body.t_s)
    validate_kind(session, body.kind, body.class_id)
    values = {
        "video_id": video.id,
        "annotator_id": user.id,
        "t_s": body.t_s,
        "frame_index": frame_index(body.t_s, video.fps, video.frame_count),
        "kind": body.kind,
        "class_id": body.class_id,
        "client_key": body.client_key,
        "client_elapsed_ms": body.client_elapsed_ms,
        "while_playing": body.while_playing,
        "created_at": utcnow(),
        "save_count": 1,
    }
    columns = Click.__table__.c
    if body.client_key is None:
        new = conn.execute(insert(Click).values(**values).returning(*columns)).one()
        return _out(new), True
    stmt = _insert_for(session)(Click).values(**values)
    stmt = stmt.on_conflict_do_nothing(index_elements=["annotator_id", "client_key"])
    row = conn.execute(stmt.returning(*columns)).first()
    if row is not None:
        return _out(row), True
    existing = conn.execute(
        select(*columns).where(
            columns.annotator_id == user.id, columns.client_key == body.client_key
        )
    ).first()
    if existing is None:  # pragma: no cover - the conflicting row must exist
        raise RuntimeError("client_key conflict without a stored click")
    return _out(existing), False


_VIDEO_FOR_CLICK = select(
    Video.id, Video.duration_s, Video.fps, Video.frame_count, Video.deleted_at
).where(Video.id == bindparam("video_id"))


def _out(row: Any) -> ClickOut:
    """A clicks-table row (Core) -> the API schema."""
    m = row._mapping
    return ClickOut(
        id=m["id"],
        video_id=m["video_id"],
        annotator_id=m["annotator_id"],
        t_s=m["t_s"],
        end_s=m["end_s"],
        frame_index=m["frame_index"],
        kind=m["kind"],
        class_id=m["class_id"],
        client_key=m["client_key"],
        client_elapsed_ms=m["client_elapsed_ms"],
        while_playing=m["while_playing"],
        created_at=m["created_at"],
        deleted=m["deleted_at"] is not None,
    )


def _insert_for(session: Session) -> Any:
    """The dialect's INSERT with ON CONFLICT support (PostgreSQL and SQLite have it)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"unsupported database dialect {name!r}")


def list_clicks(
    session: Session, video_id: int, user: User, annotator_id: int | None
) -> list[Click]:
    """Live clicks of a video: the caller's own; an admin sees all (or one annotator's)."""
    get_live_video(session, video_id)
    q = select(Click).where(Click.video_id == video_id, Click.deleted_at.is_(None))
    if user.role == Role.admin:
        if annotator_id is not None:
            q = q.where(Click.annotator_id == annotator_id)
    else:
        if annotator_id is not None and annotator_id != user.id:
            raise Forbidden("annotators can only read their own clicks")
        q = q.where(Click.annotator_id == user.id)
    return list(session.scalars(q.order_by(Click.t_s, Click.id)))


def delete_click(session: Session, click_id: int, user: User) -> None:
    """Soft-delete a click (own click; an admin any). Deleting twice is not an error."""
    click = session.get(Click, click_id)
    if click is None:
        raise NotFound(f"click {click_id} does not exist")
    if user.role != Role.admin and click.annotator_id != user.id:
        raise Forbidden("you can only delete your own clicks")
    if click.deleted_at is None:
        click.deleted_at = utcnow()
        session.flush()
