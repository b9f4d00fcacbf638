"""What the Spark flatten cannot say in Spark SQL, as Python on the few rows that need it,
after a filter (Spark evaluates a Python function on every row of a projection, whatever CASE
guards it): an event's exact size (`cdpflow.events.size`) for items near the limit, and the
removal of a `writeKey` from text that holds one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from cdpflow.engine.flatten_rules import WRITE_KEY_PATHS
from cdpflow.events.size import event_text_bytes

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# an integer literal past 64 bits (or a string that looks like one: then the slower exact path)
_BIG_INTEGER = re.compile(r"(?<![\d.])-?\d{19,}(?![\d.eE])")


def size_udf() -> Any:
    """`event_text_bytes` as a Spark function (a lambda: PySpark would read the type hints of
    the function itself as a pandas function's)."""
    from pyspark.sql import functions as F

    return F.udf(lambda text, agent: event_text_bytes(text, agent), "bigint")


def measured(items: DataFrame, limit: int, approximate: str) -> DataFrame:
    """`items` with `event_bytes`: `approximate` where it is well under the limit, else the
    exact size of `cdpflow.events.size` (Spark's JSON text of an item spells some numbers
    shorter than orjson, so items within a tenth of the limit are measured)."""
    from pyspark.sql import functions as F

    near = f"coalesce({approximate} > {limit * 9 // 10}, false)"  # a JSON null item is kept
    exact = size_udf()
    small = items.where(f"NOT ({near})").selectExpr("*", f"{approximate} AS event_bytes")
    large = items.where(near).withColumn(
        "event_bytes", exact(F.col("item"), F.col("meta_user_agent"))
    )
    return small.unionByName(large)


def without_write_keys(text: str | None, paths: Sequence[Sequence[str]]) -> str | None:
    """JSON `text` without the `writeKey` members at `paths` (DuckDB's `json_remove`); text
    that is not a JSON object is kept as it is."""
    if text is None:
        return None
    exact = _BIG_INTEGER.search(text) is not None  # orjson would read it as a float
    try:
        value = json.loads(text) if exact else orjson.loads(text)
    except (orjson.JSONDecodeError, ValueError):
        return text
    if not isinstance(value, dict):
        return text
    for path in paths:
        node: Any = value
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    if exact:  # digits kept as DuckDB's json_remove keeps them
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return orjson.dumps(value).decode()


def scrub_write_keys(frame: DataFrame) -> DataFrame:
    """`frame` with writeKeys removed from `properties`, `traits` (top level) and `raw` (where
    duckdb_sql removes them), on the rows whose text holds one."""
    from pyspark.sql import functions as F

    has_key = " OR ".join(
        f"coalesce(contains({c}, '\"writeKey\"'), false)" for c in ("properties", "traits", "raw")
    )
    clean = frame.where(f"NOT ({has_key})")
    dirty = frame.where(has_key)
    top = F.udf(lambda t: without_write_keys(t, (("writeKey",),)), "string")
    every = F.udf(lambda t: without_write_keys(t, WRITE_KEY_PATHS), "string")
    dirty = (
        dirty.withColumn("properties", top(F.col("properties")))
        .withColumn("traits", top(F.col("traits")))
        .withColumn("raw", every(F.col("raw")))
    )
    return clean.unionByName(dirty)
