from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from server.auth import AdminUser, CurrentUser, SessionDep
from server.config import Settings
from server.suggestions import flags, service
from server.suggestions.schemas import (
    ClickFlagsOut,
    KeptClickOut,
    SuggestionResponseIn,
    SuggestionResponseOut,
    VideoSuggestions,
)
from server.videos.service import get_live_video

router = APIRouter(tags=["suggestions"])

VersionQuery = Annotated[str, Query(description="'active' or a model version id")]


@router.get("/videos/{video_id}/suggestions", response_model=VideoSuggestions)
def get_suggestions(
    video_id: int,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    model_version: VersionQuery = "active",
) -> VideoSuggestions:
    """Moments the active model is unsure about (is it action?), open for the caller."""
    settings: Settings = request.app.state.settings
    get_live_video(session, video_id)
    return service.video_suggestions(
        session, user, video_id, model_version, settings.suggest_click_radius_s
    )


@router.put("/suggestions/{suggestion_id}/response", response_model=SuggestionResponseOut)
def respond_to_suggestion(
    suggestion_id: int, body: SuggestionResponseIn, user: CurrentUser, session: SessionDep
) -> SuggestionResponseOut:
    """Answered (clicked background there) or passed: not offered to the caller again."""
    return service.respond(session, user, suggestion_id, body.response)


@router.get("/click-flags", response_model=ClickFlagsOut)
def list_click_flags(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    model_version: VersionQuery = "active",
    annotator_id: Annotated[int | None, Query(description="Admin: one annotator's")] = None,
    video_id: int | None = None,
    include_kept: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ClickFlagsOut:
    """Background clicks inside a confident predicted segment or inside ground truth
    (an annotator: their own; an admin: everyone's)."""
    settings: Settings = request.app.state.settings
    return flags.click_flags(
        session,
        settings,
        user,
        model_version,
        annotator_id=annotator_id,
        video_id=video_id,
        include_kept=include_kept,
        limit=limit,
        offset=offset,
    )


@router.post("/click-flags/{click_id}/keep", response_model=KeptClickOut)
def keep_flagged_click(
    click_id: int, user: AdminUser, session: SessionDep, model_version: VersionQuery = "active"
) -> KeptClickOut:
    """Keep a flagged click: this version does not flag it again (delete: DELETE /clicks/{id})."""
    return flags.keep_click(session, user, click_id, model_version)
