"""API errors with messages a person can act on, and the handlers that render them.

Every error response is JSON ``{"detail": "<sentence>"}``; validation errors add
``errors`` (field, message). Unexpected exceptions become a plain 500 without a trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from server.storage.base import StorageUnavailable

log = logging.getLogger("backtal.errors")

# Set on every response by the app's middleware, and by the 500 handler here (that one runs
# outside the middleware stack).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class ApiError(Exception):
    status_code = 400

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class BadRequest(ApiError):
    status_code = 400


class Unauthorized(ApiError):
    status_code = 401

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    status_code = 403


class NotFound(ApiError):
    status_code = 404


class Conflict(ApiError):
    status_code = 409


class Gone(ApiError):
    status_code = 410


class PayloadTooLarge(ApiError):
    status_code = 413


class UnsupportedMediaType(ApiError):
    status_code = 415


class Unprocessable(ApiError):
    status_code = 422


class InsufficientStorage(ApiError):
    status_code = 507


class FieldError(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    """The body of every error response."""

    detail: str
    errors: list[FieldError] | None = None


# Documented on every API route, so the OpenAPI describes the error bodies clients get
# (it also replaces FastAPI's default 422 schema, which is not what the handler renders).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorOut, "description": "Client error: `detail` says what to change."},
}


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


def _validation_message(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid value"))
    if err.get("type") == "finite_number":
        msg = "must be a finite number (NaN and infinity are not allowed)"
    return f"{_loc(tuple(err.get('loc', ())))}: {msg}"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _loc(tuple(e.get("loc", ()))), "message": _validation_message(e)}
            for e in exc.errors()
        ]
        detail = "; ".join(e["message"] for e in errors) or "invalid request"
        return JSONResponse({"detail": detail, "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        return JSONResponse(
            {"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
        # e.g. an id of 2**70: SQLite's driver cannot bind it, PostgreSQL refuses it.
        log.warning("out-of-range value on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": "a number or text in the request is out of the range the database holds"},
            status_code=422,
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _db_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The connection was lost (database restarted, backend terminated) or SQLite stayed
        # locked past its busy timeout. The transaction was rolled back: safe to retry (a
        # click with its client_key is stored once however often it is sent).
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": "the database is unavailable right now; retry in a moment"},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(StorageUnavailable)
    async def _storage_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The object store could not be reached or failed after the client's retries.
        # Nothing was published: a put either completes or leaves no object behind.
        log.warning("storage unavailable on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": f"file storage is unavailable right now; retry in a moment ({exc})"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(RecursionError)
    async def _too_deep(request: Request, exc: Exception) -> JSONResponse:
        # e.g. an uploaded JSON file of 100 000 nested arrays
        log.warning("too deeply nested input on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "the input is nested too deeply"}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": "internal server error"}, status_code=500, headers=SECURITY_HEADERS
        )
