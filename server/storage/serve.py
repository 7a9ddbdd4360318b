"""Serving stored objects to browsers, ``<video>`` seeking (HTTP range requests) included.

- local backend: the file itself (Starlette's ``FileResponse``, which answers ranges);
- S3, ``BACKTAL_S3_DELIVERY=proxy`` (default): the API reads exactly the requested byte
  range from the bucket (one ranged GET) and streams it, 206 with ``Content-Range``, so the
  browser needs to reach only the API;
- S3, ``redirect``: a 307 to a presigned URL; the browser then talks to the S3 endpoint
  directly (ranges included), which must be reachable from it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from server.errors import NotFound
from server.storage.base import Storage

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


class RangeNotSatisfiable(ValueError):
    """The requested range lies outside the object."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range ``(first, last)`` a ``Range`` header asks of an object of
    ``size`` bytes, or None for the whole object (no header, a malformed one or several
    ranges: RFC 9110 lets a server ignore those and answer 200).

    ``bytes=a-b`` → (a, min(b, size-1)); ``bytes=a-`` → (a, size-1); ``bytes=-n`` → the last
    n bytes. ``RangeNotSatisfiable`` when ``a`` ≥ size or a suffix of 0 bytes is asked."""
    if not header:
        return None
    m = _RANGE.match(header)
    if m is None:  # several ranges, other units, garbage
        return None
    first_s, last_s = m.groups()
    if not first_s and not last_s:
        return None
    if not first_s:  # suffix range
        n = int(last_s)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - n), size - 1
    first = int(first_s)
    if first >= size:
        raise RangeNotSatisfiable(header)
    last = int(last_s) if last_s else size - 1
    if last < first:
        return None  # invalid: ignore the header
    return first, min(last, size - 1)


def redirect_origin(storage: Storage, delivery: str) -> str | None:
    """The origin (``scheme://host[:port]``) browsers fetch media from when ``delivery`` is
    ``redirect`` on an object store — pages must allow it (Content-Security-Policy) — else
    None (everything is same-origin)."""
    if delivery != "redirect" or storage.local_path("probe") is not None:
        return None
    url = storage.presigned_url("probe", 60)
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def serve_object(
    storage: Storage,
    key: str,
    request: Request,
    *,
    media_type: str,
    delivery: str = "proxy",
    expires_s: int = 3600,
    missing: str = "the file is missing on the server",
    cache_control: str | None = None,
) -> Response:
    """The object ``key`` as an HTTP response (see the module docstring); 404 ``missing``."""
    own = storage.local_path(key)
    if own is not None:
        if not own.is_file():
            raise NotFound(missing)
        response: Response = FileResponse(
            own, media_type=media_type, content_disposition_type="inline"
        )
    elif delivery == "redirect" and (url := storage.presigned_url(key, expires_s)):
        if storage.stat(key) is None:
            raise NotFound(missing)
        response = RedirectResponse(url, status_code=307)
    else:
        info = storage.stat(key)
        if info is None:
            raise NotFound(missing)
        headers = {"Accept-Ranges": "bytes"}
        try:
            wanted = parse_range(request.headers.get("range"), info.size)
        except RangeNotSatisfiable:
            return Response(
                status_code=416, headers={**headers, "Content-Range": f"bytes */{info.size}"}
            )
        head = request.method == "HEAD"
        if wanted is None:
            headers["Content-Length"] = str(info.size)
            body = iter(()) if head else storage.read_range(key)
            response = StreamingResponse(body, media_type=media_type, headers=headers)
        else:
            first, last = wanted
            headers["Content-Length"] = str(last - first + 1)
            headers["Content-Range"] = f"bytes {first}-{last}/{info.size}"
            body = (
                storage.read_range(key, first, last + 1) if request.method != "HEAD" else iter(())
            )
            response = StreamingResponse(
                body, status_code=206, media_type=media_type, headers=headers
            )
        response.headers["Content-Disposition"] = "inline"
    if cache_control:
        response.headers["Cache-Control"] = cache_control
    return response
