"""DuckDB SQL that flattens raw landing lines into core_events rows and quarantine rows.

One statement, one parse per JSON document: `json_transform` turns a line into a STRUCT holding
its receive metadata, its envelope and every field a single Segment message needs; batch items,
Blotout events and the small `properties`/`traits`/`additionalData` objects are parsed once more
each, into their own STRUCTs. The parsed lines are materialized once (a filter over a parse would
otherwise repeat the parse); everything after is narrow projections. The field paths come from
the payload specs (Segment's HTTP tracking spec, the Blotout SDK payload); the rules are in
comments.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import partial

from cdpflow.engine import event_columns
from cdpflow.engine import flatten_rules as rules
from cdpflow.engine.duckdb_scan import duckdb_type
from cdpflow.engine.flatten_rules import (
    ARRAY_FIELDS,
    CAMPAIGN_OF_UTM,
    HEAD_PATHS,
    MAX_MS,
    MIN_MS,
    STRING_FIELDS,
    Dialect,
)
from cdpflow.engine.rule_columns import blotout_columns, segment_columns
from cdpflow.events import blotout, quarantine, segment
from cdpflow.events.schema import CORE_EVENTS_COLUMNS

SEGMENT_PATHS = segment.MESSAGE_PATHS
PROPERTY_PATHS = segment.PROPERTY_PATHS
TRAIT_PATHS = segment.TRAIT_PATHS
BLOTOUT_PATHS = blotout.EVENT_PATHS
BLOTOUT_DATA_PATHS = blotout.DATA_PATHS
# Whole objects kept as JSON text; arrays exploded into items; every other field is a string.
# Ids and names that must be JSON strings (STRING_FIELDS) are read as JSON, so a number, a
# boolean, an object or an array is told from its text (`12345` and `"12345"` would be one
# VARCHAR).
_JSON_FIELDS = {"properties", "traits", "additionalData"}
_ARRAY_FIELDS = ARRAY_FIELDS


def _struct_type(*paths: Iterable[str]) -> str:
    """The STRUCT type, as `json_transform` takes it, that holds every path in one parse."""

    def kind(leaf: str) -> str:
        if leaf in _ARRAY_FIELDS:
            return "JSON[]"
        return "JSON" if leaf in _JSON_FIELDS or leaf in STRING_FIELDS else "VARCHAR"

    tree = rules.path_tree((p for group in paths for p in group), kind)
    return "'" + json.dumps(tree, separators=(",", ":")) + "'"


# A single message's fields out of its line's STRUCT, shaped as a batch item's.
_SEGMENT_OF_LINE = ", ".join(
    f"'{key}': r['{key}']" for key in dict.fromkeys(p.split(".")[0] for p in SEGMENT_PATHS.values())
)
LINE_STRUCT = _struct_type(HEAD_PATHS.values(), SEGMENT_PATHS.values(), _ARRAY_FIELDS)
SEGMENT_STRUCT = _struct_type(SEGMENT_PATHS.values())
PROPERTY_STRUCT = _struct_type(PROPERTY_PATHS.values())
TRAIT_STRUCT = _struct_type(TRAIT_PATHS.values())
BLOTOUT_STRUCT = _struct_type(BLOTOUT_PATHS.values())
BLOTOUT_DATA_STRUCT = _struct_type(BLOTOUT_DATA_PATHS.values())


def _fields(alias: str, paths: dict[str, str], prefix: str = "") -> str:
    """Name the struct members by their JSON path; empty strings become NULL."""
    out = []
    for name, path in paths.items():
        access = alias + "".join(f"['{key}']" for key in path.split("."))
        if path.split(".")[-1] in STRING_FIELDS:
            # the JSON text of a string field, and the string (unescaped only when it must be)
            text = f"CAST({access} AS VARCHAR)"
            unquoted = f"CASE WHEN contains({text}, '\\') THEN {access}->>'$' ELSE {text}[2:-2] END"
            out.append(f"{text} AS {prefix}{name}_json")
            out.append(
                f"CASE WHEN starts_with({text}, '\"') THEN nullif({unquoted}, '') END "
                f"AS {prefix}{name}"
            )
            continue
        out.append(f"nullif(CAST({access} AS VARCHAR), '') AS {prefix}{name}")
    return ",\n    ".join(out)


def _first(*values: str) -> str:
    """`coalesce` that evaluates a value only where those before it are NULL (DuckDB's
    `coalesce` evaluates every argument, so a regex fallback would run on every row)."""
    *tried, last = values
    whens = " ".join(f"WHEN {v} IS NOT NULL THEN {v}" for v in tried)
    return f"CASE {whens} ELSE {last} END"


def _without_write_keys(text: str, paths: Sequence[str] = ("$.writeKey",)) -> str:
    """JSON `text` without the `writeKey` members at `paths`: a client may put its write key in
    a batch item, a Blotout event or their properties, and an older collector kept it there.
    Only text that holds one is parsed again; text that is not JSON is kept as it is."""
    removed = text
    for path in paths:
        removed = f"json_remove({removed}, '{path}')"
    removed = f"try(CAST({removed} AS VARCHAR))"
    has_key = f"contains({text}, '\"writeKey\"')"
    return f"CASE WHEN {has_key} THEN coalesce({removed}, {text}) ELSE {text} END"


# Where a write key may sit in what quarantine keeps of a line or an item.
_WRITE_KEY_PATHS = tuple("$." + ".".join(path) for path in rules.WRITE_KEY_PATHS)


def _year_start(year: int) -> str:
    return f"TIMESTAMPTZ '{year}-01-01 00:00:00+00'"


DUCKDB = Dialect(
    literal=lambda text: "'" + text.replace("'", "''") + "'",
    concat=" || ".join,
    timestamp_type="TIMESTAMPTZ",
    year_start=_year_start,
    first=_first,
    timestamp_text=lambda ts: f"{ts}::VARCHAR",
    member=lambda alias, key: f"{alias}['{key}']",
    from_epoch_ms=lambda ms: f"to_timestamp({ms} / 1000)",
    null=lambda kind: "NULL",
    without_write_keys=_without_write_keys,
    starts_with="starts_with",
    url_decode="url_decode",
    json_type="lower(item_type)",
    size_text="event_bytes",
    object_prefix="{",
)
# Columns of one item (an event, or a line that is none) shared by every branch.
_ITEM_KEYS = ", ".join(rules.ITEM_KEYS)
_time = partial(rules.time, DUCKDB)
_query_of = partial(rules.query_of, DUCKDB)


def _raw_params(query: str, unless: dict[str, str]) -> str:
    return ", ".join(rules.raw_params(DUCKDB, query, unless))


def _lines(rows: event_columns.Rows) -> str:
    """Columns in the statement's layout: a row of them a line."""
    return ",\n    ".join(", ".join(row) for row in rows)


_SEGMENT_COLUMNS = segment_columns(corrected_text=DUCKDB.timestamp_text("skewed_ts"))
_BLOTOUT_COLUMNS = blotout_columns()


def _segment_events(items: str, max_event_bytes: int) -> str:
    """Segment messages of `items` (item columns, the message STRUCT `m`, its text `item`,
    `item_type` and `event_bytes`) as event rows."""
    broken, code, text = rules.checks(
        DUCKDB, quarantine.SEGMENT_RULES, _SEGMENT_COLUMNS, max_event_bytes
    )
    return f"""
SELECT {_lines(event_columns.segment_rows(DUCKDB, code, text))}
FROM (
  SELECT *, {broken} AS broken_rule, {_raw_params("query_", CAMPAIGN_OF_UTM)}
  FROM (
    SELECT *, {_first("s_page_search", "s_prop_search", _query_of("url_"))} AS query_,
      -- Segment's skew correction: the client clock's error is (sentAt - timestamp) measured
      -- against the server's receivedAt (every time here is finite and in range).
      CASE WHEN sent_ts IS NOT NULL AND received_ts IS NOT NULL
           THEN received_ts - (sent_ts - client_ts) ELSE client_ts END AS skewed_ts
    FROM (
      SELECT * EXCLUDE (p, tr), {_fields("p", PROPERTY_PATHS, "s_")},
        {_fields("tr", TRAIT_PATHS, "s_")},
        coalesce(s_page_url, nullif(p['url'], '')) AS url_,
        {_time("coalesce(s_original_timestamp, s_timestamp)")} AS client_ts,
        {_time("coalesce(s_sent_at, envelope_sent_at)")} AS sent_ts,
        lower(s_type) AS type_
      FROM (
        SELECT * EXCLUDE (m), {_fields("m", SEGMENT_PATHS, "s_")},
          json_transform(m['properties'], {PROPERTY_STRUCT}) AS p,
          json_transform(m['traits'], {TRAIT_STRUCT}) AS tr
        FROM {items}
      )
    )
  )
)"""


def _blotout_events(items: str, max_event_bytes: int) -> str:
    """Blotout events of `items` (item columns, the event STRUCT `b`, its text `item`,
    `item_type`, and the envelope's meta) as event rows."""
    broken, code, text = rules.checks(
        DUCKDB, quarantine.BLOTOUT_RULES, _BLOTOUT_COLUMNS, max_event_bytes
    )
    return f"""
SELECT {_lines(event_columns.blotout_rows(DUCKDB, code, text))}
FROM (
  SELECT *, {broken} AS broken_rule, {_raw_params("query_", {})}
  FROM (
    SELECT *, {_first("bo_search", _query_of("b_scrn"))} AS query_,
      CASE WHEN try_cast(b_evt AS DOUBLE) BETWEEN {MIN_MS} AND {MAX_MS}
           THEN try_cast(b_evt AS DOUBLE) END AS evt_ms
    FROM (
      SELECT * EXCLUDE (d), {_fields("d", BLOTOUT_DATA_PATHS, "b_")}
      FROM (
        SELECT * EXCLUDE (b), {_fields("b", BLOTOUT_PATHS, "b_")},
          json_transform(b['additionalData'], {BLOTOUT_DATA_STRUCT}) AS d
        FROM {items}
      )
    )
  )
)"""


_BLOTOUT_ENVELOPE = "visitor_id, bo_user_agent, bo_referrer, bo_page_title, bo_search"


def _exploded(kind: str, array: str, envelope: str, struct: str, alias: str) -> str:
    """One row per item of the `array` of `kind` lines: its text, its JSON type, and its fields
    parsed into `alias`; the line's receive metadata and `envelope` columns carried along."""
    return f"""
SELECT * EXCLUDE (item_list),
  CASE WHEN starts_with(item, '{{') THEN 'OBJECT' ELSE json_type(item) END AS item_type,
  try(json_transform(item, {struct})) AS {alias}
FROM (
  SELECT *, unnest(item_list)::VARCHAR AS item,
    generate_subscripts(item_list, 1)::BIGINT AS item_index
  FROM (
    SELECT raw_hour, raw_file, line_no, source, received_ts, received_text, meta_user_agent,
      meta_ip,
      {envelope}, r['{array}'] AS item_list
    FROM parsed WHERE kind = '{kind}'
  )
)"""


# An event's size is cdpflow.events.size's rule (orjson's JSON plus the stored User-Agent),
# the collector's: a Python function the engine registers under this name. DuckDB's JSON text
# of an item is never shorter than orjson's (both are compact and leave non-ASCII unescaped;
# DuckDB spells some numbers longer), so only items whose text is over the limit are measured.
EVENT_BYTES_FUNCTION = "cdp_event_bytes"
_UA_BYTES = "coalesce(strlen(meta_user_agent), 0)"


def _item_bytes(max_event_bytes: int) -> str:
    return (
        f"CASE WHEN strlen(item) + {_UA_BYTES} > {max_event_bytes} "
        f"THEN {EVENT_BYTES_FUNCTION}(item, meta_user_agent) ELSE strlen(item) + {_UA_BYTES} END"
    )


_LINE_KIND = rules.line_kind(DUCKDB, """coalesce(CAST(r['messageId'] AS VARCHAR), '""') <> '""'""")
_LINE_CODE, _LINE_REASON = rules.line_reason(DUCKDB, "json_valid(line)")


# The columns of `flatten_sql`'s rows, in its order (a worker makes its tables with them
# without planning the statement; a test checks them against the statement's).
FLATTEN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("raw_hour", "VARCHAR"),
    ("raw_file", "VARCHAR"),
    ("line_no", "BIGINT"),
    ("item_index", "BIGINT"),
    ("reason_code", "VARCHAR"),
    ("reason", "VARCHAR"),
    ("raw", "VARCHAR"),
    *(
        (name, "VARCHAR" if kind == "json" else duckdb_type(kind))
        for name, kind in CORE_EVENTS_COLUMNS
    ),
)


def flatten_sql(lines: str, max_event_bytes: int) -> str:
    """A SELECT over `lines` (raw_hour, raw_file, line_no, line) returning one row per event.

    Rows carry `reason_code`: NULL for a good event (its core_events columns filled), or why it
    goes to quarantine (with `reason` and `raw`).
    """
    core_columns = ",\n  ".join(
        "CAST(event_time AS DATE) AS event_date"
        if name == "event_date"
        else f"CAST({name} AS {'VARCHAR' if kind == 'json' else duckdb_type(kind)}) AS {name}"
        for name, kind in CORE_EVENTS_COLUMNS
    )
    return f"""
WITH parsed AS MATERIALIZED (
  -- An exploded line's text is not needed again (its items carry their own), so it is not kept.
  SELECT * REPLACE (CASE WHEN kind IN ('segment_batch', 'blotout') THEN NULL ELSE line END AS line)
  FROM (
    SELECT *,
      -- The collector records which endpoint a line came to (`_cdp.format`), so a message
      -- with a top-level `batch` or `events` key of its own stays one message; lines without
      -- it (older raw files) are told apart by their keys.
      {_LINE_KIND} AS kind,
      received_at AS received_text, {_time("received_at")} AS received_ts
    FROM (
      SELECT raw_hour, raw_file, line_no, line, r,
        r IS NOT NULL AND looks_like_object AS is_json,
        {_fields("r", HEAD_PATHS)}
      FROM (
        SELECT raw_hour, raw_file, line_no, line,
          -- CASE, not OR: DuckDB evaluates both sides of an OR on every row, and a trim
          -- reads the whole line (a seventh of the statement's CPU for the filter below).
          CASE WHEN starts_with(line, '{{') THEN true
               ELSE starts_with(ltrim(line), '{{') END AS looks_like_object,
          try(json_transform(line, {LINE_STRUCT})) AS r
        FROM {lines}
        WHERE CASE WHEN strlen(line) > 2 THEN true ELSE trim(line, ' \t\r\n') <> '' END
      )
    )
  )
),
-- A single message is its own item: its fields come from the line's STRUCT (no second parse).
single_messages AS (
  SELECT {_ITEM_KEYS.replace("item_index", "0::BIGINT AS item_index")}, meta_user_agent,
    meta_ip, envelope_sent_at, line AS item, 'OBJECT' AS item_type,
    CASE WHEN try_cast(size AS BIGINT) IS NOT NULL THEN try_cast(size AS BIGINT) + {_UA_BYTES}
         ELSE {EVENT_BYTES_FUNCTION}(line, meta_user_agent) END AS event_bytes,
    {{{_SEGMENT_OF_LINE}}} AS m
  FROM parsed WHERE kind = 'segment'
),
batch_items AS (
  SELECT *, {_item_bytes(max_event_bytes)} AS event_bytes
  FROM ({_exploded("segment_batch", "batch", "envelope_sent_at", SEGMENT_STRUCT, "m")})
),
segment_items AS (
  SELECT * FROM single_messages UNION ALL BY NAME SELECT * FROM batch_items
),
blotout_items AS (
  SELECT *, {_item_bytes(max_event_bytes)} AS event_bytes
  FROM ({_exploded("blotout", "events", _BLOTOUT_ENVELOPE, BLOTOUT_STRUCT, "b")})
),
unreadable AS (
  SELECT {_ITEM_KEYS.replace("item_index", "0::BIGINT AS item_index")},
    rtrim(coalesce(landed_text, line), chr(10) || chr(13)) AS raw,
    {_LINE_CODE} AS reason_code,
    {_LINE_REASON} AS reason,
    received_ts AS received_at
  FROM parsed WHERE kind IN ('invalid', 'unknown')
),
all_events AS (
  {_segment_events("segment_items", max_event_bytes)}
  UNION ALL BY NAME {_blotout_events("blotout_items", max_event_bytes)}
  UNION ALL BY NAME SELECT * FROM unreadable
)
SELECT raw_hour, raw_file, line_no, item_index, reason_code, reason,
  CASE WHEN reason_code IS NOT NULL
    THEN {_without_write_keys("rtrim(raw, chr(10) || chr(13))", _WRITE_KEY_PATHS)} END AS raw,
  {core_columns}
FROM all_events
"""


CORE_SELECT = ", ".join(
    f"CAST({name} AS JSON) AS {name}" if kind == "json" else name
    for name, kind in CORE_EVENTS_COLUMNS
)
