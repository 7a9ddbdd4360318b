"""Media building blocks: probing uploads, browser proxies, thumbnail sprites.

Pure functions over files (PyAV in-process, no system ffmpeg, no database, no web framework).
"""

from server.media.errors import MediaCancelled, MediaError
from server.media.probe import VideoProbe, probe_video
from server.media.proxy import ProxyInfo, make_proxy
from server.media.thumbnails import make_thumbnail_sprite

__all__ = [
    "MediaCancelled",
    "MediaError",
    "ProxyInfo",
    "VideoProbe",
    "make_proxy",
    "make_thumbnail_sprite",
    "probe_video",
]
