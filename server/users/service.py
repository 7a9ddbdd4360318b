"""Users and their tokens."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.auth import generate_token, hash_token
from server.errors import Conflict, NotFound
from server.models import Role, User


def create_user(session: Session, name: str, role: Role) -> tuple[User, str]:
    """A new user and its token (the only time the token exists in clear)."""
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict(f"a user named {name!r} already exists")
    token = generate_token()
    user = User(name=name, role=role, token_hash=hash_token(token))
    session.add(user)
    session.flush()
    return user, token


def rotate_token(session: Session, user_id: int) -> tuple[User, str]:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    token = generate_token()
    user.token_hash = hash_token(token)
    session.flush()
    return user, token


def get_or_create_annotator(session: Session, name: str) -> User:
    """For imports: an annotator by name, created without a login token if new."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        user = User(name=name, role=Role.annotator, token_hash=None)
        session.add(user)
        session.flush()
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def set_reaction_offset(session: Session, user_id: int, offset_ms: int) -> User:
    user = get_user(session, user_id)
    user.reaction_offset_ms = offset_ms
    session.flush()
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def set_active(session: Session, user_id: int, active: bool, by: User | None = None) -> User:
    """Deactivate (their tokens stop working; everything they did stays) or reactivate."""
    user = get_user(session, user_id)
    if not active and user.active:
        if by is not None and by.id == user.id:
            raise Conflict("you cannot deactivate yourself: another admin can")
        if user.role == Role.admin:
            others = session.scalar(
                select(func.count())
                .select_from(User)
                .where(User.role == Role.admin, User.active.is_(True), User.id != user.id)
            )
            if not others:
                raise Conflict(
                    f"{user.name} is the last active admin: create or reactivate another "
                    "admin first"
                )
    user.active = active
    session.flush()
    return user
