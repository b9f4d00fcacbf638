"""How `cdpflow collector` runs the app under uvicorn, with limits a keyless client cannot outlast.

Uvicorn waits for a request's headers as long as the client likes and lets them grow without
bound (httptools has no limit). `GuardedHttpToolsProtocol` closes a connection that has not sent
its headers within `header_timeout` seconds (of opening, or of the previous answer), and answers
431 as soon as an unfinished head passes `max_header_bytes`. The body is bounded in size and time
by `cdpflow.collector.limits`; the number of connections by uvicorn's `limit_concurrency`, with
the process's open-file limit raised to fit so sockets never run out first.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cdpflow.settings import Settings

log = logging.getLogger(__name__)
_SPARE_FILES = 256  # raw files, the secrets store, logs: what the process opens besides sockets


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """Uvicorn's httptools protocol with a deadline and a size cap on each request's head."""

    max_header_bytes = 32_768
    header_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._await_head()

    def _await_head(self) -> None:
        self._head_bytes = 0
        self._awaiting_head = True
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _head_done(self) -> None:
        self._awaiting_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if (
            self._awaiting_head
            and self._head_bytes > self.max_header_bytes
            and not self.transport.is_closing()
        ):
            self._refuse(
                431,
                "headers_too_large",
                f"The request line and headers are over {self.max_header_bytes:,} bytes "
                "(CDPFLOW_COLLECTOR_MAX_HEADER_BYTES).",
            )

    def on_headers_complete(self) -> None:
        self._head_done()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        waiting = bool(self.pipeline)  # a pipelined request whose head is already in
        super().on_response_complete()
        if not waiting and not self.transport.is_closing():
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        super().connection_lost(exc)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._awaiting_head and not self.transport.is_closing():
            if self._head_bytes:  # a request was begun: say why it ends
                self._refuse(
                    408,
                    "header_timeout",
                    f"The request headers did not arrive within {self.header_timeout:g} s "
                    "(CDPFLOW_COLLECTOR_HEADER_TIMEOUT_SECONDS).",
                )
            else:
                self.transport.close()

    def _refuse(self, status: int, code: str, detail: str) -> None:
        """Answer a request that never reached the app, and close the connection."""
        self._head_done()
        body = orjson.dumps({"code": code, "detail": detail})
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, reason, len(body), body)
        )
        self.transport.close()


def guarded_protocol(settings: Settings) -> type[GuardedHttpToolsProtocol]:
    """The protocol class with this deployment's limits."""
    return type(
        "CollectorHttpProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "max_header_bytes": settings.collector_max_header_bytes,
            "header_timeout": float(settings.collector_header_timeout_seconds),
        },
    )


def raise_open_file_limit(connections: int) -> int:
    """Raise the soft open-file limit to fit `connections` sockets (up to the hard limit), so a
    flood of idle sockets meets the connection limit before it runs out of descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + _SPARE_FILES
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    if soft < connections + _SPARE_FILES:
        log.warning(
            "the open-file limit is %d (hard limit %s); fewer than the %d connections "
            "CDPFLOW_COLLECTOR_MAX_CONNECTIONS allows fit",
            soft,
            hard,
            connections,
        )
    return soft


def uvicorn_config(
    app: Any, settings: Settings, host: str, port: int, **extra: Any
) -> uvicorn.Config:
    """The uvicorn configuration `cdpflow collector` serves with."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(settings),
        limit_concurrency=settings.collector_max_connections,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=30,
        server_header=False,
        **extra,
    )
