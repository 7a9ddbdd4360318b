"""The FastAPI application factory."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.assignments.routes import router as assignments_router
from server.auth import TokenCache
from server.classes.routes import router as classes_router
from server.clicks.routes import router as clicks_router
from server.clicks.service import VideoFactsCache
from server.comparisons.routes import router as comparisons_router
from server.config import Settings
from server.db import make_engine, make_sessionmaker, read_only
from server.errors import ERROR_RESPONSES, SECURITY_HEADERS, install_error_handlers
from server.exports.routes import router as exports_router
from server.features.routes import router as features_router
from server.jobs.routes import router as jobs_router
from server.labels.routes import router as labels_router
from server.quality.routes import router as quality_router
from server.segments.routes import router as segments_router
from server.storage import open_storage
from server.storage.serve import redirect_origin
from server.suggestions.routes import router as suggestions_router
from server.training.routes import router as training_router
from server.uploads.routes import router as uploads_router
from server.uploads.sweep import sweep_expired
from server.users.routes import router as users_router
from server.videos.routes import router as videos_router

API_PREFIX = "/api/v1"


class SecurityHeaders:
    """Pure ASGI middleware: add ``SECURITY_HEADERS`` to every HTTP response that lacks them
    (cheaper than ``BaseHTTPMiddleware``, which wraps each response in a stream)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.ensure_dirs()
    engine = make_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # expired unfinished uploads go (in the background: the bucket may be slow or down)
        threading.Thread(
            target=sweep_expired, args=(settings, app.state.storage), daemon=True
        ).start()
        yield
        engine.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="BackTAL Studio",
        version="0.1.0",
        description=(
            "Annotate background clicks in videos, train BackTAL, see its localizations. "
            "Every call carries `Authorization: Bearer <token>`."
        ),
        docs_url="/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.read_sessionmaker = make_sessionmaker(read_only(engine))
    app.state.token_cache = TokenCache(settings.token_cache_s)
    app.state.video_facts = VideoFactsCache()
    app.state.storage = open_storage(settings)
    app.state.media_origin = redirect_origin(app.state.storage, settings.s3_delivery)

    install_error_handlers(app)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type"],
        )

    app.add_middleware(SecurityHeaders)

    api = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)

    @api.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        """Liveness and database reachability (no token needed)."""
        with read_only(engine).connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    for router in (
        clicks_router,  # first: the hottest route matches without scanning the others
        users_router,
        videos_router,
        labels_router,
        classes_router,
        exports_router,
        jobs_router,
        features_router,
        training_router,
        suggestions_router,
        quality_router,
        uploads_router,
        segments_router,
        comparisons_router,
        assignments_router,
    ):
        api.include_router(router)
    app.include_router(api)

    from annotator_ui.pages import router as pages_router

    app.include_router(pages_router)

    logging.getLogger("backtal").setLevel(logging.INFO)
    return app
