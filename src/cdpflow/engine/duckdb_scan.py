"""How DuckDB reads a lake table: the one SELECT every DuckDB reader of a snapshot uses.

It hides the merge-on-read layers (`lake.merge_on_read`: the delta's rows replace the base's
rows of their key; tombstones hide theirs) and casts each column to the DuckDB type of the lake
type its snapshot records (`lake.types`), so `cdpflow sql`, the analytics sources, Superset's
datasets and the jobs' reads see one row per key in the same types.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from cdpflow.lake.merge_on_read import DELETE_COLUMN, MERGE_KEY, base_files, delta_files
from cdpflow.lake.tables import DataFile, Snapshot, TableStore
from cdpflow.lake.types import Parsed, from_arrow, parse

if TYPE_CHECKING:
    import pyarrow as pa

Columns = Iterable[tuple[str, str]]
_SCALARS = {
    "string": "VARCHAR",
    "binary": "BLOB",
    "boolean": "BOOLEAN",
    "int8": "TINYINT",
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "uint8": "UTINYINT",
    "uint16": "USMALLINT",
    "uint32": "UINTEGER",
    "uint64": "UBIGINT",
    "float32": "FLOAT",
    "float64": "DOUBLE",
    "date": "DATE",
    "time": "TIME",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "timestamp_ntz": "TIMESTAMP",
    "interval": "INTERVAL",
    "uuid": "UUID",
    "json": "JSON",
    "null": "INTEGER",  # a column no row has a value in yet
}


def duckdb_type(kind: str | pa.DataType) -> str:
    """DuckDB's name of a lake type (any spelling `lake.types` accepts, or an Arrow type)."""
    return _render(parse(kind) if isinstance(kind, str) else from_arrow(kind))


def _render(kind: Parsed) -> str:
    if kind.name == "list":
        return f"{_render(kind.items[0][1])}[]"
    if kind.name == "map":
        return f"MAP({_render(kind.items[0][1])}, {_render(kind.items[1][1])})"
    if kind.name == "struct":
        return "STRUCT(" + ", ".join(f"{_quote(n)} {_render(t)}" for n, t in kind.items) + ")"
    if kind.name.startswith("decimal("):
        return kind.name.upper()
    return _SCALARS[kind.name]


def scan_sql(tables: TableStore, snapshot: Snapshot | None, columns: Columns | None = None) -> str:
    """The SELECT of the rows readers see of `snapshot`.

    Args:
        tables: resolves the snapshot's files to URIs.
        snapshot: the version to read; None for a table never written (needs `columns`).
        columns: (name, type) to select, cast to the snapshot's own types when it has them;
            without it every column as stored.
    """
    typed = tuple(snapshot.columns if snapshot and snapshot.columns else (columns or ()))
    select = (
        ", ".join(f"CAST({_quote(c)} AS {duckdb_type(kind)}) AS {_quote(c)}" for c, kind in typed)
        if columns is not None
        else "*"
    )
    if snapshot is None or not snapshot.files:
        nulls = ", ".join(f"CAST(NULL AS {duckdb_type(kind)}) AS {_quote(c)}" for c, kind in typed)
        return f"SELECT {nulls or 'NULL AS empty'} WHERE false"
    delta = delta_files(snapshot)
    if not delta:
        return f"SELECT {select} FROM {_read(tables, snapshot, snapshot.files)}"
    key = snapshot.properties[MERGE_KEY]
    on = " AND ".join(f"b.{_quote(k)} = d.{_quote(k)}" for k in key)
    keys = ", ".join(_quote(k) for k in key)
    base = base_files(snapshot)
    merged = f"SELECT * FROM {_read(tables, snapshot, delta)}"
    flag = snapshot.properties.get(DELETE_COLUMN)
    if flag:
        merged += f" WHERE NOT coalesce(CAST({_quote(flag)} AS BOOLEAN), false)"
    if base:
        merged += (
            f" UNION ALL BY NAME SELECT b.* FROM {_read(tables, snapshot, base)} b"
            f" ANTI JOIN (SELECT {keys} FROM {_read(tables, snapshot, delta)}) d ON {on}"
        )
    return f"SELECT {select} FROM ({merged})"


def _read(tables: TableStore, snapshot: Snapshot, files: Sequence[DataFile]) -> str:
    uris = [tables.lake.uri(f"{snapshot.table}/{f.path}") for f in files]
    listed = ", ".join(_literal(u) for u in uris)
    return f"read_parquet([{listed}], union_by_name = true)"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
