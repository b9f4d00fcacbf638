"""DuckDB SQL that flattens raw landing lines into core_events rows and quarantine rows.

Each JSON document is parsed as few times as possible: one `json_extract_string` with a list of
paths parses a document once and returns every field. The field paths come from the payload
specs (Segment's HTTP tracking spec, the Blotout SDK payload); the rules are in comments.
"""

from __future__ import annotations

import json
from typing import Any

from cdpflow.events.schema import CORE_EVENTS_COLUMNS, QUARANTINE_COLUMNS, SEGMENT_TYPES

# Receive metadata and envelope fields, read once per line.
HEAD_PATHS = {
    "received_at": "$._cdp.received_at",
    "source": "$._cdp.source",
    "forced_format": "$._cdp.format",
    "meta_ip": "$._cdp.ip",
    "meta_user_agent": "$._cdp.user_agent",
    "visitor_id": "$._cdp.visitor_id",
    "size": "$._cdp.size",
    "landed_text": "$._raw",
    "envelope_sent_at": "$.sentAt",
    "bo_user_agent": "$.meta.user_agent",
    "bo_referrer": "$.meta.referrer",
    "bo_page_title": "$.meta.page_title",
    "bo_search": "$.meta.search",
}

SEGMENT_PATHS = {
    "type": "$.type",
    "message_id": "$.messageId",
    "anonymous_id": "$.anonymousId",
    "user_id": "$.userId",
    "previous_id": "$.previousId",
    "group_id": "$.groupId",
    "event": "$.event",
    "name": "$.name",
    "timestamp": "$.timestamp",
    "original_timestamp": "$.originalTimestamp",
    "sent_at": "$.sentAt",
    "session_id": "$.context.sessionId",
    "page_url": "$.context.page.url",
    "page_path": "$.context.page.path",
    "page_referrer": "$.context.page.referrer",
    "page_title": "$.context.page.title",
    "page_search": "$.context.page.search",
    "campaign_source": "$.context.campaign.source",
    "campaign_medium": "$.context.campaign.medium",
    "campaign_name": "$.context.campaign.name",
    "campaign_term": "$.context.campaign.term",
    "campaign_content": "$.context.campaign.content",
    "context_traits_email": "$.context.traits.email",
    "context_traits_phone": "$.context.traits.phone",
    "context_user_agent": "$.context.userAgent",
    "context_ip": "$.context.ip",
    "properties": "$.properties",
    "traits": "$.traits",
}
# Read from the `properties` and `traits` objects once they are split off the message.
PROPERTY_PATHS = {
    "prop_url": "$.url",
    "prop_path": "$.path",
    "prop_referrer": "$.referrer",
    "prop_title": "$.title",
    "prop_search": "$.search",
    "prop_name": "$.name",
    "prop_email": "$.email",
    "prop_order_id": "$.order_id",
    "prop_order_id_camel": "$.orderId",
    "prop_transaction_id": "$.transaction_id",
    "prop_revenue": "$.revenue",
    "prop_total": "$.total",
    "prop_value": "$.value",
    "prop_currency": "$.currency",
}
TRAIT_PATHS = {"traits_email": "$.email", "traits_phone": "$.phone"}
# Whole objects kept as JSON text; every other field is read as a string.
_JSON_FIELDS = {"$.properties", "$.traits"}
_ARRAY_FIELDS = {"batch_items": "$.batch", "event_items": "$.events"}

BLOTOUT_PATHS = {
    "mid": "$.mid",
    "evn": "$.evn",
    "evt": "$.evt",
    "scrn": "$.scrn",
    "session_id": "$.session_id",
    "userid": "$.userid",
    "data": "$.additionalData",
    "data_path": "$.additionalData.path",
    "transaction_id": "$.additionalData.transaction_id",
    "transaction_total": "$.additionalData.transaction_total",
    "transaction_currency": "$.additionalData.transaction_currency",
    "persona_id": "$.additionalData.persona_id",
    "persona_email": "$.additionalData.persona_email",
    "persona_number": "$.additionalData.persona_number",
    "map_id": "$.additionalData.map_id",
    "map_provider": "$.additionalData.map_provider",
}


def _line_struct() -> str:
    """The STRUCT type `json_transform` parses a whole raw line into, in one pass."""
    tree: dict[str, Any] = {}
    typed = [(p, "VARCHAR") for p in HEAD_PATHS.values()]
    typed += [(p, "JSON" if p in _JSON_FIELDS else "VARCHAR") for p in SEGMENT_PATHS.values()]
    typed += [(p, "JSON[]") for p in _ARRAY_FIELDS.values()]
    for path, kind in typed:
        *parents, leaf = path.removeprefix("$.").split(".")
        node = tree
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = kind
    return json.dumps(tree, separators=(",", ":"))


def _struct_fields(alias: str, paths: dict[str, str], prefix: str = "") -> str:
    """Name struct members by their JSON path; empty strings become NULL."""
    out = []
    for name, path in paths.items():
        access = alias + "".join(f"['{key}']" for key in path.removeprefix("$.").split("."))
        out.append(f"nullif(CAST({access} AS VARCHAR), '') AS {prefix}{name}")
    return ",\n    ".join(out)


def _extract_expr(doc: str, paths: dict[str, str]) -> str:
    """`json_extract_string(doc, [...])`: every path in one parse."""
    listed = ", ".join(f"'{p}'" for p in paths.values())
    return f"json_extract_string({doc}, [{listed}])"


def _extract(doc: str, alias: str, paths: dict[str, str]) -> str:
    return f"{_extract_expr(doc, paths)} AS {alias}"


def _fields(alias: str, paths: dict[str, str], prefix: str = "") -> str:
    """Name the list elements: `alias[1] AS prefix_name, ...`; empty strings become NULL."""
    return ",\n    ".join(
        f"nullif({alias}[{i}], '') AS {prefix}{name}" for i, name in enumerate(paths, 1)
    )


def _param(query: str, name: str) -> str:
    """One URL query-string parameter, decoded ('+' is a space in query strings).

    The `contains` guard is a cheap scan that spares the regex on the many URLs without it.
    """
    return (
        f"CASE WHEN contains({query}, '{name}=') THEN "
        f"nullif(url_decode(replace(regexp_extract({query}, '(?:^|[?&#]){name}=([^&#]*)', 1), "
        f"'+', ' ')), '') END"
    )


def _url_path(url: str) -> str:
    return f"nullif(regexp_extract({url}, '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*([^?#]*)', 1), '')"


def _query_of(url: str) -> str:
    return f"nullif(regexp_extract({url}, '\\?([^#]*)', 1), '')"


def _is_object(text: str) -> str:
    return f"({text} IS NULL OR starts_with({text}, '{{'))"


# Blotout's evt is epoch milliseconds; outside 2000-2100 it is a unit mistake or garbage.
_MIN_MS, _MAX_MS = 946_684_800_000, 4_102_444_800_000
_SEGMENT_TYPE_LIST = ", ".join(f"'{t}'" for t in SEGMENT_TYPES)


def flatten_sql(lines: str, max_event_bytes: int) -> list[str]:
    """Statements over `lines` (raw_hour, raw_file, line_no, line); the last returns one row
    per event.

    Rows carry `reason_code`: NULL for a good event (its core_events columns filled), or why it
    goes to quarantine (with `reason` and `raw`).
    """
    core_columns = ",\n    ".join(
        "CAST(event_time AS DATE) AS event_date"
        if name == "event_date"
        else f"CAST({name} AS {'VARCHAR' if kind == 'JSON' else kind}) AS {name}"
        for name, kind in CORE_EVENTS_COLUMNS
    )
    # Each statement is materialized: DuckDB would otherwise inline a JSON parse or a regex
    # into every expression and filter that reads its result, and repeat it.
    # A line is parsed once, into a STRUCT holding the receive metadata, the envelope, and every
    # field a single Segment message needs; only batch items and Blotout events parse again.
    segment_columns = [f"s_{name}" for name in SEGMENT_PATHS]
    classify = f"""
CREATE OR REPLACE TEMP TABLE _classified AS
WITH parsed AS (
  SELECT raw_hour, raw_file, line_no, line,
    (starts_with(line, '{{') OR starts_with(ltrim(line), '{{')) AS looks_like_object,
    try(json_transform(line, '{_line_struct()}')) AS r
  FROM {lines}
  WHERE strlen(line) > 2 OR trim(line, ' \t\r\n') <> ''
),
fields AS (
  SELECT raw_hour, raw_file, line_no, line,
    r IS NOT NULL AND looks_like_object AS is_json,
    {_struct_fields("r", HEAD_PATHS)},
    {_struct_fields("r", SEGMENT_PATHS, "s_")},
    r['batch'] AS batch_items,
    r['events'] AS event_items
  FROM parsed
)
SELECT *,
  CASE
    WHEN NOT is_json OR landed_text IS NOT NULL THEN 'invalid'
    WHEN forced_format = 'blotout' OR (forced_format IS NULL AND event_items IS NOT NULL)
      THEN CASE WHEN event_items IS NOT NULL THEN 'blotout' ELSE 'unknown' END
    WHEN batch_items IS NOT NULL THEN 'segment_batch'
    WHEN forced_format = 'segment' OR s_type IS NOT NULL OR s_message_id IS NOT NULL
      THEN 'segment'
    ELSE 'unknown'
  END AS kind,
  try_cast(received_at AS TIMESTAMPTZ) AS received_ts
FROM fields
"""
    # One row per event: single Segment messages are their own item (no re-serialisation);
    # batch envelopes and Blotout payloads are exploded into their items.
    explode = """
CREATE OR REPLACE TEMP TABLE _items AS
  SELECT c.* EXCLUDE (line, batch_items, event_items), line AS item, 0::BIGINT AS item_index
  FROM _classified c WHERE kind IN ('segment', 'invalid', 'unknown')
  UNION ALL
  SELECT c.* EXCLUDE (line, arr), unnest(arr)::VARCHAR AS item,
         generate_subscripts(arr, 1)::BIGINT AS item_index
  FROM (
    SELECT * EXCLUDE (batch_items, event_items),
      CASE kind WHEN 'segment_batch' THEN batch_items ELSE event_items END AS arr
    FROM _classified WHERE kind IN ('segment_batch', 'blotout')
  ) c
"""
    segment = f"""
CREATE OR REPLACE TEMP TABLE _seg AS
WITH batch_raw AS (
  SELECT * EXCLUDE ({", ".join(segment_columns)}), {_extract("item", "s", SEGMENT_PATHS)}
  FROM _items WHERE kind = 'segment_batch'
),
messages AS (
  SELECT *, 'OBJECT' AS item_type FROM _items WHERE kind = 'segment'
  UNION ALL BY NAME
  SELECT * EXCLUDE (s), {_fields("s", SEGMENT_PATHS, "s_")},
    CASE WHEN starts_with(item, '{{') THEN 'OBJECT' ELSE json_type(item) END AS item_type
  FROM batch_raw
),
with_objects AS (
  SELECT *, {_extract("s_properties", "p", PROPERTY_PATHS)},
    {_extract("s_traits", "tr", TRAIT_PATHS)}
  FROM messages
),
seg AS (
  SELECT * EXCLUDE (p, tr), {_fields("p", PROPERTY_PATHS, "s_")},
    {_fields("tr", TRAIT_PATHS, "s_")}
  FROM with_objects
),
seg2 AS (
  SELECT *,
    coalesce(s_page_url, s_prop_url) AS url_,
    try_cast(coalesce(s_original_timestamp, s_timestamp) AS TIMESTAMPTZ) AS client_ts,
    try_cast(coalesce(s_sent_at, envelope_sent_at) AS TIMESTAMPTZ) AS sent_ts,
    lower(s_type) AS type_
  FROM seg
)
SELECT *, coalesce(s_page_search, s_prop_search, {_query_of("url_")}) AS query_
FROM seg2
"""
    blotout = f"""
CREATE OR REPLACE TEMP TABLE _bo AS
WITH bo_raw AS (
  SELECT *, {_extract("item", "b", BLOTOUT_PATHS)},
         CASE WHEN starts_with(item, '{{') THEN 'OBJECT' ELSE json_type(item) END AS item_type
  FROM _items WHERE kind = 'blotout'
)
SELECT * EXCLUDE (b), {_fields("b", BLOTOUT_PATHS, "b_")},
    coalesce(bo_search, {_query_of("nullif(b[4], '')")}) AS query_
FROM bo_raw
"""
    flatten = f"""
WITH segment_events AS (
  SELECT raw_hour, raw_file, line_no, item_index, source, received_ts,
    item AS raw,
    CASE
      WHEN item_type <> 'OBJECT' THEN 'not_an_object'
      WHEN coalesce(CASE WHEN item_index = 0 THEN try_cast(size AS BIGINT) END,
                    strlen(item)) > {max_event_bytes} THEN 'too_large'
      WHEN s_message_id IS NULL THEN 'missing_id'
      WHEN starts_with(s_message_id, '{{') OR starts_with(s_message_id, '[') THEN 'wrong_type'
      WHEN type_ IS NULL THEN 'missing_field'
      WHEN type_ NOT IN ({_SEGMENT_TYPE_LIST}) THEN 'wrong_type'
      WHEN coalesce(s_original_timestamp, s_timestamp) IS NULL THEN 'missing_timestamp'
      WHEN client_ts IS NULL THEN 'invalid_timestamp'
      WHEN s_anonymous_id IS NULL AND s_user_id IS NULL THEN 'missing_field'
      WHEN type_ = 'track' AND s_event IS NULL THEN 'missing_field'
      WHEN type_ = 'alias' AND s_previous_id IS NULL THEN 'missing_field'
      WHEN NOT {_is_object("s_properties")} OR NOT {_is_object("s_traits")} THEN 'wrong_type'
      WHEN coalesce(s_prop_revenue, s_prop_total) IS NOT NULL
        AND try_cast(coalesce(s_prop_revenue, s_prop_total) AS DOUBLE) IS NULL THEN 'wrong_type'
    END AS reason_code,
    CASE
      WHEN item_type <> 'OBJECT' THEN 'batch item is a JSON ' || lower(item_type)
      WHEN coalesce(CASE WHEN item_index = 0 THEN try_cast(size AS BIGINT) END,
                    strlen(item)) > {max_event_bytes}
        THEN 'event is ' || coalesce(CASE WHEN item_index = 0 THEN try_cast(size AS BIGINT) END,
                    strlen(item)) || ' bytes; the limit is {max_event_bytes}'
      WHEN s_message_id IS NULL THEN 'messageId is missing'
      WHEN starts_with(s_message_id, '{{') OR starts_with(s_message_id, '[')
        THEN 'messageId must be a string'
      WHEN type_ IS NULL THEN 'type is missing'
      WHEN type_ NOT IN ({_SEGMENT_TYPE_LIST})
        THEN 'type `' || s_type || '` is not one of {", ".join(SEGMENT_TYPES)}'
      WHEN coalesce(s_original_timestamp, s_timestamp) IS NULL THEN 'timestamp is missing'
      WHEN client_ts IS NULL
        THEN 'timestamp `' || left(coalesce(s_original_timestamp, s_timestamp), 64)
             || '` is not an ISO-8601 date-time'
      WHEN s_anonymous_id IS NULL AND s_user_id IS NULL
        THEN 'anonymousId and userId are both missing'
      WHEN type_ = 'track' AND s_event IS NULL THEN 'track call without `event`'
      WHEN type_ = 'alias' AND s_previous_id IS NULL THEN 'alias call without `previousId`'
      WHEN NOT {_is_object("s_properties")} THEN 'properties must be an object'
      WHEN NOT {_is_object("s_traits")} THEN 'traits must be an object'
      WHEN coalesce(s_prop_revenue, s_prop_total) IS NOT NULL
        AND try_cast(coalesce(s_prop_revenue, s_prop_total) AS DOUBLE) IS NULL
        THEN 'properties.revenue `' || left(coalesce(s_prop_revenue, s_prop_total), 64)
             || '` is not a number'
    END AS reason,
    s_message_id AS event_id,
    type_ AS event_type,
    CASE type_ WHEN 'track' THEN s_event
               WHEN 'page' THEN coalesce(s_name, s_prop_name, 'page')
               WHEN 'screen' THEN coalesce(s_name, s_prop_name, 'screen')
               ELSE type_ END AS event_name,
    -- Segment's skew correction: the client clock's error is (sentAt - timestamp) measured
    -- against the server's receivedAt.
    CASE WHEN sent_ts IS NOT NULL AND received_ts IS NOT NULL
         THEN received_ts - (sent_ts - client_ts) ELSE client_ts END AS event_time,
    received_ts AS received_at,
    sent_ts AS sent_at,
    s_anonymous_id AS anonymous_id,
    s_user_id AS user_id,
    s_previous_id AS previous_id,
    s_group_id AS group_id,
    s_session_id AS session_id,
    url_ AS url,
    coalesce(s_page_path, s_prop_path, {_url_path("url_")}) AS path,
    coalesce(s_page_referrer, s_prop_referrer) AS referrer,
    coalesce(s_page_title, s_prop_title) AS page_title,
    coalesce(s_campaign_source, {_param("query_", "utm_source")}) AS utm_source,
    coalesce(s_campaign_medium, {_param("query_", "utm_medium")}) AS utm_medium,
    coalesce(s_campaign_name, {_param("query_", "utm_campaign")}) AS utm_campaign,
    coalesce(s_campaign_term, {_param("query_", "utm_term")}) AS utm_term,
    coalesce(s_campaign_content, {_param("query_", "utm_content")}) AS utm_content,
    {_param("query_", "gclid")} AS gclid,
    {_param("query_", "fbclid")} AS fbclid,
    {_param("query_", "msclkid")} AS msclkid,
    {_param("query_", "ttclid")} AS ttclid,
    nullif(lower(trim(coalesce(s_traits_email, s_context_traits_email, s_prop_email))), '')
      AS email,
    nullif(trim(coalesce(s_traits_phone, s_context_traits_phone)), '') AS phone,
    NULL AS map_id,
    NULL AS map_provider,
    coalesce(s_prop_order_id, s_prop_order_id_camel, s_prop_transaction_id) AS order_id,
    try_cast(coalesce(s_prop_revenue, s_prop_total, s_prop_value) AS DOUBLE) AS revenue,
    upper(s_prop_currency) AS currency,
    s_properties AS properties,
    s_traits AS traits,
    coalesce(s_context_user_agent, meta_user_agent) AS user_agent,
    coalesce(s_context_ip, meta_ip) AS ip,
    'segment' AS payload_format
  FROM _seg
),
blotout_events AS (
  SELECT raw_hour, raw_file, line_no, item_index, source, received_ts,
    item AS raw,
    CASE
      WHEN item_type <> 'OBJECT' THEN 'not_an_object'
      WHEN strlen(item) > {max_event_bytes} THEN 'too_large'
      WHEN b_mid IS NULL THEN 'missing_id'
      WHEN b_evn IS NULL THEN 'missing_field'
      WHEN b_evt IS NULL THEN 'missing_timestamp'
      WHEN NOT coalesce(try_cast(b_evt AS DOUBLE) BETWEEN {_MIN_MS} AND {_MAX_MS}, false)
        THEN 'invalid_timestamp'
      WHEN coalesce(b_userid, visitor_id) IS NULL THEN 'missing_field'
      WHEN NOT {_is_object("b_data")} THEN 'wrong_type'
      WHEN b_transaction_total IS NOT NULL AND try_cast(b_transaction_total AS DOUBLE) IS NULL
        THEN 'wrong_type'
    END AS reason_code,
    CASE
      WHEN item_type <> 'OBJECT' THEN 'Blotout event is a JSON ' || lower(item_type)
      WHEN strlen(item) > {max_event_bytes}
        THEN 'event is ' || strlen(item) || ' bytes; the limit is {max_event_bytes}'
      WHEN b_mid IS NULL THEN 'mid is missing'
      WHEN b_evn IS NULL THEN 'evn (event name) is missing'
      WHEN b_evt IS NULL THEN 'evt (event time) is missing'
      WHEN NOT coalesce(try_cast(b_evt AS DOUBLE) BETWEEN {_MIN_MS} AND {_MAX_MS}, false)
        THEN 'evt `' || left(b_evt, 64) || '` is not milliseconds since the epoch (2000-2100)'
      WHEN coalesce(b_userid, visitor_id) IS NULL
        THEN 'no visitor id: userid is missing and no _trends_user_id cookie was received'
      WHEN NOT {_is_object("b_data")} THEN 'additionalData must be an object'
      WHEN b_transaction_total IS NOT NULL AND try_cast(b_transaction_total AS DOUBLE) IS NULL
        THEN 'transaction_total `' || left(b_transaction_total, 64) || '` is not a number'
    END AS reason,
    b_mid AS event_id,
    CASE b_evn WHEN 'sdk_start' THEN 'page' WHEN 'persona' THEN 'identify' ELSE 'track' END
      AS event_type,
    b_evn AS event_name,
    CASE WHEN try_cast(b_evt AS DOUBLE) BETWEEN {_MIN_MS} AND {_MAX_MS}
         THEN to_timestamp(try_cast(b_evt AS DOUBLE) / 1000) END AS event_time,
    received_ts AS received_at,
    NULL AS sent_at,
    coalesce(b_userid, visitor_id) AS anonymous_id,
    CASE WHEN b_evn = 'persona' THEN b_persona_id END AS user_id,
    NULL AS previous_id,
    NULL AS group_id,
    b_session_id AS session_id,
    b_scrn AS url,
    coalesce(b_data_path, {_url_path("b_scrn")}) AS path,
    bo_referrer AS referrer,
    bo_page_title AS page_title,
    {_param("query_", "utm_source")} AS utm_source,
    {_param("query_", "utm_medium")} AS utm_medium,
    {_param("query_", "utm_campaign")} AS utm_campaign,
    {_param("query_", "utm_term")} AS utm_term,
    {_param("query_", "utm_content")} AS utm_content,
    {_param("query_", "gclid")} AS gclid,
    {_param("query_", "fbclid")} AS fbclid,
    {_param("query_", "msclkid")} AS msclkid,
    {_param("query_", "ttclid")} AS ttclid,
    nullif(lower(trim(b_persona_email)), '') AS email,
    nullif(trim(b_persona_number), '') AS phone,
    CASE WHEN b_evn = 'map_id' THEN b_map_id END AS map_id,
    CASE WHEN b_evn = 'map_id' THEN b_map_provider END AS map_provider,
    CASE WHEN b_evn = 'transaction' THEN b_transaction_id END AS order_id,
    CASE WHEN b_evn = 'transaction' THEN try_cast(b_transaction_total AS DOUBLE) END AS revenue,
    CASE WHEN b_evn = 'transaction' THEN upper(b_transaction_currency) END AS currency,
    b_data AS properties,
    CASE WHEN b_evn = 'persona' THEN b_data END AS traits,
    coalesce(bo_user_agent, meta_user_agent) AS user_agent,
    meta_ip AS ip,
    'blotout' AS payload_format
  FROM _bo
),
unreadable AS (
  SELECT raw_hour, raw_file, line_no, item_index, source, received_ts AS received_at,
    rtrim(coalesce(landed_text, item), chr(10) || chr(13)) AS raw,
    CASE kind WHEN 'invalid' THEN 'invalid_json' ELSE 'unknown_format' END AS reason_code,
    CASE WHEN landed_text IS NOT NULL THEN 'the received body is not valid JSON'
         WHEN NOT is_json AND json_valid(item) THEN 'the line is JSON, but not an object'
         WHEN NOT is_json THEN 'the line is not valid JSON'
         WHEN kind = 'unknown' AND forced_format = 'blotout'
              THEN 'imported as blotout, but `events` is not an array'
         ELSE 'not a Segment message (no type), batch envelope or Blotout {{meta, events}}'
    END AS reason
  FROM _items WHERE kind IN ('invalid', 'unknown')
),
all_events AS (
  SELECT * FROM segment_events
  UNION ALL BY NAME SELECT * FROM blotout_events
  UNION ALL BY NAME SELECT * FROM unreadable
)
SELECT raw_hour, raw_file, line_no, item_index, reason_code, reason,
    CASE WHEN reason_code IS NOT NULL THEN rtrim(raw, chr(10) || chr(13)) END AS raw,
    {core_columns}
FROM all_events
"""
    return [classify, explode, segment, blotout, flatten]


CORE_SELECT = ", ".join(
    f"CAST({name} AS JSON) AS {name}" if kind == "JSON" else name
    for name, kind in CORE_EVENTS_COLUMNS
)
QUARANTINE_SELECT = ", ".join(name for name, _ in QUARANTINE_COLUMNS)
