"""Who may add videos: the roles in ``BACKTAL_UPLOAD_ROLES`` (admins always)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from server.auth import CurrentUser
from server.config import Settings
from server.errors import Forbidden
from server.models import User


def may_upload(settings: Settings, user: User) -> bool:
    return str(user.role) in settings.upload_role_set


async def require_uploader(request: Request, user: CurrentUser) -> User:
    settings: Settings = request.app.state.settings
    if not may_upload(settings, user):
        roles = " or ".join(sorted(settings.upload_role_set))
        raise Forbidden(
            f"adding videos needs the {roles} role (BACKTAL_UPLOAD_ROLES); ask an admin"
        )
    return user


Uploader = Annotated[User, Depends(require_uploader, scope="function")]
