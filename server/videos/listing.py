"""Read-only video look-ups for the annotator pages: the previous video in list order and a
live video (or None) by id (the paged list is ``server.videos.service.list_videos``).

A video is *live* when it is not soft-deleted (``deleted_at IS NULL``); list order is by id.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Video


def previous_live_video_id(session: Session, video_id: int) -> int | None:
    """The id of the live video just before ``video_id`` in list order (None for the first)."""
    found = session.scalar(
        select(Video.id)
        .where(Video.deleted_at.is_(None), Video.id < video_id)
        .order_by(Video.id.desc())
        .limit(1)
    )
    return int(found) if found is not None else None


def live_video_or_none(session: Session, video_id: int) -> Video | None:
    """The video ``video_id`` if it exists and is not deleted, else None (the caller answers
    404; unlike ``server.videos.service.get_live_video`` this raises nothing)."""
    video = session.get(Video, video_id)
    if video is None or video.deleted_at is not None:
        return None
    return video
