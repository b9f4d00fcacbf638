"""The collector's ASGI app, built from Settings: `cdpflow collector` serves it with uvicorn."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from cdpflow.collector import routes
from cdpflow.collector.auth import SourceRegistry
from cdpflow.collector.errors import CollectorError, error_response
from cdpflow.collector.landing import FileSink, Sink, local_root, utc_now
from cdpflow.collector.limits import BodyLimitMiddleware
from cdpflow.secrets import open_secrets
from cdpflow.settings import Settings

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    sink: Sink | None = None,
    registry: SourceRegistry | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Starlette:
    """The collector app. Without `sink`, it lands in the lake's raw zone: the file sink starts
    (recovering what a killed process left) at startup and publishes its files at shutdown."""
    file_sink = (
        FileSink(local_root(settings.lake_url), settings.collector_file_bytes, clock=clock)
        if sink is None
        else None
    )
    collector = routes.Collector(
        registry=registry or SourceRegistry(open_secrets(settings)),
        sink=sink or file_sink,  # type: ignore[arg-type]
        clock=clock,
        max_event_bytes=settings.max_event_bytes,
        anonymize_ip=settings.collector_anonymize_ip,
        max_body_bytes=settings.collector_max_body_bytes,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if file_sink is not None:
            recovered = await run_in_threadpool(file_sink.start)
            for path in recovered:
                log.warning("published %s, left open by a stopped collector", path)
        try:
            yield
        finally:
            if file_sink is not None:
                await run_in_threadpool(file_sink.close)

    origins = settings.collector_cors_origins
    any_origin = "*" in origins
    cors: dict[str, Any] = {"allow_origins": list(origins)}
    if any_origin:  # `null` (sandboxed frames, file: pages) is no origin to trust with the cookie
        cors = {"allow_origin_regex": "(?!null$).*"}
    app = Starlette(
        routes=[
            Route("/health", routes.health, methods=["GET"]),
            Route("/v1/{kind}", routes.segment, methods=["POST"]),
            Route("/v1/{kind}/", routes.segment, methods=["POST"]),
            Route("/sdk/v1/events/publish", routes.blotout, methods=["POST"]),
            Route("/sdk/v1/events/publish/", routes.blotout, methods=["POST"]),
        ],
        middleware=[
            # credentials are allowed (the Blotout cookie), so the origin is echoed, never `*`
            Middleware(
                CORSMiddleware,  # type: ignore[arg-type]
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["*"],
                allow_credentials=True,
                max_age=86400,
                **cors,
            ),
            Middleware(
                OriginGuard,  # type: ignore[arg-type]
                allowed=None if any_origin else frozenset(origins),
            ),
            Middleware(
                BodyLimitMiddleware,  # type: ignore[arg-type]
                max_body_bytes=settings.collector_max_body_bytes,
                max_header_bytes=settings.collector_max_header_bytes,
                body_timeout=settings.collector_body_timeout_seconds,
            ),
        ],
        exception_handlers={
            CollectorError: _collector_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # a wrong path is a JSON 404, never an empty 307
    app.state.collector = collector
    return app


class OriginGuard:
    """With CDPFLOW_COLLECTOR_CORS_ORIGINS restricted, a browser POST from another origin is
    refused (403): CORS only hides the answer of a simple `text/plain` POST, it still arrives.
    Requests without `Origin` (server SDKs, apps) pass."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str] | None) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allowed is not None and scope["type"] == "http" and scope["method"] == "POST":
            origin = next((v for k, v in scope["headers"] if k == b"origin"), None)
            if origin is not None and origin.decode("latin-1") not in self.allowed:
                refusal = error_response(
                    403,
                    "origin_not_allowed",
                    "This origin may not send events (CDPFLOW_COLLECTOR_CORS_ORIGINS).",
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _collector_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CollectorError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error answering %s %s", request.method, request.url.path)
    return error_response(500, "internal", "The collector failed unexpectedly; nothing was stored.")
