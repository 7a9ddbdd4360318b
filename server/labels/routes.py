from __future__ import annotations

from fastapi import APIRouter, status

from server.auth import AdminUser, CurrentUser, SessionDep
from server.labels import service
from server.labels.schemas import AnnotatorLabels, ClassIn, ClassOut, LabelsIn, LabelsOut
from server.models import Role

router = APIRouter(tags=["labels"])


@router.get("/classes", response_model=list[ClassOut])
def list_classes(
    _: CurrentUser, session: SessionDep, include_retired: bool = False
) -> list[ClassOut]:
    """The classes in creation order; retired ones only with ``include_retired=true``."""
    return service.class_outs(session, include_retired)


@router.post("/classes", response_model=ClassOut, status_code=status.HTTP_201_CREATED)
def create_class(body: ClassIn, _: AdminUser, session: SessionDep) -> ClassOut:
    return service.class_out(session, service.create_class(session, body.name))


def _labels(session: SessionDep, video_id: int, user: CurrentUser) -> LabelsOut:
    rows = service.get_labels(session, video_id, user, everyone=user.role == Role.admin)
    return LabelsOut(
        video_id=video_id,
        labels=[AnnotatorLabels(annotator_id=a, annotator_name=n, class_ids=c) for a, n, c in rows],
    )


@router.get("/videos/{video_id}/labels", response_model=LabelsOut)
def get_labels(video_id: int, user: CurrentUser, session: SessionDep) -> LabelsOut:
    """The caller's video-level labels (admin: everyone's)."""
    return _labels(session, video_id, user)


@router.put("/videos/{video_id}/labels", response_model=LabelsOut)
def put_labels(video_id: int, body: LabelsIn, user: CurrentUser, session: SessionDep) -> LabelsOut:
    """Replace the caller's video-level labels."""
    service.set_labels(session, video_id, user, body.class_ids)
    return _labels(session, video_id, user)
