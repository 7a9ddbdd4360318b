from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from server.auth import CurrentUser, SessionDep
from server.clicks import service
from server.clicks.schemas import ClickIn, ClickOut, click_out

router = APIRouter(tags=["clicks"])


@router.post(
    "/videos/{video_id}/clicks",
    response_model=ClickOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "This client_key was seen before: the stored click."}},
)
def add_click(
    video_id: int, body: ClickIn, response: Response, user: CurrentUser, session: SessionDep
) -> ClickOut:
    click, created = service.add_click(session, video_id, user, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return click_out(click)


@router.get("/videos/{video_id}/clicks", response_model=list[ClickOut])
def list_clicks(
    video_id: int,
    user: CurrentUser,
    session: SessionDep,
    annotator_id: Annotated[int | None, Query(description="Admin: one annotator's")] = None,
) -> list[ClickOut]:
    """The caller's clicks on a video (admin: everyone's, or ``annotator_id``'s)."""
    return [click_out(c) for c in service.list_clicks(session, video_id, user, annotator_id)]


@router.delete("/clicks/{click_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_click(click_id: int, user: CurrentUser, session: SessionDep) -> Response:
    service.delete_click(session, click_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
