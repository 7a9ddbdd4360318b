from __future__ import annotations

from fastapi import APIRouter

from server.auth import AdminUser, SessionDep
from server.classes import service
from server.classes.schemas import ClassMerge, ClassRename, MergeResult
from server.labels.schemas import ClassOut
from server.labels.service import class_out

router = APIRouter(tags=["labels"])


@router.patch("/classes/{class_id}", response_model=ClassOut)
def rename_class(class_id: int, body: ClassRename, _: AdminUser, session: SessionDep) -> ClassOut:
    """Rename a class (its clicks, labels, GT and predictions follow; 409 if the name is
    taken: merge instead)."""
    return class_out(session, service.rename(session, class_id, body.name))


@router.post("/classes/{class_id}/merge", response_model=MergeResult)
def merge_class(class_id: int, body: ClassMerge, _: AdminUser, session: SessionDep) -> MergeResult:
    """Merge this class into ``into``: every label, click, GT segment, segment, prediction,
    suggestion and curve moves, duplicates are merged, then this class is gone. One
    transaction: all of it or nothing."""
    name, target, counts = service.merge(session, class_id, body.into)
    return MergeResult(merged=name, into=class_out(session, target), moved=counts)


@router.post("/classes/{class_id}/retire", response_model=ClassOut)
def retire_class(class_id: int, _: AdminUser, session: SessionDep) -> ClassOut:
    """Hide the class from keys and pickers and leave it out of training; everything that
    refers to it stays."""
    return class_out(session, service.set_retired(session, class_id, True))


@router.post("/classes/{class_id}/unretire", response_model=ClassOut)
def unretire_class(class_id: int, _: AdminUser, session: SessionDep) -> ClassOut:
    return class_out(session, service.set_retired(session, class_id, False))
