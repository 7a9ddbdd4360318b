"""HTML pages of the annotator UI (server-rendered Jinja2 + plain JS modules).

Sign-in model (see ``docs/ui.md``): the sign-in form posts the bearer token to
``POST /login``; the page route checks it and stores it in an ``HttpOnly``,
``SameSite=Strict`` session cookie (no expiry: it ends with the browser session). Page
routes read the cookie to decide what to render (e.g. ``/admin`` answers 403 to an
annotator). The JS modules call the REST API with ``Authorization: Bearer``; they get the
token once per page from the same-origin ``GET /session/token`` (no-store), never from the
HTML. ``<video>`` cannot send a bearer header, so the media is served by the
cookie-authenticated page route ``GET /media/videos/{id}`` (range requests supported).

Static files are served by the route ``GET /static/{path}`` of this router, so the app
needs no extra mount.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from server.assignments import service as assignments
from server.auth import user_for_token
from server.clicks import stats as click_stats
from server.errors import NotFound
from server.models import Role, User
from server.predictions.service import prediction_sources
from server.storage.serve import serve_object
from server.suggestions import service as suggestions
from server.uploads import direct as direct_uploads
from server.uploads.access import may_upload
from server.videos import listing
from server.videos import service as videos_service

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))

COOKIE = "backtal_session"
PAGE_SIZE = 100

# Pages load only same-origin scripts, styles and media; blob: for the thumbnail sprite.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def page_csp(media_origin: str | None, upload_origin: str | None = None) -> str:
    """The pages' Content-Security-Policy; with S3 ``redirect`` delivery the bucket's origin
    may also serve media, sprites and (fetch) thumbnails; with S3 direct uploads the page
    may send file parts to the bucket."""
    csp = CSP
    if media_origin:
        csp = (
            csp.replace("img-src 'self'", f"img-src 'self' {media_origin}")
            .replace("media-src 'self'", f"media-src 'self' {media_origin}")
            .replace("connect-src 'self'", f"connect-src 'self' {media_origin}")
        )
    if upload_origin and upload_origin != media_origin:
        csp = csp.replace("connect-src 'self'", f"connect-src 'self' {upload_origin}")
    return csp


def _upload_origin(app: Any) -> str | None:
    """The bucket's origin when browsers upload straight to it (worked out once)."""
    if not hasattr(app.state, "upload_origin"):
        app.state.upload_origin = direct_uploads.bucket_origin(
            app.state.storage, app.state.settings.s3_upload
        )
    origin: str | None = app.state.upload_origin
    return origin


def _upload_config(request: Request, user: User) -> dict[str, Any] | None:
    """The videos page's upload panel (None: this user may not add videos)."""
    settings = request.app.state.settings
    if not may_upload(settings, user):
        return None
    mode = (
        "direct" if direct_uploads.enabled(request.app.state.storage, settings.s3_upload) else "tus"
    )
    size = float(settings.max_upload_bytes)
    unit = "bytes"
    for name in ("KiB", "MiB", "GiB", "TiB"):
        if size < 1024:
            break
        size, unit = size / 1024, name
    label = f"{size:.0f} {unit}" if size == int(size) else f"{size:.1f} {unit}"
    return {
        "mode": mode,
        "max_bytes": settings.max_upload_bytes,
        "max_label": label,
        "chunk_bytes": settings.upload_chunk_bytes,
    }


router = APIRouter(include_in_schema=False)

mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/css", ".css")


# ---------------------------------------------------------------------------- helpers


def _factory(request: Request) -> Any:
    return request.app.state.sessionmaker


def _cookie_user(request: Request) -> User | None:
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 256:
        return None
    with _factory(request)() as session:
        return user_for_token(session, token)


def _page(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = page_csp(
        request.app.state.media_origin, _upload_origin(request.app)
    )
    return response


def _to_signin(request: Request) -> RedirectResponse:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    from urllib.parse import quote

    return RedirectResponse(f"/?next={quote(target, safe='')}", status_code=303)


def _safe_next(value: str | None) -> str:
    """Only same-site paths: ``/videos/3`` yes, ``//evil.example`` or ``http://…`` no."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/videos"
    return value


def _error(
    request: Request, user: User | None, status_code: int, title: str, text: str
) -> HTMLResponse:
    return _page(
        request, "error.html", {"user": user, "title": title, "text": text}, status_code=status_code
    )


def _same_origin(request: Request) -> bool:
    """Login CSRF guard: a browser form post carries Origin (or Referer) of this site."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin is None  # non-browser clients send neither
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _rates(clicks: int, duration_s: float, elapsed_ms: int, timed: int) -> dict[str, Any]:
    return {
        "per_minute": clicks / (duration_s / 60.0) if duration_s > 0 and clicks else None,
        "s_per_click": elapsed_ms / timed / 1000.0 if timed else None,
    }


def _user_dict(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "role": str(user.role),
        "reaction_offset_ms": user.reaction_offset_ms,
    }


# ---------------------------------------------------------------------------- sign-in


@router.get("/", response_class=HTMLResponse)
def index(request: Request, next: str | None = None) -> Response:
    user = _cookie_user(request)
    if user is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _page(request, "login.html", {"user": None, "next": _safe_next(next), "error": None})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, token: str = Form(""), next: str = Form("/videos")) -> Response:
    token = token.strip()
    target = _safe_next(next)
    if not _same_origin(request):
        return _page(
            request,
            "login.html",
            {"user": None, "next": target, "error": "Sign-in must come from this site."},
            status_code=403,
        )
    user = None
    if token and len(token) <= 256:
        with _factory(request)() as session:
            user = user_for_token(session, token)
    if user is None:
        return _page(
            request,
            "login.html",
            {"user": None, "next": target, "error": "That token is not valid (or was revoked)."},
            status_code=401,
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/session/token")
def session_token(request: Request) -> Response:
    """The signed-in user's token for the page's API calls (same origin, never cached)."""
    token = request.cookies.get(COOKIE)
    user = _cookie_user(request)
    if user is None or token is None:
        return JSONResponse(
            {"detail": "not signed in"}, status_code=401, headers={"Cache-Control": "no-store"}
        )
    return JSONResponse(
        {"token": token, "user": _user_dict(user)}, headers={"Cache-Control": "no-store"}
    )


# ---------------------------------------------------------------------------- pages


@router.get("/videos", response_class=HTMLResponse)
def videos_page(request: Request, offset: int = 0) -> Response:
    user = _cookie_user(request)
    if user is None:
        return _to_signin(request)
    offset = max(0, offset)
    with _factory(request)() as session:
        videos, total = videos_service.list_videos(session, PAGE_SIZE, offset)
        stats = click_stats.per_video_stats(session, user.id, [v.id for v in videos])
        next_id = videos_service.next_unannotated(session, user.id, None)
        mine = click_stats.annotator_totals(session, user.id)
        annotated_duration = click_stats.annotated_duration_s(session, user.id)
        sources = prediction_sources(session, [v.id for v in videos])
        my_work = assignments.mine_by_video(session, user.id, [v.id for v in videos])
        next_assigned = assignments.next_open_video(session, user.id)
    rows = []
    for v in videos:
        s = stats[v.id]
        rows.append(
            {
                "video": v,
                "predictions": sources[v.id],
                "assignment": my_work.get(v.id),
                "clicks": s.clicks,
                "labels": s.labels,
                "annotated": bool(s.clicks or s.labels),
                **_rates(s.clicks, v.duration_s, s.elapsed_ms, s.timed),
            }
        )
    summary = {
        "clicks": mine.clicks,
        "videos": mine.videos,
        **_rates(mine.clicks, annotated_duration, mine.elapsed_ms, mine.timed),
    }
    return _page(
        request,
        "videos.html",
        {
            "user": user,
            "rows": rows,
            "total": total,
            "offset": offset,
            "page_size": PAGE_SIZE,
            "next_id": next_id,
            "next_assigned": next_assigned,
            "assignments": bool(my_work),
            "summary": summary,
            "upload": _upload_config(request, user),
        },
    )


@router.get("/videos/next")
def next_video(request: Request, after: int | None = None) -> Response:
    """The video with the most open suggestions (once a model exists), else the next one
    (after ``after``, wrapping around) that I have not annotated yet."""
    user = _cookie_user(request)
    if user is None:
        return _to_signin(request)
    radius = request.app.state.settings.suggest_click_radius_s
    with _factory(request)() as session:
        found = suggestions.next_video(session, user.id, after, radius)
    if found is None:
        return RedirectResponse("/videos?done=1", status_code=303)
    return RedirectResponse(f"/videos/{found}", status_code=303)


@router.get("/videos/{video_id}", response_class=HTMLResponse)
def annotate_page(request: Request, video_id: int) -> Response:
    user = _cookie_user(request)
    if user is None:
        return _to_signin(request)
    with _factory(request)() as session:
        video = listing.live_video_or_none(session, video_id)
        if video is None:
            return _error(request, user, 404, "Video not found", f"There is no video {video_id}.")
        prev_id = listing.previous_live_video_id(session, video_id)
    config = {
        "video": {
            "id": video.id,
            "name": video.name,
            "title": video.title,
            "fps": video.fps,
            "frame_count": video.frame_count,
            "duration_s": video.duration_s,
            "width": video.width,
            "height": video.height,
            "status": str(video.status),
            "media_url": f"/media/videos/{video.id}",
        },
        "user": _user_dict(user),
        "prev_id": prev_id,
    }
    return _page(request, "annotate.html", {"user": user, "video": video, "config": config})


def _admin_page(request: Request, template: str) -> Response:
    """An admin-only page: sign-in redirect, 403 page for annotators, else ``template``."""
    user = _cookie_user(request)
    if user is None:
        return _to_signin(request)
    if user.role != Role.admin:
        return _error(
            request, user, 403, "Admins only", "This page is for administrators of the project."
        )
    return _page(request, template, {"user": user, "config": {"user": _user_dict(user)}})


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request) -> Response:
    return _admin_page(request, "admin.html")


@router.get("/review", response_class=HTMLResponse)
def review_work_page(request: Request) -> Response:
    """Work submitted for review: approve it or return it with a comment (reviewers, admins)."""
    user = _cookie_user(request)
    if user is None:
        return _to_signin(request)
    if user.role not in (Role.reviewer, Role.admin):
        return _error(
            request,
            user,
            403,
            "Reviewers only",
            "This page is for reviewers and administrators: ask an admin for the reviewer role.",
        )
    return _page(request, "review_work.html", {"user": user, "config": {"user": _user_dict(user)}})


@router.get("/admin/review", response_class=HTMLResponse)
def review_page(request: Request) -> Response:
    """Flagged clicks of the active model version: jump to the moment, keep or delete."""
    return _admin_page(request, "review.html")


# ---------------------------------------------------------------------------- media, static


@router.get("/media/videos/{video_id}")
def video_media(request: Request, video_id: int) -> Response:
    """The browser-playable proxy when there is one, else the original (cookie auth)."""
    user = _cookie_user(request)
    if user is None:
        return JSONResponse({"detail": "not signed in"}, status_code=401)
    settings = request.app.state.settings
    with _factory(request)() as session:
        video = listing.live_video_or_none(session, video_id)
    if video is None:
        return JSONResponse({"detail": f"video {video_id} does not exist"}, status_code=404)
    storage = request.app.state.storage
    for key, media_type in (
        (video.proxy_path, "video/mp4"),
        (video.file_path, mimetypes.guess_type(video.original_name)[0] or "video/mp4"),
    ):
        if not key:
            continue
        try:
            return serve_object(
                storage,
                key,
                request,
                media_type=media_type,
                delivery=settings.s3_delivery,
                expires_s=settings.s3_presign_expires_s,
                cache_control="private, max-age=3600",
            )
        except NotFound:  # missing in storage: try the next file
            continue
    return JSONResponse({"detail": f"the file of video {video_id} is missing"}, status_code=404)


@router.get("/static/{path:path}")
def static_file(path: str) -> Response:
    target = (STATIC / path).resolve()
    if not target.is_file() or not target.is_relative_to(STATIC):
        return JSONResponse({"detail": "not found"}, status_code=404)
    media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    response = FileResponse(target, media_type=media_type)
    response.headers["Cache-Control"] = "no-cache"
    return response
