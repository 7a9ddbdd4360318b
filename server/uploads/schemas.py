from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field


class DirectUploadStart(BaseModel):
    filename: str = Field(min_length=1, max_length=255, description="The file's own name.")
    size: int = Field(ge=0, description="Bytes; at most BACKTAL_MAX_UPLOAD_BYTES (else 413).")
    title: str | None = Field(default=None, max_length=255)
    content_type: str | None = Field(default=None, max_length=255)


class DirectUploadRef(BaseModel):
    key: str = Field(min_length=1, max_length=1024, description="From the start answer.")
    upload_id: str = Field(min_length=1, max_length=1024, description="S3's UploadId.")


class DirectUploadOut(DirectUploadRef):
    part_size: int = Field(description="Bytes per part (the last one may be shorter).")
    part_count: int
    expires_s: int = Field(description="Lifetime of each presigned part URL.")


class PartsRequest(DirectUploadRef):
    part_numbers: list[Annotated[int, Field(ge=1, le=10_000)]] = Field(
        default_factory=list, max_length=1000
    )


class PartUrl(BaseModel):
    part_number: int
    url: str = Field(description="PUT the part's bytes here (no Authorization header).")


class StoredPart(BaseModel):
    part_number: int
    size: int


class PartsOut(BaseModel):
    urls: list[PartUrl]
    uploaded: list[StoredPart] = Field(description="Parts the bucket already holds.")
