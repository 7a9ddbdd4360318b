"""Clicks: idempotent creation, listing with ownership rules, soft deletion."""

from __future__ import annotations

import functools
import threading
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.assignments.work import WorkStateChange, note_work, settled
from server.clicks.schemas import ClickIn, ClickOut, click_out
from server.errors import Forbidden, Gone, NotFound, Unprocessable
from server.labels.service import check_class_ids, check_not_retired
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


def validate_kind(db: Session | Connection, kind: ClickKind, class_id: int | None) -> None:
    if kind == ClickKind.background and class_id is not None:
        raise Unprocessable("a background click has no class_id")
    if kind == ClickKind.action:
        if class_id is None:
            raise Unprocessable("an action click needs a class_id")
        check_class_ids(db, [class_id])
        check_not_retired(db, [class_id])


class VideoFacts(NamedTuple):
    """What a click needs of its video; fixed when the video is created (probe), never
    updated, so caching them per process is safe. Deletion is *not* cached: the INSERT
    itself checks it."""

    duration_s: float
    fps: float
    frame_count: int


class VideoFactsCache:
    """Per-process cache video id -> VideoFacts (bounded; cleared when full)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: dict[int, VideoFacts] = {}
        self._lock = threading.Lock()

    def get(self, video_id: int) -> VideoFacts | None:
        return self._entries.get(video_id)

    def put(self, video_id: int, facts: VideoFacts) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[video_id] = facts


_VIDEO_FOR_CLICK = select(Video.duration_s, Video.fps, Video.frame_count, Video.deleted_at).where(
    Video.id == bindparam("video_id")
)


def _live_video_facts(conn: Connection, video_id: int, cache: VideoFactsCache) -> VideoFacts:
    """The video's facts (404 unknown, 410 deleted): from the cache when it has them."""
    facts = cache.get(video_id)
    if facts is not None:
        return facts
    row = conn.execute(_VIDEO_FOR_CLICK, {"video_id": video_id}).first()
    if row is None:
        raise NotFound(f"video {video_id} does not exist")
    if row.deleted_at is not None:
        raise Gone(f"video {video_id} was deleted")
    facts = VideoFacts(row.duration_s, row.fps, row.frame_count)
    cache.put(video_id, facts)
    return facts


def add_click(
    conn: Connection, video_id: int, user: User, body: ClickIn, cache: VideoFactsCache
) -> tuple[ClickOut, bool]:
    """Store a click; with a ``client_key`` seen before, return that click instead.

    Returns ``(click, created)``. This is the hottest write of the product (one per
    annotator keystroke), so the write is **one statement**:

        INSERT INTO clicks (...) SELECT <values> FROM videos
        WHERE videos.id = :video AND videos.deleted_at IS NULL
          AND NOT EXISTS (the annotator's assignment there is not in progress)
        ON CONFLICT (annotator_id, client_key) DO NOTHING RETURNING clicks.*

    It is atomic on its own (the caller may run it in autocommit mode: one round trip),
    refuses a deleted video in the same statement, and settles concurrent retries of one
    key on the unique index. Only when it returns no row (a retried key, a video deleted
    since its facts were cached, or an assignment whose state must change or refuses the
    click: ``WorkStateChange``, the caller then runs ``note_work`` and this again in one
    transaction) do follow-up reads find out which. The video's time facts come from
    ``cache`` (immutable), so the happy path needs no other query.
    """
    facts = _live_video_facts(conn, video_id, cache)
    validate_click_time(facts, body.t_s)
    validate_kind(conn, body.kind, body.class_id)
    table = Click.__table__
    values: dict[str, Any] = {
        "video_id": video_id,
        "annotator_id": user.id,
        "t_s": body.t_s,
        "frame_index": frame_index(body.t_s, facts.fps, facts.frame_count),
        "kind": body.kind,
        "class_id": body.class_id,
        "client_key": body.client_key,
        "client_elapsed_ms": body.client_elapsed_ms,
        "while_playing": body.while_playing,
        "created_at": utcnow(),
        "save_count": 1,
    }
    stmt = _click_insert(conn.dialect.name, body.client_key is not None)
    row = conn.execute(stmt, values).first()
    if row is not None:
        return click_out(row), True
    if body.client_key is not None:
        existing = conn.execute(
            select(*table.c).where(
                table.c.annotator_id == user.id, table.c.client_key == body.client_key
            )
        ).first()
        if existing is not None:
            return click_out(existing), False
    # no row and no earlier click of this key: the video went away after it was cached,
    # or the annotator's assignment there must change first (server.assignments.work)
    video = conn.execute(_VIDEO_FOR_CLICK, {"video_id": video_id}).first()
    if video is None:
        raise NotFound(f"video {video_id} does not exist")
    if video.deleted_at is not None:
        raise Gone(f"video {video_id} was deleted")
    raise WorkStateChange()


_INSERT_COLUMNS = (
    "video_id",
    "annotator_id",
    "t_s",
    "frame_index",
    "kind",
    "class_id",
    "client_key",
    "client_elapsed_ms",
    "while_playing",
    "created_at",
    "save_count",
)


@functools.cache
def _click_insert(dialect: str, on_conflict: bool) -> Any:
    """The click INSERT … SELECT … RETURNING, built once per dialect (SQLAlchemy then
    reuses its compiled form: no statement construction or cache-key work per click)."""
    table = Click.__table__
    source = select(
        *(bindparam(name, type_=table.c[name].type).label(name) for name in _INSERT_COLUMNS)
    ).where(
        Video.id == bindparam("video_id"),
        Video.deleted_at.is_(None),
        settled(bindparam("video_id"), bindparam("annotator_id")),
    )
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:
        raise RuntimeError(f"unsupported database dialect {dialect!r}")
    stmt: Any = insert(Click).from_select(list(_INSERT_COLUMNS), source)
    if on_conflict:
        stmt = stmt.on_conflict_do_nothing(index_elements=["annotator_id", "client_key"])
    return stmt.returning(*table.c)


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
        if click.annotator_id == user.id:
            note_work(session, click.video_id, user)
        click.deleted_at = utcnow()
        session.flush()
