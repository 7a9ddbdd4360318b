"""server.videos.listing (the previous video, a live video) and the paged list of live
videos the pages take from server.videos.service.list_videos."""

from __future__ import annotations

from server.db import session_scope
from server.models import Video, utcnow
from server.videos import listing
from server.videos.service import list_videos


def add_video(session, n: int, deleted: bool = False, duration_s: float = 10.0) -> int:  # type: ignore[no-untyped-def]
    video = Video(
        name=f"v{n}",
        title=f"Video {n}",
        original_name=f"v{n}.mp4",
        sha256=f"{n:064d}",
        size_bytes=1000,
        file_path=f"videos/v{n}.mp4",
        fps=25.0,
        frame_count=250,
        duration_s=duration_s,
        width=320,
        height=240,
        deleted_at=utcnow() if deleted else None,
    )
    session.add(video)
    session.flush()
    return video.id


def five_videos_third_deleted(app) -> list[int]:  # type: ignore[no-untyped-def]
    with session_scope(app.state.sessionmaker) as s:
        return [add_video(s, n, deleted=n == 3) for n in range(1, 6)]


def test_count_and_pages_skip_deleted_videos_in_id_order(app):
    v1, v2, _v3, v4, v5 = five_videos_third_deleted(app)
    with app.state.sessionmaker() as s:
        assert list_videos(s, 2, 0)[1] == 4
        assert [v.id for v in list_videos(s, 2, 0)[0]] == [v1, v2]
        assert [v.id for v in list_videos(s, 2, 2)[0]] == [v4, v5]
        assert [v.id for v in list_videos(s, 2, 3)[0]] == [v5]
        assert list_videos(s, 2, 4)[0] == []
        assert [v.id for v in list_videos(s, 100, 0)[0]] == [v1, v2, v4, v5]


def test_empty_database(app):
    with app.state.sessionmaker() as s:
        assert list_videos(s, 100, 0) == ([], 0)
        assert listing.previous_live_video_id(s, 1) is None
        assert listing.live_video_or_none(s, 1) is None


def test_previous_live_video_skips_deleted_ones(app):
    v1, v2, v3, v4, v5 = five_videos_third_deleted(app)
    with app.state.sessionmaker() as s:
        assert listing.previous_live_video_id(s, v1) is None
        assert listing.previous_live_video_id(s, v2) == v1
        assert listing.previous_live_video_id(s, v4) == v2  # v3 is deleted
        assert listing.previous_live_video_id(s, v3) == v2
        assert listing.previous_live_video_id(s, v5 + 100) == v5


def test_live_video_or_none(app):
    v1, _v2, v3, _v4, v5 = five_videos_third_deleted(app)
    with app.state.sessionmaker() as s:
        video = listing.live_video_or_none(s, v1)
        assert video is not None and video.id == v1 and video.name == "v1"
        assert listing.live_video_or_none(s, v3) is None  # deleted
        assert listing.live_video_or_none(s, v5 + 1) is None  # never existed
