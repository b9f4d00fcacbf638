"""`cdpflow import-events`: land a JSON-lines file of messages exactly as the collector would.

A line that carries its own `receivedAt` (Segment and RudderStack warehouse exports do) keeps it,
so historical data lands in its historical hours. A line that is not JSON is landed as text and
quarantined by events_incremental with its reason, never dropped.
"""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from cdpflow.errors import TerminalError
from cdpflow.lake.raw import FORMATS, LandingResult, RawWriter, Received
from cdpflow.lake.storage import Lake


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 string as an aware UTC datetime; None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def to_received(line: bytes, fmt: str, source: str, now: datetime) -> Received:
    """One import line as a received message."""
    try:
        body = orjson.loads(line)
    except orjson.JSONDecodeError:
        return Received(now, source, line.decode("utf-8", errors="replace").rstrip("\r\n"))
    if not isinstance(body, dict):
        return Received(now, source, line.decode("utf-8", errors="replace").rstrip("\r\n"))
    meta = body.pop("_cdp", None)  # a raw-zone line being re-imported keeps its metadata
    meta = meta if isinstance(meta, dict) else {}
    landed_text = body.get("_raw")
    message: dict[str, Any] | str = (
        landed_text if meta and isinstance(landed_text, str) else body  # a body that was not JSON
    )
    received_at = (
        parse_time(meta.get("received_at"))
        or parse_time(body.get("receivedAt"))
        or parse_time(body.get("received_at"))
        or now
    )
    return Received(
        received_at=received_at,
        source=str(meta.get("source") or source),
        message=message,
        ip=meta.get("ip"),
        user_agent=meta.get("user_agent"),
        visitor_id=meta.get("visitor_id"),
        format=fmt if fmt != "auto" else str(meta.get("format") or "auto"),
    )


def _lines(handle: IO[bytes]) -> Iterator[bytes]:
    for line in handle:
        if line.strip():
            yield line


def _open(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as err:
        raise TerminalError(f"Cannot read `{path}`: {err.strerror}.") from err
    head = raw.peek(2)[:2] if isinstance(raw, io.BufferedReader) else b""
    if head == b"\x1f\x8b":
        raw.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return raw


def import_events(
    lake: Lake, path: str | Path, fmt: str = "auto", source: str = "import"
) -> LandingResult:
    """Land every line of `path` (JSON lines, optionally gzip'd; `-` for stdin)."""
    if fmt not in FORMATS:
        raise TerminalError(f"--format `{fmt}` is not one of: {', '.join(FORMATS)}.")
    now = datetime.now(UTC)
    handle = _open(str(path))
    try:
        with RawWriter(lake) as writer:
            for line in _lines(handle):
                writer.write(to_received(line, fmt, source, now))
        return writer.result
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()
