"""Request limits as ASGI middleware: headers and bodies are bounded in size and in time.

`Request.body()` has no cap, so this middleware reads the body itself (refusing it as soon as it
passes `max_body_bytes`, or when it has not arrived within `body_timeout` seconds) and hands the
app a body it may read whole. It also refuses request heads over `max_header_bytes` (the server
protocol in `cdpflow.collector.server` stops a head that keeps growing before it completes).

A gzip'd body is decoded later, by `decoded_body`, and only for a request whose key was already
checked, so a keyless client cannot make the collector decompress.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cdpflow.collector.errors import CollectorError, malformed, too_large, unauthorized

MAX_GZIP_MEMBERS = 16  # SDKs send one; thousands of empty ones only cost decoding time


class BodyLimitMiddleware:
    """Bound each request's head size, and buffer its body: at most `max_body_bytes`, within
    `body_timeout` seconds of its headers."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        max_header_bytes: int = 32_768,
        body_timeout: float = 30.0,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_head(scope, self.max_header_bytes)
            if scope["method"] in ("GET", "HEAD", "OPTIONS"):
                await self.app(scope, receive, send)
                return
            body = await self._read(scope, receive)
        except CollectorError as err:
            await err.response()(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later calls wait for the disconnect

        await self.app(scope, replay, send)

    async def _read(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.max_body_bytes
        declared = _header(scope, b"content-length").strip()
        if declared.isdigit() and int(declared) > limit:
            raise _over_limit(int(declared), limit)
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise malformed("The client disconnected before the body was complete.")
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        raise _over_limit(size, limit)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise CollectorError(
                408,
                "body_timeout",
                f"The body did not arrive within {self.body_timeout:g} s "
                f"(CDPFLOW_COLLECTOR_BODY_TIMEOUT_SECONDS); {size:,} bytes came.",
                close=True,
            ) from None
        return b"".join(chunks)


def check_head(scope: Scope, limit: int) -> None:
    """431 for a request line and headers over `limit` bytes, as they were sent."""
    size = len(scope.get("raw_path", b"")) + len(scope.get("query_string", b""))
    for name, value in scope["headers"]:
        size += len(name) + len(value) + 4
    if size > limit:
        raise headers_too_large(limit)


def headers_too_large(limit: int) -> CollectorError:
    return CollectorError(
        431,
        "headers_too_large",
        f"The request line and headers are over {limit:,} bytes "
        "(CDPFLOW_COLLECTOR_MAX_HEADER_BYTES).",
        close=True,
    )


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return b""


def decoded_body(headers: Mapping[str, str], body: bytes, limit: int, source: str | None) -> bytes:
    """The body as the client meant it: gzip decoded (only for an authenticated `source`)."""
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise CollectorError(
            415,
            "unsupported_encoding",
            f"Content-Encoding `{encoding}` is not supported; send the body as it is or gzip'd.",
        )
    if source is None:
        raise unauthorized(
            "A gzip'd body needs its write key in the request, not only in the body: send it as "
            "the HTTP Basic username (or `?token=` for Blotout)."
        )
    return gunzip(body, limit)


def gunzip(data: bytes, limit: int, max_members: int = MAX_GZIP_MEMBERS) -> bytes:
    """Decode a gzip body (one or more members), refusing output past `limit` bytes."""
    out: list[bytes] = []
    size = 0
    rest = data
    while rest:
        if len(out) == max_members:
            raise malformed(
                f"The gzip body has more than {max_members} members; send it as one gzip stream."
            )
        decoder = zlib.decompressobj(wbits=31)
        try:
            chunk = decoder.decompress(rest, limit + 1 - size)
        except zlib.error as err:
            raise malformed(f"The body is marked gzip but does not decode: {err}.") from err
        size += len(chunk)
        if size > limit or decoder.unconsumed_tail:
            raise too_large(
                f"The body decodes to more than {limit:,} bytes, the limit "
                "(CDPFLOW_COLLECTOR_MAX_BODY_BYTES)."
            )
        if not decoder.eof:
            raise malformed("The gzip body ends before its data does.")
        out.append(chunk)
        rest = decoder.unused_data
    return b"".join(out)


def _over_limit(size: int, limit: int) -> CollectorError:
    return too_large(
        f"The body is {size:,}+ bytes; the limit is {limit:,} (CDPFLOW_COLLECTOR_MAX_BODY_BYTES)."
        " Send fewer events per batch."
    )
