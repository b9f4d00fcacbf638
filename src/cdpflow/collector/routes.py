"""The endpoints: Segment / RudderStack HTTP tracking API, the Blotout SDK endpoint, health.

Each handler authenticates the source from the headers when it can, then takes the body
(bounded by `limits`; a gzip'd one is decoded only for an authenticated source), validates the
shape and sizes, removes write keys, lands the message, and answers only once it is durable.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cdpflow.collector.auth import SourceRegistry
from cdpflow.collector.errors import (
    CollectorError,
    malformed,
    too_large,
    unauthorized,
    unavailable,
)
from cdpflow.collector.landing import Sink, StorageError
from cdpflow.collector.limits import decoded_body
from cdpflow.events.size import event_bytes
from cdpflow.lake.raw import Received, encode, hour_of

# path segment -> Segment message type (None: a batch); analytics.js uses the one-letter forms
SEGMENT_PATHS: dict[str, str | None] = {
    "batch": None,
    "b": None,
    "track": "track",
    "t": "track",
    "page": "page",
    "p": "page",
    "screen": "screen",
    "s": "screen",
    "identify": "identify",
    "i": "identify",
    "alias": "alias",
    "a": "alias",
    "group": "group",
    "g": "group",
}
VISITOR_COOKIE = "_trends_user_id"
_COOKIE_MAX_AGE = 2 * 365 * 24 * 3600
_OK = b'{"success":true}'
MAX_NESTING = 254  # orjson serializes no deeper, so deeper messages could not be measured or landed
_KEY_MASK = b"********"
_MIN_MASKED_KEY = 16


@dataclass
class Collector:
    """What the handlers share: built once per app from Settings."""

    registry: SourceRegistry
    sink: Sink
    clock: Callable[[], datetime]
    max_event_bytes: int
    anonymize_ip: bool
    max_body_bytes: int = 500_000


def _collector(request: Request) -> Collector:
    return request.app.state.collector  # type: ignore[no-any-return]


async def health(request: Request) -> Response:
    """200 while the raw zone can be written now (a probe, at most one a second), else 503."""
    if not await run_in_threadpool(_collector(request).sink.healthy):
        raise unavailable("The raw zone cannot be written; see the collector's log.")
    return JSONResponse({"status": "ok"})


async def segment(request: Request) -> Response:
    """`POST /v1/{batch,track,page,screen,identify,alias,group}` (and the one-letter forms)."""
    col = _collector(request)
    path = request.path_params["kind"]
    if path not in SEGMENT_PATHS:
        raise CollectorError(404, "not_found", f"No endpoint /v1/{path}.")
    kind = SEGMENT_PATHS[path]
    basic_key = _basic_username(request)
    source = col.registry.source_of(basic_key) if basic_key else None
    if basic_key and source is None:
        raise _unknown_key()
    body = decoded_body(request.headers, await request.body(), col.max_body_bytes, source)
    message = _parse_object(body)
    body_key = message.pop("writeKey", None)
    if source is None:
        source = col.registry.source_of(body_key if isinstance(body_key, str) else None)
        if source is None:
            raise _unknown_key()
    header_bytes = _stored_header_bytes(request)
    if kind is None:
        items = message.get("batch")
        if not isinstance(items, list):
            raise malformed("A batch needs `batch`: a list of messages.")
        _check_items(items, "batch", col.max_event_bytes, header_bytes)
        if not items:
            return Response(_OK, media_type="application/json")
        fmt = "segment_batch"
    else:
        message.setdefault("type", kind)
        _check_size(message, f"The {kind} message", col.max_event_bytes, header_bytes)
        fmt = "segment_message"
    if col.anonymize_ip:
        _anonymize_context_ips(message)
    auth_key = basic_key if basic_key else body_key
    await _land(col, request, source, message, fmt, str(auth_key))
    return Response(_OK, media_type="application/json")


async def blotout(request: Request) -> Response:
    """`POST /sdk/v1/events/publish?token=...` with a `{meta, events[]}` payload."""
    col = _collector(request)
    token = request.query_params.get("token")
    source = col.registry.source_of(token)
    if source is None:
        raise unauthorized("Unknown token; send the source's key as `?token=`.")
    body = decoded_body(request.headers, await request.body(), col.max_body_bytes, source)
    payload = _parse_object(body)
    payload.pop("writeKey", None)
    events = payload.get("events")
    if not isinstance(events, list):
        raise malformed("A Blotout payload needs `events`: a list of events.")
    if "meta" in payload and not isinstance(payload["meta"], dict):
        raise malformed("`meta` must be a JSON object.")
    if isinstance(payload.get("meta"), dict):
        payload["meta"].pop("writeKey", None)
    _check_items(events, "events", col.max_event_bytes, _stored_header_bytes(request))
    cookie = request.cookies.get(VISITOR_COOKIE) or None
    visitor = cookie or secrets.token_hex(16)
    needs_visitor = any(not e.get("userid") for e in events)
    if events:
        visitor_id = visitor if needs_visitor or cookie else None
        await _land(col, request, source, payload, "blotout", str(token), visitor_id)
    response = Response(_OK, media_type="application/json")
    if cookie is None:
        response.set_cookie(
            VISITOR_COOKIE,
            visitor,
            max_age=_COOKIE_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response


async def _land(
    col: Collector,
    request: Request,
    source: str,
    message: Mapping[str, Any],
    fmt: str,
    key: str,
    visitor_id: str | None = None,
) -> None:
    """Land one line; the source's key, wherever the client put it (a URL, a property, a batch
    item's `writeKey`), is masked in it."""
    received_at = col.clock()
    ip = request.client.host if request.client else None
    if ip and col.anonymize_ip:
        ip = anonymize_ip(ip)
    item = Received(
        received_at,
        source,
        message,
        ip=ip,
        user_agent=request.headers.get("user-agent"),
        visitor_id=visitor_id,
        format=fmt,
    )
    try:
        line = encode(item)
    except orjson.JSONEncodeError as err:  # the envelope adds levels to its items' nesting
        raise _too_deep("The message") from err
    secret = key.encode()
    # keys are URL-safe base64 (their text is the same inside JSON strings); a short hand-made
    # key is left alone rather than masking common words
    if len(secret) >= _MIN_MASKED_KEY and secret in line:
        line = line.replace(secret, _KEY_MASK)
    try:
        await col.sink.land([(hour_of(received_at), line)])
    except StorageError as err:
        raise unavailable(f"{err} Nothing was stored; retry later.") from err


def _stored_header_bytes(request: Request) -> int:
    """Bytes of request headers stored with every event of the line (the User-Agent)."""
    return len(request.headers.get("user-agent", "").encode())


def _basic_username(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


def _unknown_key() -> CollectorError:
    return unauthorized(
        "Unknown write key; send a source's key (`cdpflow source add NAME`) as the HTTP Basic "
        "username or as `writeKey` in the body."
    )


def _parse_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise malformed("The body is empty; send a JSON object.")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise malformed(f"The body is not valid JSON: {err}.") from err
    if not isinstance(value, dict):
        raise malformed(f"The body is a JSON {_json_type(value)}; send a JSON object.")
    return value


def _check_items(items: list[Any], name: str, limit: int, header_bytes: int) -> None:
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise malformed(f"`{name}[{index}]` is a JSON {_json_type(item)}, not an object.")
    for index, item in enumerate(items):
        item.pop("writeKey", None)  # analytics.js bodies forwarded into a batch carry theirs
        _check_size(item, f"`{name}[{index}]`", limit, header_bytes)


def _check_size(item: Mapping[str, Any], what: str, limit: int, header_bytes: int) -> None:
    """An event is stored with its line's User-Agent, so both count against the limit."""
    try:
        size = event_bytes(item)
    except orjson.JSONEncodeError as err:
        raise _too_deep(what) from err
    if size + header_bytes > limit:
        with_header = f" with its {header_bytes:,}-byte User-Agent" if header_bytes else ""
        raise too_large(
            f"{what} is {size + header_bytes:,} bytes{with_header}; the limit per event is "
            f"{limit:,} (CDPFLOW_MAX_EVENT_BYTES)."
        )


def _too_deep(what: str) -> CollectorError:
    return malformed(
        f"{what} nests arrays and objects more than {MAX_NESTING} levels deep; "
        "flatten its properties."
    )


def _json_type(value: Any) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def anonymize_ip(ip: str) -> str:
    """The address with its host part zeroed: IPv4 /24, IPv6 /48; other text is dropped."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def _anonymize_context_ips(message: dict[str, Any]) -> None:
    """SDKs may send `context.ip` themselves; it would win over the receive IP, so mask it."""
    batch = message.get("batch")
    items: list[Any] = batch if isinstance(batch, list) else []
    for target in [message, *items]:
        context = target.get("context") if isinstance(target, dict) else None
        if isinstance(context, dict) and isinstance(context.get("ip"), str):
            context["ip"] = anonymize_ip(context["ip"]) or None
