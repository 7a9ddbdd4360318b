"""Probe an uploaded file: is it a decodable video, and what are its fps / size / length?

The check uses PyAV (FFmpeg linked in-process) for both the container metadata and the decode
check, rather than ``cv2.VideoCapture``: OpenCV wraps the same FFmpeg but reports failures only
as ``False``, hides the codec and the time base, and cannot tell "no video track" from
"corrupt". The cost stays bounded on long videos:

* the first few frames are decoded (catches "not really a video" and broken streams);
* if the container does not state a frame count (MKV, WebM, some AVIs), the video packets are
  counted by demuxing only (reads the file once, decodes nothing);
* the decoder then seeks to about two seconds before the stated end and decodes to the end;
  a file whose last decodable frame is noticeably before the stated end is reported as
  truncated (an upload cut short, a recording that was not finalised).

Time follows the product-wide rule: frame ``i`` is shown from ``i / fps`` to ``(i + 1) / fps``,
``duration_s = frame_count / fps`` and the frame at time ``t`` is ``floor(t * fps)``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import av

from server.media.errors import MediaError

#: Frames decoded at the start of the file.
HEAD_FRAMES = 3
#: How far before the stated end the tail check starts decoding.
TAIL_SECONDS = 2.0
#: Files whose stream cannot be seeked are fully decoded only below this size.
FULL_DECODE_MAX_BYTES = 256 * 1024 * 1024
#: Demuxers that read still images; an image is not a video.
_IMAGE_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "bmp_pipe", "webp_pipe", "tiff_pipe"}


@dataclass(frozen=True)
class VideoProbe:
    """What the server stores about an upload (see ``docs``: frame = floor(t·fps))."""

    fps: float
    frame_count: int
    duration_s: float
    width: int
    height: int
    codec: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe_video(path: str | os.PathLike[str]) -> VideoProbe:
    """Return the video's metadata after checking that it really decodes.

    Raises ``MediaError`` (message written for a person) when the file is missing, empty,
    not a video, has no frames, or is corrupt or truncated.
    """
    fspath = os.fspath(path)
    if not os.path.isfile(fspath):
        raise MediaError("The file was not found.")
    size = os.path.getsize(fspath)
    if size == 0:
        raise MediaError("The file is empty (0 bytes).")

    try:
        container = av.open(fspath, mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise MediaError(
            "This file is not a video that can be read: its format was not recognised "
            "or its header is damaged (for an MP4, the upload may have been cut short)."
        ) from exc

    with container:
        if container.format.name in _IMAGE_FORMATS:
            raise MediaError("This file is a still image, not a video.")
        if not container.streams.video:
            raise MediaError("The file has no video track (it may be audio only).")
        stream = container.streams.video[0]
        rate = stream_frame_rate(stream)
        if rate is None:
            raise MediaError("The video's frame rate could not be determined.")

        head = _decode_head(container, stream)
        if head.count == 0:
            if head.packets == 0:
                raise MediaError("The video contains no frames.")
            raise MediaError("The video stream is damaged: none of its frames can be decoded.")
        width, height = head.width, head.height
        if head.rotation in (90, 270):  # report what a player displays
            width, height = height, width

        frame_count = stream.frames
        last_pts: int | None = None
        if frame_count <= 0:
            frame_count, last_pts = _count_packets(fspath)
            if frame_count <= 0:
                raise MediaError("The video contains no frames.")

        _check_tail(container, stream, rate, head.first_pts, frame_count, last_pts, size)
        codec = stream.codec_context.name

    fps = float(rate)
    return VideoProbe(
        fps=fps,
        frame_count=int(frame_count),
        duration_s=float(Fraction(frame_count) / rate),
        width=int(width),
        height=int(height),
        codec=str(codec),
    )


def stream_frame_rate(stream: av.video.stream.VideoStream) -> Fraction | None:
    """The stream's frame rate as an exact fraction (average rate, else the guessed one)."""
    for candidate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if candidate is not None and candidate > 0:
            rate = Fraction(candidate)
            # Sanity: reject nonsense such as 90000 fps from a broken header.
            if Fraction(1, 1000) < rate <= 1000:
                return rate
    return None


@dataclass
class _Head:
    count: int = 0
    packets: int = 0
    width: int = 0
    height: int = 0
    first_pts: int | None = None
    rotation: int = 0


def _decode_head(container: av.container.InputContainer, stream: Any) -> _Head:
    head = _Head()
    try:
        for packet in container.demux(stream):
            if packet.size:
                head.packets += 1
            for frame in packet.decode():
                if head.count == 0:
                    head.width, head.height = frame.width, frame.height
                    head.first_pts = frame.pts
                    head.rotation = frame_rotation(frame)
                head.count += 1
                if head.count >= HEAD_FRAMES:
                    return head
            # A stream that yields nothing after many packets is not decodable.
            if head.count == 0 and head.packets > 250:
                return head
    except av.FFmpegError as exc:
        if head.count == 0:
            raise MediaError(
                "The video stream is damaged: its first frames cannot be decoded."
            ) from exc
    return head


def frame_rotation(frame: Any) -> int:
    """Display rotation of a decoded frame in degrees counter-clockwise (0/90/180/270)."""
    try:
        angle = round(frame.rotation or 0)
    except (AttributeError, TypeError, ValueError):
        return 0
    return angle % 360 if angle % 90 == 0 else 0


def _count_packets(fspath: str) -> tuple[int, int | None]:
    """Count the video packets by demuxing only; also return the largest packet pts."""
    count = 0
    last_pts: int | None = None
    try:
        with av.open(fspath, mode="r", metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if not packet.size:
                    continue
                count += 1
                if packet.pts is not None and (last_pts is None or packet.pts > last_pts):
                    last_pts = packet.pts
    except av.FFmpegError:
        # Count what could be read; the tail check decides whether that is acceptable.
        pass
    return count, last_pts


def _check_tail(
    container: av.container.InputContainer,
    stream: Any,
    rate: Fraction,
    first_pts: int | None,
    frame_count: int,
    last_packet_pts: int | None,
    size: int,
) -> None:
    """Decode the last ~2 s and make sure the video really reaches its stated end."""
    time_base = stream.time_base
    if time_base is None or first_pts is None:
        return
    tb = Fraction(time_base)
    origin = Fraction(first_pts) * tb
    if last_packet_pts is not None:
        expected_last = Fraction(last_packet_pts) * tb - origin
    else:
        expected_last = Fraction(frame_count - 1) / rate
    tolerance = max(Fraction(1, 2), Fraction(5, 2) / rate)
    seek_to = max(Fraction(0), expected_last - Fraction(TAIL_SECONDS).limit_denominator())

    last_seen: Fraction | None = None
    try:
        container.seek(int((origin + seek_to) / tb), stream=stream, backward=True)
    except av.FFmpegError:
        if size > FULL_DECODE_MAX_BYTES:
            return  # cannot seek and too big to decode fully: the head check must do
        try:
            container.seek(0)
        except av.FFmpegError:
            return
    try:
        for frame in container.decode(stream):
            if frame.pts is not None:
                t = Fraction(frame.pts) * tb - origin
                if last_seen is None or t > last_seen:
                    last_seen = t
    except av.FFmpegError:
        pass  # judged below by how far decoding got
    stated = expected_last + 1 / rate
    short = last_seen is None or last_seen < expected_last - tolerance
    if not short and last_packet_pts is not None and last_seen is not None:
        # The frame count came from the packets actually present; compare with the length
        # the header states (MKV/WebM write it when the file is finalised).
        stated_by_header = _stated_duration(container, stream)
        if stated_by_header is not None:
            header, slack = stated_by_header
            if last_seen + 1 / rate < header - max(slack, header / 20):
                short, stated = True, header
    if short:
        reached = 0.0 if last_seen is None else float(last_seen + 1 / rate)
        raise MediaError(
            "The video is truncated or damaged: it should last "
            f"{float(stated):.1f} s but frames can only be decoded up to about {reached:.1f} s."
        )


def _stated_duration(
    container: av.container.InputContainer, stream: Any
) -> tuple[Fraction, Fraction] | None:
    """The video's length according to its header (seconds) and how much slack to allow.

    Prefers the video track's own length (exact up to a frame); the container's length can
    include a longer audio track, so it gets a looser tolerance.
    """
    if stream.duration and stream.time_base is not None:
        return Fraction(stream.duration) * Fraction(stream.time_base), Fraction(1, 2)
    tag = (stream.metadata or {}).get("DURATION")  # Matroska/WebM per-track tag
    if tag:
        try:
            h, m, sec = tag.split(":")
            return (int(h) * 3600 + int(m) * 60 + Fraction(sec), Fraction(1, 2))
        except ValueError:
            pass
    if container.duration:
        return Fraction(container.duration, av.time_base), Fraction(1)
    return None


def open_video_stream(
    path: str, cannot_open: str
) -> tuple[av.container.InputContainer, Any, Fraction]:
    """Open ``path`` for decoding its first video stream: ``(container, stream, rate)``.

    ``cannot_open`` is the person-readable message when the file does not open. The caller
    owns the container (use it as a context manager).
    """
    try:
        container = av.open(path, mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise MediaError(cannot_open) from exc
    try:
        if not container.streams.video:
            raise MediaError("The file has no video track.")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream_frame_rate(stream)
        if rate is None:
            raise MediaError("The video's frame rate could not be determined.")
    except BaseException:
        container.close()
        raise
    return container, stream, rate


def estimated_frames(container: av.container.InputContainer, stream: Any, rate: Fraction) -> int:
    """The stream's frame count, or its duration × rate when the container states none."""
    if stream.frames:
        return int(stream.frames)
    if stream.duration is not None and stream.time_base is not None:
        return int(stream.duration * stream.time_base * rate)
    if container.duration is not None:
        return int(Fraction(container.duration, av.time_base) * rate)
    return 0
