"""Training labels inside official ``.npz`` files, imported as an annotator's work.

BackTAL's official training files (and THUMOS14-sim's, and this server's data-set export)
carry the labels beside the features: ``cls_label (C,)`` the video-level classes,
``point_label (T,)`` ``C`` at background-clicked snippets (a class there is an action
click), ``action_point_label (T,)`` the class at action-clicked snippets (our extension);
``model.data.read_npz_video`` reads them. ``python -m server.cli import-features
--labels-as NAME`` stores them as annotator NAME's video labels and clicks, so a training of
this server sees exactly what a training on the files sees: a click is placed at the centre
of its snippet, ``(s + ½) · duration / T``, which the official rule maps back to snippet
``s`` (``model.timebase.snippet_index``). Class index ``i`` is the class named by the
``i``-th entry of a class list (created when missing). Stored once: importing the same
file again changes nothing (clicks carry a key per video, snippet and class).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from model.data import VideoItem
from server.errors import Unprocessable
from server.labels.service import create_class, set_labels
from server.models import ActionClass, Click, ClickKind, User, Video
from server.timebase import frame_index


@dataclass
class Imported:
    labels: int = 0
    background_clicks: int = 0
    action_clicks: int = 0


def read_class_list(path: str | Path) -> list[str]:
    """A JSON list of names, or an ActivityNet ground-truth file's ``activity_list``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Unprocessable(f"cannot read the class list {path}: {exc}") from None
    names = data.get("activity_list") if isinstance(data, dict) else data
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise Unprocessable(
            f"{path}: expected a JSON list of class names or an ActivityNet file with "
            "'activity_list'"
        )
    return [n.strip() for n in names]


def classes_by_index(session: Session, names: list[str]) -> list[ActionClass]:
    """The classes named ``names`` in that order, created when missing."""
    existing = {c.name: c for c in session.scalars(select(ActionClass))}
    return [existing.get(n) or create_class(session, n) for n in names]


def snippet_time(snippet: int, duration: float, num_snippets: int) -> float:
    """The centre of a snippet in seconds (lands on ``snippet`` again by the official rule)."""
    return (snippet + 0.5) * duration / num_snippets


def import_labels(
    session: Session,
    video: Video,
    item: VideoItem,
    annotator: User,
    classes: list[ActionClass],
) -> Imported:
    """Store ``item``'s video labels and clicks as ``annotator``'s on ``video``."""
    num_classes = int(item.labels.shape[0])
    if num_classes > len(classes):
        raise Unprocessable(
            f"{video.name}: cls_label has {num_classes} classes but the class list names "
            f"{len(classes)}"
        )
    T = item.num_snippets
    present = [classes[i].id for i in range(num_classes) if item.labels[i] > 0]
    set_labels(session, video.id, annotator, present)
    keys = set(
        session.scalars(
            select(Click.client_key).where(
                Click.annotator_id == annotator.id, Click.video_id == video.id
            )
        )
    )
    out = Imported(labels=len(present))
    wanted = [(int(s), None) for s in item.bg_clicks] + [
        (int(s), classes[int(c)].id) for s, c in item.action_clicks
    ]
    for snippet, class_id in wanted:
        key = f"npz:{video.id}:{snippet}:{'bg' if class_id is None else class_id}"
        if key in keys:
            continue
        keys.add(key)
        t = snippet_time(snippet, video.duration_s, T)
        session.add(
            Click(
                video_id=video.id,
                annotator_id=annotator.id,
                t_s=t,
                frame_index=frame_index(t, video.fps, video.frame_count),
                kind=ClickKind.background if class_id is None else ClickKind.action,
                class_id=class_id,
                client_key=key,
                save_count=1,
            )
        )
        if class_id is None:
            out.background_clicks += 1
        else:
            out.action_clicks += 1
    session.flush()
    return out
