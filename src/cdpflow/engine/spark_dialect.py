"""Spark's spelling of the flatten: the struct types `from_json` reads a line, an item and
their objects into (one per set of field paths of `cdpflow.events`), the `Dialect` the shared
rules render with, and the helpers that read a field and tell its JSON type from the VARIANT.
`spark_sql` composes the statement from these.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cdpflow.engine import flatten_rules as rules
from cdpflow.engine.flatten_rules import ARRAY_FIELDS, HEAD_PATHS, STRING_FIELDS, Dialect
from cdpflow.events import blotout, segment


def ddl(*paths: Iterable[str], arrays: Sequence[str] = ()) -> str:
    """The struct type, as `from_json` takes it, that holds every path: leaves are strings
    (objects come as their JSON text), `arrays` are arrays of item texts."""
    tree = rules.path_tree(
        [*(p for group in paths for p in group), *arrays],
        lambda leaf: "array<string>" if leaf in arrays else "string",
    )

    def render(node: dict[str, object]) -> str:
        return ", ".join(
            f"`{k}`: " + (f"struct<{render(v)}>" if isinstance(v, dict) else str(v))
            for k, v in node.items()
        )

    return f"struct<{render(tree)}>"


LINE_DDL = ddl(HEAD_PATHS.values(), segment.MESSAGE_PATHS.values(), arrays=ARRAY_FIELDS)
SEGMENT_DDL = ddl(segment.MESSAGE_PATHS.values())
PROPERTY_DDL = ddl(segment.PROPERTY_PATHS.values())
TRAIT_DDL = ddl(segment.TRAIT_PATHS.values())
BLOTOUT_DDL = ddl(blotout.EVENT_PATHS.values())
BLOTOUT_DATA_DDL = ddl(blotout.DATA_PATHS.values())


def lit(text: str) -> str:
    """A Spark SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def access(alias: str, path: str) -> str:
    return alias + "".join(f".`{key}`" for key in path.split("."))


def vtype(variant: str, path: str) -> str:
    """The JSON type of `path` in `variant` (NULL when absent or JSON null)."""
    t = f"schema_of_variant(variant_get({variant}, {lit('$.' + path)}))"
    return f"nullif({t}, 'VOID')"


def fields(alias: str, variant: str, paths: dict[str, str], prefix: str = "") -> list[str]:
    """The struct members as columns named by their path; empty strings become NULL. A string
    field also gets `<name>_json`: the JSON text of a value that is not a string."""
    out = []
    for name, path in paths.items():
        member = access(alias, path)
        if path.split(".")[-1] in STRING_FIELDS:
            kind = vtype(variant, path)
            json = f"to_json(variant_get({variant}, {lit('$.' + path)}))"
            out.append(f"CASE WHEN {kind} IS NULL THEN NULL ELSE {json} END AS {prefix}{name}_json")
            out.append(
                f"CASE WHEN {kind} = 'STRING' THEN nullif({member}, '') END AS {prefix}{name}"
            )
            continue
        out.append(f"nullif({member}, '') AS {prefix}{name}")
    return out


def ts_text(ts: str) -> str:
    """A timestamp's text as DuckDB writes a TIMESTAMPTZ (`2026-11-20 13:04:00+00`)."""
    fraction = f"trim(TRAILING '0' FROM date_format({ts}, 'SSSSSS'))"
    base = f"date_format({ts}, 'yyyy-MM-dd HH:mm:ss')"
    return (
        f"concat({base}, CASE WHEN {fraction} = '' THEN '' ELSE concat('.', {fraction}) END, '+00')"
    )


SPARK_TYPES = {  # Spark's names of the lake types core_events uses (string and json: STRING)
    "timestamp": "TIMESTAMP",
    "float64": "DOUBLE",
    "date": "DATE",
    "int64": "BIGINT",
}
SPARK = Dialect(
    literal=lit,
    concat=lambda parts: f"concat({', '.join(parts)})",
    timestamp_type="TIMESTAMP",
    year_start=lambda year: f"TIMESTAMP'{year}-01-01 00:00:00'",
    first=lambda *values: f"coalesce({', '.join(values)})",
    timestamp_text=ts_text,
    member=lambda alias, key: f"{alias}.`{key}`",
    from_epoch_ms=lambda ms: f"timestamp_micros(CAST({ms} * 1000 AS BIGINT))",
    null=lambda kind: f"CAST(NULL AS {SPARK_TYPES.get(kind, 'STRING')})",
    without_write_keys=lambda text: text,  # removed after the flatten (`scrub_write_keys`)
    starts_with="startswith",
    url_decode="try_url_decode",
    json_type="json_type_",
    size_text="CAST(event_bytes AS STRING)",
    object_prefix="OBJECT",
)
