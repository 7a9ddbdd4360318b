"""A small generated demo data set: videos with planted actions, classes and users.

The clips are drawn with numpy and encoded in-process (PyAV's libx264, browser-playable):
a textured scene with a slow camera pan; actions are objects that move in a class-typical
way (a ball that bounces, a bar that spins), preceded by a "context" moment where the
object is present but still (what background clicks are for). The ground truth of every
clip is returned so it can be imported for evaluation.

``seed`` (``python -m server.cli seed-demo``) also plays a demo annotator who has already
labelled every clip and clicked its background the way people do
(``simulated_annotation``), so Retrain works as soon as the features are extracted.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.config import Settings

CLASSES = ["Bounce", "Spin"]


@dataclass(frozen=True)
class DemoClip:
    name: str
    duration_s: float
    segments: list[tuple[float, float, str]]  # (start_s, end_s, class name)


def demo_plan(n_videos: int = 6, seed: int = 0) -> list[DemoClip]:
    rng = np.random.default_rng(seed)
    clips = []
    for i in range(n_videos):
        duration = float(rng.integers(16, 25))
        classes = [CLASSES[i % 2]] if i < 4 else list(CLASSES)
        segments: list[tuple[float, float, str]] = []
        t = float(rng.uniform(2.0, 4.0))
        while t + 3.0 < duration - 1.0:
            length = float(rng.uniform(2.0, 3.5))
            segments.append(
                (
                    round(t, 2),
                    round(min(t + length, duration - 0.5), 2),
                    classes[len(segments) % len(classes)],
                )
            )
            t += length + float(rng.uniform(3.0, 6.0))
        clips.append(DemoClip(f"demo_{i + 1:02d}", duration, segments))
    return clips


def _frame(clip: DemoClip, k: int, fps: int, w: int, h: int, bg: np.ndarray) -> np.ndarray:
    t = k / fps
    shift = int(8 * math.sin(t / 3.0))
    img = np.roll(bg, shift, axis=1).copy()
    active = [s for s in clip.segments if s[0] <= t < s[1]]
    context = [s for s in clip.segments if s[0] - 1.5 <= t < s[0] or s[1] <= t < s[1] + 1.0]
    cx, cy = w // 2, h // 2
    if active:
        start, _end, cls = active[0]
        phase = (t - start) * 2 * math.pi
        if cls == "Bounce":
            y = int(cy + 50 * abs(math.sin(phase)) - 25)
            _disc(img, cx, y, 18, (230, 60, 40))
        else:
            _bar(img, cx, cy, 50, phase, (40, 120, 230))
    elif context:
        cls = context[0][2]
        if cls == "Bounce":
            _disc(img, cx, cy + 25, 18, (230, 60, 40))
        else:
            _bar(img, cx, cy, 50, 0.0, (40, 120, 230))
    # Frame counter: 12-bit barcode in the top-left corner (white = 1), for timing tests.
    for bit in range(12):
        on = (k >> bit) & 1
        img[0:8, bit * 8 : bit * 8 + 8] = 255 if on else 0
    return img


def _disc(img: np.ndarray, x: int, y: int, r: int, color: tuple[int, int, int]) -> None:
    yy, xx = np.ogrid[: img.shape[0], : img.shape[1]]
    img[(xx - x) ** 2 + (yy - y) ** 2 <= r * r] = color


def _bar(
    img: np.ndarray, x: int, y: int, r: int, angle: float, color: tuple[int, int, int]
) -> None:
    for s in np.linspace(-r, r, 4 * r):
        px, py = int(x + s * math.cos(angle)), int(y + s * math.sin(angle))
        img[max(py - 3, 0) : py + 3, max(px - 3, 0) : px + 3] = color


def write_clip(clip: DemoClip, path: Path, fps: int = 25, w: int = 320, h: int = 240) -> None:
    rng = np.random.default_rng(zlib.crc32(clip.name.encode()))
    base = rng.integers(40, 120, size=(h // 8, w // 8, 3), dtype=np.uint8)
    bg = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=Fraction(fps, 1))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "26"}
        for k in range(int(clip.duration_s * fps)):
            frame = av.VideoFrame.from_ndarray(_frame(clip, k, fps, w, h, bg), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    tmp.replace(path)


def ground_truth(clips: list[DemoClip]) -> dict[str, object]:
    """ActivityNet-style ground truth of the demo clips."""
    return {
        "database": {
            c.name: {
                "subset": "validation",
                "duration": c.duration_s,
                "fps": 25,
                "annotations": [{"segment": [s, e], "label": cls} for s, e, cls in c.segments],
            }
            for c in clips
        },
        "activity_list": CLASSES,
    }


# ----------------------------------------------------------------------------- the demo annotator

DEMO_ANNOTATOR = "demo-annotator"
CLICKS_PER_ACTION = (0.9, 1.3)  # background clicks per action instance (BackTAL's budget)
NEAR_ACTION_SHARE = 0.2  # aimed at the context just before / after an action
MISPLACED_SHARE = 0.08  # meant as background, landed inside an action
CONTEXT_BEFORE_S, CONTEXT_AFTER_S = 1.5, 1.0  # the clips' context zones (see _frame)


@dataclass(frozen=True)
class DemoClick:
    t_s: float
    where: str  # "background" | "near-action" | "misplaced" (how the simulation placed it)
    elapsed_ms: int  # time since the previous click (telemetry, like the page sends)


@dataclass(frozen=True)
class DemoAnnotation:
    labels: list[str]  # video-level classes
    clicks: list[DemoClick]  # background clicks, in time order


def _inside(
    t: float, segments: list[tuple[float, float, str]], before: float, after: float
) -> bool:
    return any(s - before <= t < e + after for s, e, _ in segments)


def simulated_annotation(clip: DemoClip, seed: int = 0) -> DemoAnnotation:
    """How a person annotates a demo clip for BackTAL: its video-level labels and about one
    background click per action instance while watching.

    Most clicks land on plain background (outside every action and its context zone);
    ``NEAR_ACTION_SHARE`` are aimed at the context just before or after an action (the hard
    background BackTAL's clicks are for); ``MISPLACED_SHARE`` land inside an action (a late
    reaction, a slip). Every click carries a reaction jitter. On the 16–24 s demo clips this
    is 5–10 clicks per minute of video, as on BackTAL's THUMOS14 click file (2264 clicks for
    3003 action instances).
    """
    rng = np.random.default_rng([zlib.crc32(clip.name.encode()), seed])
    segs = clip.segments
    n = max(2, round(len(segs) * float(rng.uniform(*CLICKS_PER_ACTION))))
    grid = np.round(np.arange(0.1, clip.duration_s - 0.1, 0.05), 3)
    plain = [float(t) for t in grid if not _inside(t, segs, CONTEXT_BEFORE_S, CONTEXT_AFTER_S)]
    context = [
        float(t)
        for t in grid
        if _inside(t, segs, CONTEXT_BEFORE_S, CONTEXT_AFTER_S) and not _inside(t, segs, 0, 0)
    ]
    inside = [float(t) for t in grid if _inside(t, segs, -0.3, -0.3)]  # well inside
    times: list[tuple[float, str]] = []
    for _ in range(n):
        u = float(rng.uniform())
        if u < MISPLACED_SHARE and inside:
            pool, where = inside, "misplaced"
        elif u < MISPLACED_SHARE + NEAR_ACTION_SHARE and context:
            pool, where = context, "near-action"
        else:
            pool, where = plain or context, "background"
        jitter = float(rng.normal(0.0, 0.12))  # reaction noise around the aimed moment
        t = min(max(float(rng.choice(pool)) + jitter, 0.0), clip.duration_s - 0.05)
        if where != "misplaced" and _inside(t, segs, 0, 0):
            where = "misplaced"  # the jitter pushed it into the action
        times.append((round(t, 2), where))
    times.sort()
    clicks, last = [], 0.0
    for t, where in times:
        # watching at 1x: the video time since the last click plus a moment to react
        elapsed = int(1000 * (t - last) + rng.uniform(250, 900))
        clicks.append(DemoClick(t, where, elapsed))
        last = t
    return DemoAnnotation(sorted({cls for _, _, cls in segs}), clicks)


# ----------------------------------------------------------------------------- seeding


@dataclass(frozen=True)
class SeedResult:
    new_videos: int
    videos: int
    admin_token: str
    annotator_token: str
    demo_labelled: int  # videos the demo annotator labelled
    demo_clicks: int  # its background clicks
    demo_clicks_per_min: float


def seed(settings: Settings, n_videos: int = 6, log: Callable[[str], None] = print) -> SeedResult:
    """Generate the demo clips (once), register them, add the classes, the users ``admin``
    and ``annotator`` (tokens re-issued) and the demo annotator's labels and background
    clicks (``simulated_annotation``), import the ground truth (evaluation only). One
    transaction; running it again adds nothing twice (clicks carry client keys)."""
    from server.clicks.schemas import ClickIn
    from server.clicks.service import VideoFactsCache, add_click
    from server.db import make_engine, make_sessionmaker, session_scope
    from server.labels.service import create_class, list_classes, set_labels
    from server.migrate import upgrade
    from server.models import Role, User, Video
    from server.storage import open_storage
    from server.training.service import import_ground_truth
    from server.users.service import create_user, get_or_create_annotator, rotate_token
    from server.videos.service import register_prefix

    upgrade(settings)
    folder = settings.media_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    clips = demo_plan(n_videos)
    for clip in clips:
        path = folder / f"{clip.name}.mp4"
        if not path.exists():
            log(f"generating {path.name}")
            write_clip(clip, path)
    gt_json = json.dumps(ground_truth(clips), indent=1)
    (folder / "ground_truth.json").write_text(gt_json)
    storage = open_storage(settings)  # the media folder, or a bucket: the clips go there
    for clip in clips:
        key = f"demo/{clip.name}.mp4"
        if not storage.exists(key):
            storage.put_file(key, folder / f"{clip.name}.mp4")

    def user_token(session: Session, name: str, role: Role) -> str:
        user = session.scalar(select(User).where(User.name == name))
        if user is None:
            return create_user(session, name, role)[1]
        return rotate_token(session, user.id)[1]

    engine = make_engine(settings)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            existing = {c.name for c in list_classes(session)}
            for name in CLASSES:
                if name not in existing:
                    create_class(session, name)
            class_ids = {c.name: c.id for c in list_classes(session)}
            admin_token = user_token(session, "admin", Role.admin)
            annotator_token = user_token(session, "annotator", Role.annotator)
            admin = session.scalar(select(User).where(User.name == "admin"))
            assert admin is not None
            created = register_prefix(
                session,
                storage,
                "demo/",
                admin,
                settings.media_dir / "tmp",
                max_bytes=settings.max_upload_bytes,
                only=[f"demo/{c.name}.mp4" for c in clips],
            ).created
            # ground truth for evaluation only: model versions then report held-out mAP
            import_ground_truth(session, gt_json.encode())
            videos = {
                v.name: v
                for v in session.scalars(
                    select(Video).where(
                        Video.name.in_([c.name for c in clips]), Video.deleted_at.is_(None)
                    )
                )
            }
            person = get_or_create_annotator(session, DEMO_ANNOTATOR)
            cache, clicks, seconds = VideoFactsCache(), 0, 0.0
            for clip in clips:
                video = videos[clip.name]
                note = simulated_annotation(clip)
                set_labels(session, video.id, person, [class_ids[c] for c in note.labels])
                for k, c in enumerate(note.clicks):
                    body = ClickIn(
                        t_s=c.t_s,
                        client_key=f"demo-{clip.name}-{k}",
                        client_elapsed_ms=c.elapsed_ms,
                        while_playing=True,
                    )
                    add_click(session.connection(), video.id, person, body, cache)
                clicks += len(note.clicks)
                seconds += video.duration_s
    finally:
        engine.dispose()
    return SeedResult(
        new_videos=len(created),
        videos=len(clips),
        admin_token=admin_token,
        annotator_token=annotator_token,
        demo_labelled=len(clips),
        demo_clicks=clicks,
        demo_clicks_per_min=round(60 * clicks / seconds, 1) if seconds else 0.0,
    )
