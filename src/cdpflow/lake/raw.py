"""The raw landing zone: gzip'd JSON lines partitioned by the hour each message was received.

One line holds one received message (a Segment message, a Segment batch envelope, or a Blotout
`{meta, events}` payload) with its receive metadata under the `_cdp` key; `_cdp.format` says
which of the three it is when the sender knew (`LINE_FORMATS`). A body that is not JSON is kept
as text under `_raw`, so events_incremental can quarantine it with its reason. A client's own
top-level `_cdp` and `_raw` keys are dropped: they would be mistaken for ours.
Files are published atomically, so a reader never sees one that is still being written.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import posixpath
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import orjson

from cdpflow.lake.storage import Lake

RAW_EVENTS = "raw/events"
_HOUR_DIR = re.compile(r"^received_date=(\d{4}-\d{2}-\d{2})$")
_HOUR_SUB = re.compile(r"^received_hour=(\d{2})$")
FORMATS = ("auto", "segment", "blotout")
# `_cdp.format` values: the collector records the endpoint's (a single message, a batch envelope,
# a Blotout payload); `import-events --format segment` records `segment` (message or envelope).
LINE_FORMATS = ("segment_message", "segment_batch", "blotout", "segment")
_OURS = ("_cdp", "_raw")
# the raw zone holds personal data (emails, IPs): only its owner may read it
FILE_MODE = 0o600
DIR_MODE = 0o700


@dataclass(frozen=True, slots=True)
class Received:
    """A message as it arrived: the parsed body (or its text when it is not JSON) and metadata."""

    received_at: datetime
    source: str
    message: Mapping[str, Any] | str
    ip: str | None = None
    user_agent: str | None = None
    visitor_id: str | None = None  # Blotout web SDK's first-party cookie, when the body has none
    format: str = "auto"


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_key(hour: datetime) -> str:
    """The name of a raw hour used in state and output file names: `2026-11-20T13`."""
    return hour.strftime("%Y-%m-%dT%H")


def hour_dir(hour: datetime) -> str:
    return f"{RAW_EVENTS}/received_date={hour:%Y-%m-%d}/received_hour={hour:%H}"


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode(item: Received) -> bytes:
    """The raw line of one received message (without the newline)."""
    meta: dict[str, Any] = {"received_at": iso_utc(item.received_at), "source": item.source}
    for key in ("ip", "user_agent", "visitor_id"):
        value = getattr(item, key)
        if value:
            meta[key] = value
    if item.format != "auto":
        meta["format"] = item.format
    if isinstance(item.message, str):
        meta["size"] = len(item.message.encode())
        return orjson.dumps({"_cdp": meta, "_raw": item.message})
    body = orjson.dumps(item.message)
    meta["size"] = len(body)
    if body.startswith(b"{") and b'"_cdp"' not in body and b'"_raw"' not in body and len(body) > 2:
        return b'{"_cdp":' + orjson.dumps(meta) + b"," + body[1:]
    message = {k: v for k, v in item.message.items() if k not in _OURS}
    if len(message) != len(item.message):
        meta["size"] = len(orjson.dumps(message))
    return orjson.dumps({"_cdp": meta, **message})


def make_private_dirs(root: Path, rel: str) -> Path:
    """`root/rel`, creating its missing levels 0700; the top one (`raw`) is made 0700 too if an
    older version left it open, which closes everything below it to other users."""
    root.mkdir(parents=True, exist_ok=True)
    path = root
    for part in rel.split("/"):
        path = path / part
        path.mkdir(mode=DIR_MODE, exist_ok=True)
        if path.parent == root and path.stat().st_mode & 0o077:
            os.chmod(path, DIR_MODE)
    return path


@dataclass
class LandingResult:
    messages: int = 0
    files: list[str] = field(default_factory=list)
    hours: set[str] = field(default_factory=set)


class RawWriter:
    """Lands received messages into hourly files per source; each is published when closed.

    Messages may come in any order: one file is kept open per (hour, source), and it is closed and
    published when it reaches `max_file_bytes` (compressed) or when the writer closes.
    """

    def __init__(self, lake: Lake, max_file_bytes: int = 64_000_000) -> None:
        self.lake = lake
        self.max_file_bytes = max_file_bytes
        if lake.is_local:
            make_private_dirs(Path(lake.full("")), RAW_EVENTS)
        self._open: dict[tuple[datetime, str], tuple[str, IO[bytes], gzip.GzipFile, Any]] = {}
        self.result = LandingResult()

    def write(self, item: Received) -> None:
        key = (hour_of(item.received_at), item.source)
        entry = self._open.get(key)
        if entry is None:
            entry = self._start(key)
        _, raw_handle, gz, _ = entry
        gz.write(encode(item) + b"\n")
        self.result.messages += 1
        if raw_handle.tell() >= self.max_file_bytes:
            self._finish(key)

    def write_all(self, items: Iterable[Received]) -> LandingResult:
        for item in items:
            self.write(item)
        return self.close()

    def close(self) -> LandingResult:
        for key in list(self._open):
            self._finish(key)
        return self.result

    def __enter__(self) -> RawWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:  # publish nothing half-done; the temporary files are removed
            for ctx in [entry[3] for entry in self._open.values()]:
                ctx.__exit__(*exc)
            self._open.clear()

    def _start(self, key: tuple[datetime, str]) -> tuple[str, IO[bytes], gzip.GzipFile, Any]:
        hour, source = key
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", source) or "unknown"
        name = f"{safe}-{hour:%Y%m%dT%H}-{uuid.uuid4().hex[:12]}.jsonl.gz"
        rel = posixpath.join(hour_dir(hour), name)
        ctx = self.lake.atomic_writer(rel)
        raw_handle = ctx.__enter__()
        gz = gzip.GzipFile(fileobj=raw_handle, mode="wb", compresslevel=6, mtime=0)
        entry = (rel, raw_handle, gz, ctx)
        self._open[key] = entry
        return entry

    def _finish(self, key: tuple[datetime, str]) -> None:
        rel, _, gz, ctx = self._open.pop(key)
        gz.close()
        ctx.__exit__(None, None, None)
        self.result.files.append(rel)
        self.result.hours.add(hour_key(key[0]))


@dataclass(frozen=True)
class RawFile:
    """One published file of a received hour, as a job reads it."""

    path: str  # lake-relative
    hour: str  # raw hour key, e.g. 2026-11-20T13
    size: int = 0  # compressed bytes, to share work out evenly


@dataclass(frozen=True)
class RawHour:
    """The published files of one received hour and a fingerprint that changes when they do."""

    hour: datetime
    files: tuple[tuple[str, int], ...]  # (lake-relative path, size)

    @property
    def key(self) -> str:
        return hour_key(self.hour)

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.files)

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha1()
        for path, size in self.files:
            digest.update(f"{posixpath.basename(path)}:{size}\n".encode())
        return digest.hexdigest()[:16]


def list_raw_hours(lake: Lake) -> list[RawHour]:
    """Every received hour with published files, oldest first."""
    hours = []
    for day_name in lake.listdir(RAW_EVENTS):
        day = _HOUR_DIR.match(day_name)
        if not day:
            continue
        for hour_name in lake.listdir(f"{RAW_EVENTS}/{day_name}"):
            sub = _HOUR_SUB.match(hour_name)
            if not sub:
                continue
            rel_dir = f"{RAW_EVENTS}/{day_name}/{hour_name}"
            files = tuple(
                (path, size)
                for path, size in lake.walk_files(rel_dir)
                if path.endswith(".jsonl.gz") and not posixpath.basename(path).startswith(".")
            )
            if files:
                moment = datetime.fromisoformat(f"{day.group(1)}T{sub.group(1)}:00:00+00:00")
                hours.append(RawHour(moment, files))
    return hours


def last_closed_hour(now: datetime) -> datetime:
    """The newest hour that has fully ended; later ones may still receive files."""
    return hour_of(now) - timedelta(hours=1)
