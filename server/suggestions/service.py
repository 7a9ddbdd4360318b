"""Suggestions: what the caller has still to answer, their answers, and *Next video*.

A suggestion is **open** for an annotator when they have neither answered nor passed it and
no live background click (anyone's) lies within ``suggest_click_radius_s`` of it — the
model learns from everyone's clicks, so a moment someone clicked is no longer a question.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from server.errors import NotFound
from server.models import (
    Click,
    ClickKind,
    ModelVersion,
    Suggestion,
    SuggestionResponse,
    SuggestionResponseKind,
    User,
    Video,
    VideoStatus,
    utcnow,
)
from server.suggestions.schemas import (
    SuggestionOut,
    SuggestionResponseOut,
    VideoSuggestions,
)
from server.training.service import resolve_version
from server.videos import service as videos


def _open(user_id: int, radius_s: float) -> Any:
    """SQL condition on ``Suggestion``: open for this annotator (see the module docstring)."""
    answered = exists().where(
        SuggestionResponse.suggestion_id == Suggestion.id,
        SuggestionResponse.annotator_id == user_id,
    )
    clicked = exists().where(
        Click.video_id == Suggestion.video_id,
        Click.kind == ClickKind.background,
        Click.deleted_at.is_(None),
        func.abs(Click.t_s - Suggestion.t_s) < radius_s,
    )
    return ~answered & ~clicked


def video_suggestions(
    session: Session, user: User, video_id: int, which: str, radius_s: float
) -> VideoSuggestions:
    """The caller's open suggestions of a video under ``active`` or a version id, best first."""
    version = resolve_version(session, which)
    if version is None:
        return VideoSuggestions(video_id=video_id, model_version_id=None, click_radius_s=radius_s)
    rows = session.scalars(
        select(Suggestion)
        .where(
            Suggestion.model_version_id == version.id,
            Suggestion.video_id == video_id,
            _open(user.id, radius_s),
        )
        .order_by(Suggestion.rank)
    )
    counts = dict(
        session.execute(
            select(SuggestionResponse.response, func.count())
            .join(Suggestion, Suggestion.id == SuggestionResponse.suggestion_id)
            .where(
                Suggestion.model_version_id == version.id,
                Suggestion.video_id == video_id,
                SuggestionResponse.annotator_id == user.id,
            )
            .group_by(SuggestionResponse.response)
        ).all()
    )
    return VideoSuggestions(
        video_id=video_id,
        model_version_id=version.id,
        suggestions=[SuggestionOut.model_validate(s) for s in rows],
        answered=int(counts.get(SuggestionResponseKind.answered, 0)),
        passed=int(counts.get(SuggestionResponseKind.passed, 0)),
        click_radius_s=radius_s,
    )


def respond(
    session: Session, user: User, suggestion_id: int, response: SuggestionResponseKind
) -> SuggestionResponseOut:
    """Record the caller's answer; ``answered`` overrides an earlier ``passed``, not the reverse."""
    suggestion = session.get(Suggestion, suggestion_id)
    video = session.get(Video, suggestion.video_id) if suggestion is not None else None
    if suggestion is None or video is None or video.deleted_at is not None:
        raise NotFound(f"suggestion {suggestion_id} does not exist")
    row = session.get(SuggestionResponse, (suggestion_id, user.id))
    if row is None:
        row = SuggestionResponse(
            suggestion_id=suggestion_id, annotator_id=user.id, response=response
        )
        session.add(row)
    elif response == SuggestionResponseKind.answered:
        row.response = response
        row.created_at = utcnow()
    session.flush()
    return SuggestionResponseOut(suggestion_id=suggestion_id, response=row.response)


def next_video_with_suggestions(
    session: Session, user_id: int, after: int | None, radius_s: float
) -> int | None:
    """The live video (not ``after``) with the most open suggestions of the active version.

    Ties go to the first video after ``after`` in id order (wrapping around). None when
    there is no active version or nothing is open.
    """
    active = session.scalar(select(ModelVersion.id).where(ModelVersion.is_active.is_(True)))
    if active is None:
        return None
    q = (
        select(Suggestion.video_id, func.count())
        .join(Video, Video.id == Suggestion.video_id)
        .where(
            Suggestion.model_version_id == active,
            Video.deleted_at.is_(None),
            Video.status != VideoStatus.failed,
            _open(user_id, radius_s),
        )
        .group_by(Suggestion.video_id)
    )
    if after is not None:
        q = q.where(Suggestion.video_id != after)
    counts = [(int(v), int(n)) for v, n in session.execute(q)]
    if not counts:
        return None
    pivot = after if after is not None else -1
    best = min(counts, key=lambda vn: (-vn[1], vn[0] <= pivot, vn[0]))
    return best[0]


def next_video(session: Session, user_id: int, after: int | None, radius_s: float) -> int | None:
    """*Next video* (``N``): the most open suggestions once a model exists, else the next
    video the user has not annotated, else (after ``after``) the next in list order."""
    found = next_video_with_suggestions(session, user_id, after, radius_s)
    if found is None:
        found = videos.next_unannotated(session, user_id, after)
    if found is None and after is not None:
        found = videos.next_in_list(session, after)
    return found
