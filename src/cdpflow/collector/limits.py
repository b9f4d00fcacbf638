"""Body limits as ASGI middleware: bytes are counted while they stream in, never after.

`Request.body()` has no cap, so this middleware reads the body itself (refusing it as soon as it
passes `max_body_bytes`), decodes `Content-Encoding: gzip` with the same cap on the decoded size,
and hands the app a body it may read whole.
"""

from __future__ import annotations

import zlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cdpflow.collector.errors import CollectorError, malformed, too_large


class BodyLimitMiddleware:
    """Buffer and (when gzip'd) decode each request body, at most `max_body_bytes` of it."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        try:
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
        headers = dict(scope["headers"])
        limit = self.max_body_bytes
        declared = headers.get(b"content-length", b"").strip()
        if declared.isdigit() and int(declared) > limit:
            raise _over_limit(int(declared), limit)
        chunks: list[bytes] = []
        size = 0
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
        body = b"".join(chunks)
        encoding = headers.get(b"content-encoding", b"identity").strip().lower()
        if encoding in (b"gzip", b"x-gzip"):
            return gunzip(body, limit)
        if encoding not in (b"", b"identity"):
            raise CollectorError(
                415,
                "unsupported_encoding",
                f"Content-Encoding `{encoding.decode()}` is not "
                "supported; send the body as it is or gzip'd.",
            )
        return body


def gunzip(data: bytes, limit: int) -> bytes:
    """Decode a gzip body (one or more members), refusing output past `limit` bytes."""
    out: list[bytes] = []
    size = 0
    rest = data
    while rest:
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
