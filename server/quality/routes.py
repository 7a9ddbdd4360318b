from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from server.auth import AdminUser, SessionDep
from server.config import Settings
from server.quality import service
from server.quality.schemas import QualityOut

router = APIRouter(tags=["quality"])


@router.get("/annotators/quality", response_model=QualityOut)
def annotators_quality(
    request: Request,
    _: AdminUser,
    session: SessionDep,
    model_version: Annotated[str, Query(description="'active' or a version id")] = "active",
) -> QualityOut:
    """Per annotator: clicks, videos, seconds per click, flagged share, share inside GT;
    video-label agreement (Cohen's kappa per class, mean Jaccard) where labels overlap."""
    settings: Settings = request.app.state.settings
    return service.annotator_quality(session, settings, model_version)
