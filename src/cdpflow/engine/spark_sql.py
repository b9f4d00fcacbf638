"""Spark SQL that flattens raw landing lines into core_events rows and quarantine rows: the
payload contract of `cdpflow.events` rendered for Spark, as `duckdb_sql` renders it for DuckDB.

A line is parsed twice: `from_json` (Jackson) reads every field path of the declarations into
a struct, keeping objects (`properties`, batch items) as compact JSON text in their own key
order, which is the text DuckDB writes; `try_parse_json` (a VARIANT) tells a value's JSON type,
which the text alone loses (Spark unquotes strings): whether an item is an object, whether an
id is a JSON string, and the JSON text a message quotes. The validation rules are the same
`Rule`s in order; the first a row breaks gives its code and message.

What cannot be said in Spark SQL runs as Python (`spark_python`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from cdpflow.engine import event_columns
from cdpflow.engine import flatten_rules as rules
from cdpflow.engine.flatten_rules import (
    CAMPAIGN_OF_UTM,
    HEAD_PATHS,
    ITEM_KEYS,
    MAX_MS,
    MIN_MS,
)
from cdpflow.engine.rule_columns import blotout_columns, segment_columns
from cdpflow.engine.spark_dialect import (
    BLOTOUT_DATA_DDL,
    BLOTOUT_DDL,
    LINE_DDL,
    PROPERTY_DDL,
    SEGMENT_DDL,
    SPARK,
    SPARK_TYPES,
    TRAIT_DDL,
    access,
    fields,
    lit,
    vtype,
)
from cdpflow.engine.spark_python import measured, size_udf
from cdpflow.events import blotout, quarantine, segment
from cdpflow.events.quarantine import UNPROCESSABLE
from cdpflow.events.schema import CORE_EVENTS_COLUMNS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_CORRUPT = "_corrupt"

_SEGMENT_COLUMNS = segment_columns(
    corrected_text=SPARK.timestamp_text("skewed_ts"),
    objects={"properties": "properties_type", "traits": "traits_type"},
)
_BLOTOUT_COLUMNS = blotout_columns(objects={"additionalData": "data_type"})


_time = partial(rules.time, SPARK)
_query_of = partial(rules.query_of, SPARK)


# Lowercased DuckDB json_type names of an item that is no object, from its VARIANT type.
_JSON_TYPE = (
    "CASE WHEN item_vtype = 'STRING' THEN 'varchar' WHEN item_vtype = 'BOOLEAN' THEN 'boolean' "
    "WHEN startswith(item_vtype, 'ARRAY') THEN 'array' "
    "WHEN item_vtype IN ('BIGINT', 'INT', 'SMALLINT', 'TINYINT') THEN "
    "CASE WHEN startswith(item, '-') THEN 'bigint' ELSE 'ubigint' END "
    "WHEN item_vtype = 'VOID' THEN 'null' ELSE 'double' END"
)


def _with(frame: DataFrame, *columns: str) -> DataFrame:
    return frame.selectExpr("*", *columns)


def _columns(rows: event_columns.Rows) -> list[str]:
    return [column for row in rows for column in row]


def _segment_events(items: DataFrame, limit: int) -> DataFrame:
    """Segment messages (item columns, the message struct `m`, its VARIANT `iv`, its text
    `item`, `item_type` and `event_bytes`) as event rows."""
    broken, code, text = rules.checks(SPARK, quarantine.SEGMENT_RULES, _SEGMENT_COLUMNS, limit)
    f = _with(
        items,
        *fields("m", "iv", segment.MESSAGE_PATHS, "s_"),
        f"{vtype('iv', 'properties')} AS properties_type",
        f"{vtype('iv', 'traits')} AS traits_type",
    )
    f = _with(
        f,
        f"from_json(s_properties, {lit(PROPERTY_DDL)}) AS p",
        f"from_json(s_traits, {lit(TRAIT_DDL)}) AS tr",
        "lower(s_type) AS type_",
    )
    f = _with(
        f,
        *(
            f"nullif({access('p', path)}, '') AS s_{n}"
            for n, path in segment.PROPERTY_PATHS.items()
        ),
        *(f"nullif({access('tr', path)}, '') AS s_{n}" for n, path in segment.TRAIT_PATHS.items()),
        f"{_time('coalesce(s_original_timestamp, s_timestamp)')} AS client_ts",
        f"{_time('coalesce(s_sent_at, envelope_sent_at)')} AS sent_ts",
    )
    f = _with(f, "coalesce(s_page_url, s_prop_url) AS url_")
    f = _with(
        f,
        f"coalesce(s_page_search, s_prop_search, {_query_of('url_')}) AS query_",
        "CASE WHEN sent_ts IS NOT NULL AND received_ts IS NOT NULL "
        "THEN received_ts - (sent_ts - client_ts) ELSE client_ts END AS skewed_ts",
    )
    f = _with(f.localCheckpoint(eager=False), f"{broken} AS broken_rule")
    f = _with(f, *rules.raw_params(SPARK, "query_", CAMPAIGN_OF_UTM))
    return f.selectExpr(*_columns(event_columns.segment_rows(SPARK, code, text)))


def _blotout_events(items: DataFrame, limit: int) -> DataFrame:
    """Blotout events (item columns, the event struct `b`, its VARIANT `iv`, its text `item`,
    `item_type`, and the envelope's meta) as event rows."""
    broken, code, text = rules.checks(SPARK, quarantine.BLOTOUT_RULES, _BLOTOUT_COLUMNS, limit)
    f = _with(
        items,
        *fields("b", "iv", blotout.EVENT_PATHS, "b_"),
        f"{vtype('iv', 'additionalData')} AS data_type",
    )
    f = _with(f, f"from_json(b_data, {lit(BLOTOUT_DATA_DDL)}) AS d")
    f = _with(
        f,
        *(f"nullif({access('d', path)}, '') AS b_{n}" for n, path in blotout.DATA_PATHS.items()),
    )
    f = _with(
        f,
        f"coalesce(bo_search, {_query_of('b_scrn')}) AS query_",
        f"CASE WHEN try_cast(b_evt AS DOUBLE) BETWEEN {MIN_MS} AND {MAX_MS} "
        "THEN try_cast(b_evt AS DOUBLE) END AS evt_ms",
    )
    f = _with(f.localCheckpoint(eager=False), f"{broken} AS broken_rule")
    f = _with(f, *rules.raw_params(SPARK, "query_", {}))
    return f.selectExpr(*_columns(event_columns.blotout_rows(SPARK, code, text)))


_LINE_KEYS = (
    "raw_hour, raw_file, line_no, source, received_ts, received_text, meta_user_agent, meta_ip"
)
_UA_BYTES = "coalesce(octet_length(meta_user_agent), 0)"


def _exploded(
    parsed: DataFrame, kind: str, array: str, envelope: Sequence[str], ddl: str, alias: str
) -> DataFrame:
    """One row per item of the `array` of `kind` lines: its text, its VARIANT, its JSON type,
    and its fields parsed into `alias`."""
    lines = parsed.where(f"kind = '{kind}'").selectExpr(
        *_LINE_KEYS.split(", "),
        *envelope,
        f"zip_with(r.`{array}`, coalesce(try_variant_get(v, '$.{array}', 'array<variant>'), "
        f"transform(r.`{array}`, x -> try_parse_json(x))), "
        "(t, iv) -> named_struct('text', t, 'iv', iv)) AS item_list",
    )
    items = lines.selectExpr("*", "posexplode(item_list) AS (pos, it)").selectExpr(
        "* EXCEPT (item_list, pos, it)",
        "CAST(pos + 1 AS BIGINT) AS item_index",
        "it.text AS item_text",
        "it.iv AS iv",
    )
    items = _with(items, "nullif(schema_of_variant(iv), 'VOID') AS item_vtype")
    items = _with(
        items,
        "startswith(item_vtype, 'OBJECT') OR (item_vtype IS NULL AND startswith(item_text, '{'))"
        " AS is_object",
    )
    items = items.selectExpr(
        "* EXCEPT (item_text, is_object)",
        "CASE WHEN is_object OR item_vtype IS NULL THEN item_text ELSE to_json(iv) END AS item",
        f"CASE WHEN is_object THEN 'OBJECT' WHEN item_vtype IS NULL THEN NULL "
        f"ELSE upper({_JSON_TYPE}) END AS item_type",
        f"CASE WHEN is_object THEN NULL ELSE {_JSON_TYPE} END AS json_type_",
        f"from_json(CASE WHEN is_object THEN item_text END, {lit(ddl)}) AS {alias}",
    )
    return items.localCheckpoint(eager=False)


# A messageId that is not the empty string (as DuckDB's `kind` tells it from its JSON text).
_HAS_MESSAGE_ID = f"({vtype('v', 'messageId')} IS NOT NULL AND NOT (" + (
    f"{vtype('v', 'messageId')} = 'STRING' AND r.`messageId` = ''))"
)


# A single message's fields out of its line's struct, shaped as a batch item's (no second parse).
_SEGMENT_OF_LINE = (
    "named_struct("
    + ", ".join(
        f"'{key}', r.`{key}`"
        for key in dict.fromkeys(p.split(".")[0] for p in segment.MESSAGE_PATHS.values())
    )
    + ") AS m"
)


def _head_fields() -> list[str]:
    return [f"nullif({access('r', path)}, '') AS {name}" for name, path in HEAD_PATHS.items()]


# The line's struct, with the column `from_json` sets when the line is not JSON.
_LINE_WITH_CORRUPT = LINE_DDL.replace("struct<", f"struct<`{_CORRUPT}`: string, ", 1)


_LINE_CODE, _LINE_REASON = rules.line_reason(SPARK, "v IS NOT NULL")


def flatten_frame(lines: DataFrame, max_event_bytes: int) -> tuple[DataFrame, DataFrame]:
    """One row per event of `lines` (raw_hour, raw_file, line_no, line), with the columns of
    duckdb_sql's `flatten_sql`: `reason_code` NULL for a good event, else why it is
    quarantined (with `reason` and `raw`); and the persisted parse to unpersist once the rows
    are written."""
    from pyspark.sql import functions as F

    limit = max_event_bytes
    parsed = lines.where("octet_length(line) > 2 OR trim(BOTH ' \t\r\n' FROM line) <> ''")
    parsed = parsed.selectExpr(
        "raw_hour",
        "raw_file",
        "line_no",
        "line",
        f"from_json(line, {lit(_LINE_WITH_CORRUPT)}, "
        f"map('columnNameOfCorruptRecord', '{_CORRUPT}')) AS r",
        "try_parse_json(line) AS v",
    )
    parsed = _with(
        parsed,
        # a field of an unexpected type also marks the record corrupt; the VARIANT tells
        f"(r.`{_CORRUPT}` IS NULL OR v IS NOT NULL) AND ltrim(line) LIKE '{{%' AS is_json",
        *_head_fields(),
    )
    parsed = _with(
        parsed, f"{rules.line_kind(SPARK, _HAS_MESSAGE_ID)} AS kind", "received_at AS received_text"
    )
    parsed = _with(parsed, f"{_time('received_text')} AS received_ts")
    # Four branches read the parse: it is kept, not repeated (the caller unpersists it). The
    # checkpoints here and in the branches also cut the plan: inlined into one projection, the
    # rules' expressions made code too large to compile in a 1 GB driver.
    parsed = parsed.drop("received_at").localCheckpoint(eager=False)

    single = parsed.where("kind = 'segment'").selectExpr(
        *_LINE_KEYS.split(", "),
        "CAST(0 AS BIGINT) AS item_index",
        "envelope_sent_at",
        "line AS item",
        "'OBJECT' AS item_type",
        "CAST(NULL AS STRING) AS json_type_",
        "v AS iv",
        _SEGMENT_OF_LINE,
        "size",
    )
    single_small = single.where("try_cast(size AS BIGINT) IS NOT NULL").selectExpr(
        "* EXCEPT (size)", f"try_cast(size AS BIGINT) + {_UA_BYTES} AS event_bytes"
    )
    single_rest = single.where("try_cast(size AS BIGINT) IS NULL").drop("size")
    exact = size_udf()
    single_rest = single_rest.withColumn(
        "event_bytes", exact(F.col("item"), F.col("meta_user_agent"))
    )
    approximate = f"octet_length(item) + {_UA_BYTES}"
    batch_items = measured(
        _exploded(parsed, "segment_batch", "batch", ["envelope_sent_at"], SEGMENT_DDL, "m"),
        limit,
        approximate,
    )
    segment_items = single_small.unionByName(single_rest).unionByName(
        batch_items.select(*single_small.columns)
    )
    envelope = ["visitor_id", "bo_user_agent", "bo_referrer", "bo_page_title", "bo_search"]
    blotout_items = measured(
        _exploded(parsed, "blotout", "events", envelope, BLOTOUT_DDL, "b"), limit, approximate
    )
    unreadable = parsed.where("kind IN ('invalid', 'unknown')").selectExpr(
        *ITEM_KEYS[:3],
        "CAST(0 AS BIGINT) AS item_index",
        *ITEM_KEYS[4:],
        "trim(TRAILING '\n\r' FROM coalesce(landed_text, line)) AS raw",
        f"{_LINE_CODE} AS reason_code",
        f"{_LINE_REASON} AS reason",
        "received_ts AS received_at",
    )
    events = _segment_events(segment_items, limit).unionByName(
        _blotout_events(blotout_items, limit)
    )
    rows = events.unionByName(unreadable, allowMissingColumns=True)
    flat = rows.selectExpr(
        "raw_hour",
        "raw_file",
        "line_no",
        "item_index",
        "reason_code",
        "reason",
        "CASE WHEN reason_code IS NOT NULL THEN trim(TRAILING '\n\r' FROM raw) END AS raw",
        *_core_columns(),
    )
    return flat, parsed


def _core_columns(values: dict[str, str] | None = None) -> list[str]:
    """The core_events columns of a flattened row, typed as Spark writes them; `values` gives
    some columns' SQL (the others are NULL)."""
    return [
        "to_date(event_time) AS event_date"
        if name == "event_date" and values is None
        else f"CAST({name if values is None else values.get(name, 'NULL')} AS "
        f"{'DATE' if name == 'event_date' else SPARK_TYPES.get(kind, 'STRING')}) AS {name}"
        for name, kind in CORE_EVENTS_COLUMNS
    ]


def unprocessable_frame(lines: DataFrame, reason: str) -> DataFrame:
    """The quarantine rows of `lines` (raw_hour, raw_file, line_no, line) that the flatten
    cannot take, with the columns of `flatten_frame` and what duckdb_events keeps of such a
    line: its text and source; no receive time, so it is partitioned by its raw hour."""
    return lines.selectExpr(
        "raw_hour",
        "raw_file",
        "line_no",
        "CAST(0 AS BIGINT) AS item_index",
        f"'{UNPROCESSABLE}' AS reason_code",
        f"{lit(reason)} AS reason",
        "line AS raw",
        *_core_columns({"source": "get_json_object(line, '$._cdp.source')"}),
    )
