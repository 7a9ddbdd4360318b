from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from server.assignments.work import WorkStateChange, note_work
from server.auth import CurrentUser, SessionDep
from server.clicks import service
from server.clicks.schemas import ClickIn, ClickOut, click_out
from server.errors import Conflict
from server.models import User

router = APIRouter(tags=["clicks"])


@router.post(
    "/videos/{video_id}/clicks",
    response_model=ClickOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "This client_key was seen before: the stored click."}},
)
async def add_click(video_id: int, body: ClickIn, request: Request, user: CurrentUser) -> Response:
    # Async with one threadpool hop for the whole write, and the response serialised once
    # (a returned Response skips FastAPI's second validation against response_model): this
    # route is hit once per annotator keystroke (docs/performance.md).
    state = request.app.state
    click, created = await run_in_threadpool(
        _add_click, state.engine, state.video_facts, video_id, user, body
    )
    return Response(
        content=click.model_dump_json(),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        media_type="application/json",
    )


def _add_click(
    engine: Engine, cache: service.VideoFactsCache, video_id: int, user: User, body: ClickIn
) -> tuple[ClickOut, bool]:
    if engine.dialect.name == "postgresql":
        # The write is one INSERT … SELECT statement, atomic by itself; in autocommit mode
        # it is one round trip instead of BEGIN + INSERT + COMMIT. Everything else the
        # service may run is a read. A click that changes the state of the annotator's
        # assignment on the video (or is refused by it) inserts nothing there and takes
        # the transaction below.
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                return service.add_click(conn, video_id, user, body, cache)
        except WorkStateChange:
            pass
    with engine.begin() as conn:  # SQLite: one BEGIN IMMEDIATE transaction
        for _ in range(2):
            note_work(conn, video_id, user)  # 409 while the work is submitted or approved
            try:
                return service.add_click(conn, video_id, user, body, cache)
            except WorkStateChange:  # a reviewer acted in between (PostgreSQL)
                continue
    raise Conflict(f"your assignment on video {video_id} is changing: send the click again")


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
