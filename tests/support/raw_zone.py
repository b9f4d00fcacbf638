"""Raw-zone files as the collector writes them (gzip members of JSON lines), built or read by
hand in tests of landing and recovery."""

from __future__ import annotations

import gzip
import zlib

from cdpflow.lake.raw import list_raw_hours
from cdpflow.lake.storage import Lake


def landed_lines(lake: Lake) -> list[bytes]:
    """Every line of the raw zone's published files, hour by hour."""
    out = []
    for hour in list_raw_hours(lake):
        for path, _ in hour.files:
            out.extend(gzip.decompress(lake.read_bytes(path)).splitlines())
    return out


def gzip_member(*lines: bytes) -> bytes:
    """One complete gzip member holding the lines, as one commit of the landing writer."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    return packer.compress(b"".join(line + b"\n" for line in lines)) + packer.flush()
