"""The compiled fast path of the flatten (cdpflow.engine._fast_flatten, C): it takes the lines
that are plain single Segment messages or Blotout payloads breaking no rule, and gives their
rows as Arrow columns; every other line is left to the flatten statement, which stays the
definition of the flatten.

The module is built when cdpflow is installed (`optional` in pyproject.toml): where it could
not be built, `available` is False and the statement takes every line, as before it existed.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

try:
    from cdpflow.engine import _fast_flatten  # type: ignore[attr-defined]
except ImportError:  # not built on this machine
    _fast_flatten = None

available = _fast_flatten is not None

# The C module's string columns, in its order.
STRING_COLUMNS = (
    "event_id", "event_type", "event_name", "anonymous_id", "user_id", "previous_id",
    "group_id", "session_id", "url", "path", "referrer", "page_title", "utm_source",
    "utm_medium", "utm_campaign", "utm_term", "utm_content", "gclid", "fbclid", "msclkid",
    "ttclid", "email", "phone", "order_id", "currency", "properties", "traits", "user_agent",
    "ip", "source", "map_id", "map_provider", "payload_format",
)  # fmt: skip
TIME_COLUMNS = ("event_time", "received_at", "sent_at")
# Columns the fast path leaves empty: only quarantined rows have them.
NULL_COLUMNS = ("reason_code", "reason", "raw")
_UTC_MICROS = pa.timestamp("us", tz="UTC")


def split(
    lines: pa.Table, max_event_bytes: int, enabled: bool = True
) -> tuple[pa.Table, pa.BooleanArray]:
    """(the rows of the lines the fast path takes, in line order; which lines it took).
    The rows have the statement's columns by name (its types where DuckDB casts on insert)."""
    if _fast_flatten is None or not enabled or not lines.num_rows:
        return _no_rows(), none_taken(lines.num_rows)
    chunks = lines.column("line").chunks
    args = [(_buffer(c.buffers()[2]), _buffer(c.buffers()[1]), len(c), c.offset) for c in chunks]
    taken, strings, others = _fast_flatten.flatten_lines(args, max_event_bytes)
    times, dates, revenue, revenue_valid, line_of_row, item_index = others
    mask = pa.Array.from_buffers(pa.bool_(), lines.num_rows, [None, _bits(taken)])
    rows = len(dates) // 4
    if not rows:
        return _no_rows(), mask
    # One chunk for every column: the rows are then one record batch to DuckDB. A row's raw
    # hour and file are its line's, as indexes into each one's few values (DuckDB copies the
    # text as it inserts the rows; a copy here first was a tenth of the fast path's time).
    line_of = pa.Array.from_buffers(pa.int64(), rows, [None, pa.py_buffer(line_of_row)])
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        "raw_hour": lines.column("raw_hour").combine_chunks().dictionary_encode().take(line_of),
        "raw_file": lines.column("raw_file").combine_chunks().dictionary_encode().take(line_of),
        "line_no": lines.column("line_no").combine_chunks().take(line_of),
        "item_index": pa.Array.from_buffers(pa.int64(), rows, [None, pa.py_buffer(item_index)]),
    }
    for name, (bits, offsets, text) in zip(STRING_COLUMNS, strings, strict=True):
        columns[name] = pa.StringArray.from_buffers(
            rows, pa.py_buffer(offsets), pa.py_buffer(text), pa.py_buffer(bits)
        )
    for name, (bits, values) in zip(TIME_COLUMNS, times, strict=True):
        columns[name] = pa.Array.from_buffers(
            _UTC_MICROS, rows, [pa.py_buffer(bits), pa.py_buffer(values)]
        )
    columns["event_date"] = pa.Array.from_buffers(pa.date32(), rows, [None, pa.py_buffer(dates)])
    columns["revenue"] = pa.Array.from_buffers(
        pa.float64(), rows, [pa.py_buffer(revenue_valid), pa.py_buffer(revenue)]
    )
    for name in NULL_COLUMNS:
        columns[name] = pa.nulls(rows, pa.string())
    return pa.table(columns), mask


def _buffer(buffer: pa.Buffer | None) -> pa.Buffer:
    return buffer if buffer is not None else pa.py_buffer(b"")


def _bits(flags: bytes) -> pa.Buffer:
    """A byte per line (0 or 1) as Arrow's bitmap."""
    return pa.py_buffer(np.packbits(np.frombuffer(flags, dtype=np.uint8), bitorder="little"))


def none_taken(lines: int) -> pa.BooleanArray:
    """`lines` times False, built from a buffer (see cdpflow.lake.raw_reader._repeated_texts)."""
    bits = pa.py_buffer(np.zeros((lines + 7) // 8, dtype=np.uint8))
    return pa.Array.from_buffers(pa.bool_(), lines, [None, bits])


def _no_rows() -> pa.Table:
    return pa.Table.from_batches([], schema=pa.schema([]))
