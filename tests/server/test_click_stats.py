"""server.clicks.stats: one annotator's click/label figures per video and overall.

The rows (hand-checkable):

    video  duration  alice's clicks (elapsed ms)           alice's labels  bob
    v1     10 s      1000, 2000, none; deleted click 5000  A, B            click (700)
    v2     20 s      none                                  -               label A
    v3     40 s      500, 500  (the video is deleted)      -               -
    v4      5 s      -                                     A               click (none)
"""

from __future__ import annotations

from server.clicks import stats
from server.clicks.stats import AnnotatorTotals, VideoClickStats
from server.db import session_scope
from server.models import ActionClass, Click, ClickKind, VideoLabel, utcnow
from tests.conftest import make_user
from tests.server.test_listing import add_video


def click(video_id: int, user_id: int, elapsed_ms: int | None, deleted: bool = False) -> Click:
    return Click(
        video_id=video_id,
        annotator_id=user_id,
        t_s=1.0,
        frame_index=25,
        kind=ClickKind.background,
        class_id=None,
        client_elapsed_ms=elapsed_ms,
        deleted_at=utcnow() if deleted else None,
    )


def make_rows(app):  # type: ignore[no-untyped-def]
    alice = make_user(app, "alice", "annotator").id
    bob = make_user(app, "bob", "annotator").id
    with session_scope(app.state.sessionmaker) as s:
        v1 = add_video(s, 1, duration_s=10.0)
        v2 = add_video(s, 2, duration_s=20.0)
        v3 = add_video(s, 3, duration_s=40.0, deleted=True)
        v4 = add_video(s, 4, duration_s=5.0)
        a, b = ActionClass(name="A"), ActionClass(name="B")
        s.add_all([a, b])
        s.flush()
        s.add_all(
            [
                click(v1, alice, 1000),
                click(v1, alice, 2000),
                click(v1, alice, None),
                click(v1, alice, 5000, deleted=True),
                click(v2, alice, None),
                click(v3, alice, 500),
                click(v3, alice, 500),
                click(v1, bob, 700),
                click(v4, bob, None),
                VideoLabel(video_id=v1, class_id=a.id, annotator_id=alice),
                VideoLabel(video_id=v1, class_id=b.id, annotator_id=alice),
                VideoLabel(video_id=v4, class_id=a.id, annotator_id=alice),
                VideoLabel(video_id=v2, class_id=a.id, annotator_id=bob),
            ]
        )
    return alice, bob, (v1, v2, v3, v4)


def test_per_video_stats_counts_my_live_clicks_telemetry_and_labels(app):
    alice, bob, (v1, v2, v3, v4) = make_rows(app)
    with app.state.sessionmaker() as s:
        assert stats.per_video_stats(s, alice, [v1, v2, v3, v4]) == {
            v1: VideoClickStats(clicks=3, elapsed_ms=3000, timed=2, labels=2),
            v2: VideoClickStats(clicks=1, elapsed_ms=0, timed=0, labels=0),
            # per_video_stats does not look at the video's deletion (callers pass live ids)
            v3: VideoClickStats(clicks=2, elapsed_ms=1000, timed=2, labels=0),
            v4: VideoClickStats(clicks=0, elapsed_ms=0, timed=0, labels=1),
        }
        assert stats.per_video_stats(s, bob, [v1, v2, v4]) == {
            v1: VideoClickStats(clicks=1, elapsed_ms=700, timed=1, labels=0),
            v2: VideoClickStats(clicks=0, elapsed_ms=0, timed=0, labels=1),
            v4: VideoClickStats(clicks=1, elapsed_ms=0, timed=0, labels=0),
        }
        # only the ids asked for; an unknown id gets zeros
        assert stats.per_video_stats(s, alice, [v2, 999]) == {
            v2: VideoClickStats(clicks=1),
            999: VideoClickStats(),
        }
        assert stats.per_video_stats(s, alice, []) == {}


def test_annotator_totals_and_annotated_duration(app):
    alice, bob, _ = make_rows(app)
    carol = make_user(app, "carol", "annotator").id
    with app.state.sessionmaker() as s:
        # 3 + 1 + 2 live clicks on v1, v2, v3 (v3's deletion does not matter here)
        assert stats.annotator_totals(s, alice) == AnnotatorTotals(
            clicks=6, elapsed_ms=4000, timed=4, videos=3
        )
        assert stats.annotator_totals(s, bob) == AnnotatorTotals(
            clicks=2, elapsed_ms=700, timed=1, videos=2
        )
        assert stats.annotator_totals(s, carol) == AnnotatorTotals(0, 0, 0, 0)
        # live videos with one of my live clicks: alice v1 + v2 (v3 deleted), bob v1 + v4
        assert stats.annotated_duration_s(s, alice) == 30.0
        assert stats.annotated_duration_s(s, bob) == 15.0
        assert stats.annotated_duration_s(s, carol) == 0.0
