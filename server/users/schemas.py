from __future__ import annotations

from pydantic import Field

from server.models import Role
from server.schemas import Schema, UtcDatetime


class UserOut(Schema):
    id: int
    name: str
    role: Role
    active: bool
    reaction_offset_ms: int
    created_at: UtcDatetime


class UserCreate(Schema):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Role = Role.annotator


class UserWithToken(UserOut):
    token: str = Field(description="Shown once; only its hash is stored.")


class MeUpdate(Schema):
    reaction_offset_ms: int = Field(ge=0, le=2000)
