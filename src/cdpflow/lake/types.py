"""Column types as the lake records them: one engine-neutral vocabulary, mapped per engine.

A snapshot says what type each column has so that an empty table still has a schema and every
reader casts to the same types. Those names must mean the same to every engine that reads the
lake, so they are neither DuckDB's nor Spark's but these (Arrow's types, named plainly):

    string  binary  boolean  int8 int16 int32 int64  uint8 uint16 uint32 uint64
    float32 float64  decimal(P,S)  date  time  timestamp (UTC, microseconds)  timestamp_ntz
    interval  uuid  json (text holding JSON)  null
    list<T>  struct<name: T, ...>  map<K, V>

`neutral` turns any accepted spelling into the canonical one: the names above, an Arrow type,
or a DuckDB type name (what snapshots written before this vocabulary hold, and what a DuckDB
relation describes); engines map the canonical names to their own (`cdpflow.engine`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

SCALARS = frozenset(
    {
        *("string", "binary", "boolean", "int8", "int16", "int32", "int64"),
        *("uint8", "uint16", "uint32", "uint64", "float32", "float64", "date", "time"),
        *("timestamp", "timestamp_ntz", "interval", "uuid", "json", "null"),
    }
)

# DuckDB's names (and aliases) of the scalar types
_FROM_DUCKDB = {
    "VARCHAR": "string",
    "TEXT": "string",
    "STRING": "string",
    "CHAR": "string",
    "BPCHAR": "string",
    "BLOB": "binary",
    "BYTEA": "binary",
    "BOOLEAN": "boolean",
    "BOOL": "boolean",
    "TINYINT": "int8",
    "SMALLINT": "int16",
    "INTEGER": "int32",
    "INT": "int32",
    "BIGINT": "int64",
    "HUGEINT": "decimal(38,0)",
    "UTINYINT": "uint8",
    "USMALLINT": "uint16",
    "UINTEGER": "uint32",
    "UBIGINT": "uint64",
    "FLOAT": "float32",
    "REAL": "float32",
    "DOUBLE": "float64",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP WITH TIME ZONE": "timestamp",
    "TIMESTAMPTZ": "timestamp",
    "TIMESTAMP": "timestamp_ntz",
    "TIMESTAMP_NS": "timestamp_ntz",
    "TIMESTAMP_MS": "timestamp_ntz",
    "TIMESTAMP_S": "timestamp_ntz",
    "INTERVAL": "interval",
    "UUID": "uuid",
    "JSON": "json",
    "NULL": "null",
}
_WORD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?: WITH TIME ZONE)?(?:\s*\(\s*\d+\s*,\s*\d+\s*\))?)")
_DECIMAL = re.compile(r"^(?:decimal|DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


class UnknownTypeError(ValueError):
    def __init__(self, text: str) -> None:
        super().__init__(
            f"column type {text!r} is not one the lake records (see cdpflow.lake.types)"
        )


@dataclass(frozen=True)
class Parsed:
    """A canonical type taken apart: `name` (a scalar, or list / struct / map) and its parts."""

    name: str
    items: tuple[tuple[str, Parsed], ...] = ()  # list: (("", item),); map: key, value; struct

    def __str__(self) -> str:
        if self.name == "list":
            return f"list<{self.items[0][1]}>"
        if self.name == "map":
            return f"map<{self.items[0][1]}, {self.items[1][1]}>"
        if self.name == "struct":
            return "struct<" + ", ".join(f"{_name(n)}: {t}" for n, t in self.items) + ">"
        return self.name


def neutral(kind: str | pa.DataType) -> str:
    """The canonical lake name of a type given as a lake name, an Arrow type or a DuckDB name."""
    if isinstance(kind, str):
        return str(parse(kind))
    return str(from_arrow(kind))


@cache
def parse(text: str) -> Parsed:
    """Any accepted spelling of a type, taken apart (raises UnknownTypeError)."""
    parsed, rest = _parse(text.strip())
    if rest.strip():
        raise UnknownTypeError(text)
    return parsed


@cache
def _arrow_scalars() -> dict[pa.DataType, str]:
    import pyarrow as pa  # only for Arrow-typed input: DAG files and the CLI read names

    return {
        pa.string(): "string",
        pa.large_string(): "string",
        pa.binary(): "binary",
        pa.large_binary(): "binary",
        pa.bool_(): "boolean",
        pa.int8(): "int8",
        pa.int16(): "int16",
        pa.int32(): "int32",
        pa.int64(): "int64",
        pa.uint8(): "uint8",
        pa.uint16(): "uint16",
        pa.uint32(): "uint32",
        pa.uint64(): "uint64",
        pa.float32(): "float32",
        pa.float64(): "float64",
        pa.date32(): "date",
        pa.date64(): "date",
        pa.null(): "null",
    }


def from_arrow(kind: pa.DataType) -> Parsed:
    import pyarrow as pa

    scalars = _arrow_scalars()
    if kind in scalars:
        return Parsed(scalars[kind])
    if pa.types.is_timestamp(kind):
        return Parsed("timestamp" if kind.tz else "timestamp_ntz")
    if pa.types.is_time(kind):
        return Parsed("time")
    if pa.types.is_decimal(kind):
        return Parsed(f"decimal({kind.precision},{kind.scale})")
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return Parsed("list", (("", from_arrow(kind.value_type)),))
    if pa.types.is_map(kind):
        return Parsed("map", (("", from_arrow(kind.key_type)), ("", from_arrow(kind.item_type))))
    if pa.types.is_struct(kind):
        return Parsed("struct", tuple((f.name, from_arrow(f.type)) for f in kind))
    if pa.types.is_duration(kind) or pa.types.is_interval(kind):
        return Parsed("interval")
    if pa.types.is_dictionary(kind):
        return from_arrow(kind.value_type)
    raise UnknownTypeError(str(kind))


def _parse(text: str) -> tuple[Parsed, str]:
    """One type at the start of `text` and what follows it."""
    for opener, name in (("list<", "list"), ("map<", "map"), ("struct<", "struct")):
        if text.startswith(opener):
            return _nested(name, text[len(opener) :], ">", ":")
    for opener, name in (("STRUCT(", "struct"), ("MAP(", "map")):
        if text.upper().startswith(opener):
            return _nested(name, text[len(opener) :], ")", " ")
    match = _WORD.match(text)
    if not match:
        raise UnknownTypeError(text)
    word, rest = match.group(1), text[match.end() :]
    decimal = _DECIMAL.match(word)
    if decimal:
        parsed = Parsed(f"decimal({int(decimal.group(1))},{int(decimal.group(2))})")
    elif word in SCALARS:
        parsed = Parsed(word)
    elif word.upper() in _FROM_DUCKDB:
        parsed = Parsed(_FROM_DUCKDB[word.upper()])
    else:
        raise UnknownTypeError(text)
    return _arrays(parsed, rest)


def _nested(name: str, text: str, closer: str, separator: str) -> tuple[Parsed, str]:
    """The parts of a list / map / struct after its opener, up to `closer` (`>` in the lake's
    names, `)` in DuckDB's); a struct field's name is followed by `separator`."""
    items: list[tuple[str, Parsed]] = []
    rest = text
    while True:
        rest = rest.lstrip()
        field = ""
        if name == "struct":
            field, rest = _field_name(rest, separator)
        item, rest = _parse(rest.lstrip())
        items.append((field, item))
        rest = rest.lstrip()
        if rest.startswith(","):
            rest = rest[1:]
            continue
        if rest.startswith(closer):
            return _arrays(_checked(name, items, text), rest[1:])
        raise UnknownTypeError(text)


def _arrays(parsed: Parsed, rest: str) -> tuple[Parsed, str]:
    """DuckDB's list suffixes after a type: `INTEGER[]` (or `INTEGER[3]`, an array)."""
    while array := re.match(r"^\[\d*\]", rest):
        parsed, rest = Parsed("list", (("", parsed),)), rest[array.end() :]
    return parsed, rest


def _field_name(text: str, separator: str) -> tuple[str, str]:
    """A struct field's name (bare or double-quoted) and the text after its separator."""
    if text.startswith('"'):
        match = re.match(r'^"((?:[^"]|"")*)"', text)
        if not match:
            raise UnknownTypeError(text)
        field, rest = match.group(1).replace('""', '"'), text[match.end() :]
    else:
        match = re.match(r"^[^\s:,()<>\"]+", text)
        if not match:
            raise UnknownTypeError(text)
        field, rest = match.group(0), text[match.end() :]
    rest = rest.lstrip()
    if separator == ":":
        if not rest.startswith(":"):
            raise UnknownTypeError(text)
        rest = rest[1:]
    return field, rest


def _checked(name: str, items: list[tuple[str, Parsed]], text: str) -> Parsed:
    if (name == "list" and len(items) != 1) or (name == "map" and len(items) != 2):
        raise UnknownTypeError(text)
    return Parsed(name, tuple(items))


def _name(field: str) -> str:
    """A struct field's name as written in a canonical type: quoted unless a plain word."""
    if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", field):
        return field
    return '"' + field.replace('"', '""') + '"'


def to_arrow(kind: str) -> pa.DataType:
    """The Arrow type of a lake type (json is its text; interval, Arrow's month-day-nano)."""
    import pyarrow as pa

    parsed = parse(kind)
    if parsed.name == "list":
        return pa.list_(to_arrow(str(parsed.items[0][1])))
    if parsed.name == "map":
        return pa.map_(to_arrow(str(parsed.items[0][1])), to_arrow(str(parsed.items[1][1])))
    if parsed.name == "struct":
        return pa.struct([(n, to_arrow(str(t))) for n, t in parsed.items])
    decimal = _DECIMAL.match(parsed.name)
    if decimal:
        return pa.decimal128(int(decimal.group(1)), int(decimal.group(2)))
    special = {
        "json": pa.string(),
        "uuid": pa.string(),
        "date": pa.date32(),
        "time": pa.time64("us"),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "timestamp_ntz": pa.timestamp("us"),
        "interval": pa.month_day_nano_interval(),
    }
    if parsed.name in special:
        return special[parsed.name]
    return next(t for t, name in _arrow_scalars().items() if name == parsed.name)


def schema_columns(schema: pa.Schema) -> tuple[tuple[str, str], ...]:
    """(name, lake type) of an Arrow schema's columns: what a table declared as an Arrow schema
    records in its snapshots."""
    return tuple((f.name, str(from_arrow(f.type))) for f in schema)


def arrow_schema(columns: Iterable[tuple[str, str]]) -> pa.Schema:
    """An Arrow schema of (name, lake type) columns."""
    import pyarrow as pa

    return pa.schema([(name, to_arrow(kind)) for name, kind in columns])
