"""What a killed collector left in the raw zone, made whole: the complete gzip members of each
file it had open are published, a torn member at the end is dropped.

Its own module because it reads files no running writer owns (any collector's, found by name
and flock) and runs before the writer starts, or on one file after a failed write; it needs
none of the writer's state. A dropped tail was never acknowledged: the writer answers a
request only after the members holding its lines are fsync'd.
"""

from __future__ import annotations

import fcntl
import logging
import os
import zlib
from pathlib import Path

from cdpflow.lake.raw import RAW_EVENTS
from cdpflow.lake.storage import fsync_dir

log = logging.getLogger(__name__)

OPEN_SUFFIX = ".landing"  # an open file's hidden name ends so; readers and cleanup skip it
PROBE_PREFIX = ".probe-"  # the health probe's scratch file, never data


def recover(lake_root: str | Path) -> list[Path]:
    """Publish the complete gzip members of files left open by a killed collector.

    A file another live collector holds (its flock) is left alone. A torn member at the end
    (a write cut short) is truncated away: it was never acknowledged. Returns the published paths.
    """
    published = []
    raw = Path(lake_root) / RAW_EVENTS
    for probe in raw.glob(f"{PROBE_PREFIX}*"):  # a collector killed while probing the disk
        probe.unlink(missing_ok=True)
    for tmp in sorted(raw.glob(f"received_date=*/received_hour=*/.*{OPEN_SUFFIX}")):
        final = recover_file(tmp)
        if final is not None:
            published.append(final)
    if published:
        log.warning("recovered %d raw file(s) a stopped collector left open", len(published))
    return published


def recover_file(tmp: Path) -> Path | None:
    """Publish one left-open file's complete members; None when it is held, gone or empty."""
    try:
        fd = os.open(tmp, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # a running collector's open file
        good = complete_members_length(tmp)
        if good == 0:
            os.unlink(tmp)
            return None
        if good < os.fstat(fd).st_size:
            log.warning("%s: dropping a torn tail after byte %d", tmp, good)
            os.ftruncate(fd, good)
        os.fsync(fd)
        final = tmp.with_name(tmp.name[1 : -len(OPEN_SUFFIX)])
        os.rename(tmp, final)
        fsync_dir(final.parent)
        return final
    finally:
        os.close(fd)


def complete_members_length(path: Path, block: int = 1 << 16) -> int:
    """Bytes at the start of `path` made of complete gzip members that decode and end a line."""
    good = 0
    with open(path, "rb") as handle:
        data = handle.read()
    view = memoryview(data)
    position = 0
    while position < len(data):
        decoder = zlib.decompressobj(wbits=31)
        last = b""
        while position < len(data) and not decoder.eof:
            piece = view[position : position + block]
            try:
                out = decoder.decompress(piece)
            except zlib.error:
                return good
            if out:
                last = out[-1:]
            position += len(piece) - len(decoder.unused_data)
        if not decoder.eof or last != b"\n":
            return good
        good = position
    return good
