"""Bearer-token authentication with three roles (annotator, reviewer, admin).

Tokens are 256-bit random strings shown once; only their SHA-256 is stored. A fast hash
is right here because the tokens are high-entropy (no dictionary to try), and the stored
digest is compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
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


class TokenCache:
    """Recently seen valid tokens (by digest) → their user, for ``ttl_s`` seconds.

    Saves one database round trip per API call. The price: a token revoked (or a role
    changed) by *another* process is honoured here for up to ``ttl_s`` seconds; revoking
    through this process clears the cache at once. ``ttl_s = 0`` turns it off.
    """

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, User]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> User | None:
        if self.ttl_s <= 0:
            return None
        with self._lock:
            hit = self._entries.get(digest)
            if hit is None:
                return None
            if hit[0] < time.monotonic():
                del self._entries[digest]
                return None
            return hit[1]

    def put(self, digest: str, user: User) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + self.ttl_s, user)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _lookup_user(factory: sessionmaker[Session], token: str) -> User | str:
    """The token's active user, or why there is none (a sentence for the 401)."""
    with factory() as session:
        user = user_for_token(session, token)
        if user is not None:
            return user
        digest = hash_token(token)
        owner = session.scalar(select(User).where(User.token_hash == digest))
        if owner is not None and not owner.active:
            return "this account is deactivated: an admin can reactivate it"
        return "invalid or revoked token"


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> User:
    """The caller, looked up in a short session of its own.

    The request's own transaction starts only when the route first touches the database,
    so a long upload does not hold a database transaction (or SQLite's write lock) open.
    The returned ``User`` is detached: read its columns, don't modify it.

    Async on purpose: a token-cache hit costs no thread hop; a miss does its database
    lookup in the threadpool.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing token: send the header 'Authorization: Bearer <token>'")
    cache: TokenCache = request.app.state.token_cache
    digest = hash_token(credentials.credentials)
    user = cache.get(digest)
    if user is None:
        factory: sessionmaker[Session] = request.app.state.read_sessionmaker
        found = await run_in_threadpool(_lookup_user, factory, credentials.credentials)
        if isinstance(found, str):
            raise Unauthorized(found)
        user = found
        cache.put(digest, user)
    request.state.user_id = user.id
    return user


CurrentUser = Annotated[User, Depends(current_user, scope="function")]


async def require_admin(user: CurrentUser) -> User:
    if user.role != Role.admin:
        raise Forbidden("this action needs the admin role")
    return user


AdminUser = Annotated[User, Depends(require_admin, scope="function")]


async def require_reviewer(user: CurrentUser) -> User:
    if user.role not in (Role.reviewer, Role.admin):
        raise Forbidden("this action needs the reviewer (or admin) role")
    return user


ReviewerUser = Annotated[User, Depends(require_reviewer, scope="function")]
