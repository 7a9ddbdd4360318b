from __future__ import annotations

from fastapi import APIRouter, Request, status

from server.auth import AdminUser, CurrentUser, SessionDep
from server.db import on_commit
from server.users import service
from server.users.schemas import MeUpdate, UserCreate, UserOut, UserWithToken

router = APIRouter(tags=["users"])


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser, session: SessionDep) -> UserOut:
    """The caller, read afresh (the authentication cache may hold an older copy)."""
    return UserOut.model_validate(service.get_user(session, user.id))


@router.patch("/me", response_model=UserOut)
def update_me(body: MeUpdate, user: CurrentUser, session: SessionDep) -> UserOut:
    return UserOut.model_validate(
        service.set_reaction_offset(session, user.id, body.reaction_offset_ms)
    )


@router.get("/users", response_model=list[UserOut])
def list_users(_: AdminUser, session: SessionDep) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in service.list_users(session)]


@router.post("/users", response_model=UserWithToken, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, _: AdminUser, session: SessionDep) -> UserWithToken:
    user, token = service.create_user(session, body.name, body.role)
    return UserWithToken(**UserOut.model_validate(user).model_dump(), token=token)


@router.post("/users/{user_id}/token", response_model=UserWithToken)
def rotate_token(
    user_id: int, request: Request, _: AdminUser, session: SessionDep
) -> UserWithToken:
    """A new token for the user; the old one stops working (in this process at once)."""
    user, token = service.rotate_token(session, user_id)
    on_commit(session, request.app.state.token_cache.clear)
    return UserWithToken(**UserOut.model_validate(user).model_dump(), token=token)


@router.post("/users/{user_id}/deactivate", response_model=UserOut)
def deactivate_user(
    user_id: int, request: Request, admin: AdminUser, session: SessionDep
) -> UserOut:
    """Their tokens stop working: in this process at once, in other API processes once
    the token cache's lifetime (BACKTAL_TOKEN_CACHE_S) has passed. Their clicks, labels and
    segments stay. Not yourself, not the last active admin (409)."""
    user = service.set_active(session, user_id, False, by=admin)
    on_commit(session, request.app.state.token_cache.clear)
    return UserOut.model_validate(user)


@router.post("/users/{user_id}/reactivate", response_model=UserOut)
def reactivate_user(user_id: int, _: AdminUser, session: SessionDep) -> UserOut:
    """Their token (the one they had, or a new one from POST /users/{id}/token) works again."""
    return UserOut.model_validate(service.set_active(session, user_id, True))
