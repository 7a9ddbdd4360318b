"""Shared API schema pieces."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


def _as_utc(v: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(Schema):
    total: int
    limit: int
    offset: int
