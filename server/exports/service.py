"""Export and import of click labels (JSON pages, COIN CSV)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from server.clicks.schemas import click_out
from server.errors import Unprocessable
from server.exports import coin_csv
from server.exports.schemas import ExportedClick, ImportResult
from server.labels.service import list_classes
from server.models import ActionClass, Click, ClickKind, User, Video
from server.timebase import format_seconds, frame_index
from server.users.service import get_or_create_annotator


def _filtered(
    video_id: int | None, annotator_id: int | None, since: datetime | None
) -> Select[Click, Video, User, ActionClass]:
    cls = aliased(ActionClass)
    q = (
        select(Click, Video, User, cls)
        .join(Video, Video.id == Click.video_id)
        .join(User, User.id == Click.annotator_id)
        .outerjoin(cls, cls.id == Click.class_id)
        .where(Click.deleted_at.is_(None), Video.deleted_at.is_(None))
    )
    if video_id is not None:
        q = q.where(Click.video_id == video_id)
    if annotator_id is not None:
        q = q.where(Click.annotator_id == annotator_id)
    if since is not None:
        since_utc = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
        q = q.where(Click.created_at >= since_utc)
    return q


def export_json(
    session: Session,
    *,
    video_id: int | None,
    annotator_id: int | None,
    since: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[ExportedClick], int]:
    q = _filtered(video_id, annotator_id, since)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.execute(q.order_by(Click.id).limit(limit).offset(offset))
    items = [
        ExportedClick(
            **click_out(click).model_dump(),
            video_name=video.name,
            annotator_name=user.name,
            class_name=cls.name if cls is not None else None,
        )
        for click, video, user, cls in rows
    ]
    return items, total


def export_coin_csv(
    session: Session, *, video_id: int | None, annotator_id: int | None, since: datetime | None
) -> bytes:
    classes = list_classes(session)
    index = {c.id: i for i, c in enumerate(classes)}
    q = _filtered(video_id, annotator_id, since).order_by(Video.name, Click.t_s, Click.id)
    rows = []
    for click, video, _user, cls in session.execute(q):
        if click.kind == ClickKind.background:
            tag_id, tag = len(classes), coin_csv.BACKGROUND_TAG
        else:  # an action click always has a class (CHECK constraint ck_clicks_kind_class)
            assert click.class_id is not None
            tag_id, tag = index[click.class_id], coin_csv.action_tag(cls.name)
        end = click.end_s if click.end_s is not None else click.t_s
        rows.append(
            (video.name, video.original_name, tag_id, tag, click.t_s, end, click.save_count, 1)
        )
    return coin_csv.write_rows(rows)


def _import_key(r: coin_csv.CoinRow) -> str:
    """The idempotency key of an imported row: same video, times and tag → same key."""
    ident = "\x1f".join([r.urlid, format_seconds(r.start), format_seconds(r.end), str(r.tag_id)])
    return "coin:" + hashlib.sha256(ident.encode("utf-8")).hexdigest()[:40]


def import_coin_csv(
    session: Session, data: bytes, annotator_name: str, max_rows: int
) -> ImportResult:
    """Import a COIN click file for one annotator: every row is checked first, then all are
    stored in the request's one transaction (nothing is stored if any row is wrong).
    Rows already imported before (same video, times and tag) are not stored twice."""
    try:
        rows = coin_csv.parse(data, max_rows)
    except coin_csv.CoinFormatError as exc:
        raise Unprocessable(f"not a valid click file: {exc}") from None
    classes = list_classes(session)
    by_tag = {coin_csv.action_tag(c.name): (i, c) for i, c in enumerate(classes)}
    names = {r.urlid for r in rows}
    videos = (
        {
            v.name: v
            for v in session.scalars(
                select(Video).where(Video.name.in_(names), Video.deleted_at.is_(None))
            )
        }
        if names
        else {}
    )
    errors: list[str] = []
    prepared: list[tuple[coin_csv.CoinRow, Video, ClickKind, int | None]] = []
    for r in rows:
        video = videos.get(r.urlid)
        if video is None:
            errors.append(f"line {r.line}: unknown video {r.urlid!r}")
            continue
        if r.end > video.duration_s:
            errors.append(
                f"line {r.line}: time {format_seconds(r.end)} s is past the end of "
                f"{r.urlid!r} ({video.duration_s:g} s)"
            )
            continue
        if r.tag == coin_csv.BACKGROUND_TAG:
            if r.tag_id != len(classes):
                errors.append(
                    f"line {r.line}: a background click has TagID = number of classes "
                    f"({len(classes)}), not {r.tag_id}"
                )
                continue
            prepared.append((r, video, ClickKind.background, None))
        elif r.tag in by_tag and by_tag[r.tag][0] == r.tag_id:
            prepared.append((r, video, ClickKind.action, by_tag[r.tag][1].id))
        else:
            errors.append(f"line {r.line}: unknown tag {r.tag!r} with TagID {r.tag_id}")
    if errors:
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise Unprocessable("nothing was imported: " + "; ".join(errors[:10]) + more)
    annotator = get_or_create_annotator(session, annotator_name)
    keys_in_db = set(
        session.scalars(
            select(Click.client_key).where(
                Click.annotator_id == annotator.id, Click.client_key.like("coin:%")
            )
        )
    )
    new: list[Click] = []
    for r, video, kind, class_id in prepared:
        key = _import_key(r)
        if key in keys_in_db:
            continue
        keys_in_db.add(key)
        new.append(
            Click(
                video_id=video.id,
                annotator_id=annotator.id,
                t_s=r.start,
                end_s=r.end if r.end != r.start else None,
                frame_index=frame_index(r.start, video.fps, video.frame_count),
                kind=kind,
                class_id=class_id,
                client_key=key,
                save_count=r.time,
            )
        )
    session.add_all(new)
    session.flush()
    return ImportResult(
        annotator_id=annotator.id,
        annotator_name=annotator.name,
        rows=len(rows),
        imported=len(new),
        already_present=len(rows) - len(new),
    )
