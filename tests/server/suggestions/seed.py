"""Model versions with predictions and suggestions written with the ORM (no training), and
clicks made through the API."""

from __future__ import annotations

from typing import Any

from server.db import session_scope
from server.models import ActivationCurve, ModelVersion, Prediction, Suggestion


def add_version(
    app: Any,
    *,
    active: bool,
    segments: list[tuple[int, int, float, float, float]] = (),  # type: ignore[assignment]
    suggestions: list[tuple[int, float, float, str, int | None]] = (),  # type: ignore[assignment]
    curves: dict[int, dict[str, Any]] | None = None,
) -> int:
    """A model version; segments (video, class, start, end, score); suggestions (video, t,
    score, reason, class), ranked in the given order per video; activation curves (video →
    {"times_s": [...], "classes": {"<class id>": [...]}}). Returns its id."""
    from sqlalchemy import update

    with session_scope(app.state.sessionmaker) as s:
        if active:
            s.execute(update(ModelVersion).values(is_active=False))
        mv = ModelVersion(
            supervision="bg-click",
            checkpoint_path="models/none.pt",
            class_names=[],
            is_active=active,
        )
        s.add(mv)
        s.flush()
        for vid, cid, a, b, score in segments:
            s.add(
                Prediction(
                    model_version_id=mv.id,
                    video_id=vid,
                    class_id=cid,
                    start_s=a,
                    end_s=b,
                    score=score,
                )
            )
        for vid, data in (curves or {}).items():
            s.add(ActivationCurve(model_version_id=mv.id, video_id=vid, data=data))
        ranks: dict[int, int] = {}
        for vid, t, score, reason, cid in suggestions:
            rank = ranks.get(vid, 0)
            ranks[vid] = rank + 1
            s.add(
                Suggestion(
                    model_version_id=mv.id,
                    video_id=vid,
                    rank=rank,
                    t_s=t,
                    score=score,
                    reason=reason,
                    class_id=cid,
                )
            )
        return int(mv.id)


def click(client: Any, actor: Any, vid: int, t: float, **extra: Any) -> dict[str, Any]:
    r = client.post(
        f"/api/v1/videos/{vid}/clicks",
        json={"t_s": t, "client_key": f"k{t}-{vid}", **extra},
        headers=actor.h,
    )
    assert r.status_code == 201, r.text
    return r.json()
