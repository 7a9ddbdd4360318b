from __future__ import annotations

from pydantic import Field

from server.schemas import Schema


class PredictionSource(Schema):
    """Which model version a video's predictions come from."""

    model_version_id: int | None = Field(
        description="The active version when it has predicted this video, else the newest "
        "version that has; None when no version has predicted it."
    )
    active: bool = Field(description="model_version_id is the active version.")
    pending: bool = Field(
        description="A queued or running predict job of the active version covers this video."
    )
