from __future__ import annotations

from pydantic import Field

from server.schemas import Schema


class ClassIn(Schema):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$")


class ClassOut(Schema):
    id: int
    name: str
    index: int = Field(
        description="Position among all classes in creation order (the COIN TagID; a "
        "training set takes the classes that are not retired in this order)."
    )
    retired: bool = Field(
        default=False,
        description="Retired: hidden from keys and pickers, no new labels, left out of "
        "training; its labels stay on record.",
    )


class LabelsIn(Schema):
    class_ids: list[int] = Field(max_length=1000)


class AnnotatorLabels(Schema):
    annotator_id: int
    annotator_name: str
    class_ids: list[int]


class LabelsOut(Schema):
    video_id: int
    labels: list[AnnotatorLabels]
