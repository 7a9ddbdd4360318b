"""Bearer-token authentication with two roles.

Tokens are 256-bit random strings shown once; only their SHA-256 is stored. A fast hash
is right here because the tokens are high-entropy (no dictionary to try), and the stored
digest is compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.db import get_session
from server.errors import Forbidden, Unauthorized
from server.models import Role, User

TOKEN_PREFIX = "bts_"

bearer_scheme = HTTPBearer(auto_error=False, description="Token from `server.cli create-user`.")


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def user_for_token(session: Session, token: str) -> User | None:
    digest = hash_token(token)
    user = session.scalar(select(User).where(User.token_hash == digest))
    if user is None or user.token_hash is None or not user.active:
        return None
    return user if hmac.compare_digest(user.token_hash, digest) else None


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> User:
    """The caller, looked up in a short session of its own.

    The request's own transaction starts only when the route first touches the database,
    so a long upload does not hold a database transaction (or SQLite's write lock) open.
    The returned ``User`` is detached: read its columns, don't modify it.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing token: send the header 'Authorization: Bearer <token>'")
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    with factory() as session:
        user = user_for_token(session, credentials.credentials)
    if user is None:
        raise Unauthorized("invalid or revoked token")
    request.state.user_id = user.id
    return user


CurrentUser = Annotated[User, Depends(current_user, scope="function")]


def require_admin(user: CurrentUser) -> User:
    if user.role != Role.admin:
        raise Forbidden("this action needs the admin role")
    return user


AdminUser = Annotated[User, Depends(require_admin, scope="function")]
