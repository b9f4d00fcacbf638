"""Merge-on-read tables: a base file set plus a small delta file set that supersedes it by key.

A table that is updated a few rows at a time but read whole (the identity graph's `identities`)
would otherwise be rewritten whole by every update. Instead a writer keeps the base files and
replaces only the delta: the current version of every changed or new row, at most one per key.
A reader sees every delta row plus the base rows whose key is not in the delta, so it sees one
row per key exactly as if the base had been rewritten. When the delta grows, its writer folds it
into a new base.

The layout lives in the snapshot: delta files carry the partition `{"layer": "delta"}`, and the
properties name the key (`merge_key`) and how many base rows the delta supersedes
(`superseded_rows`, so `Snapshot.rows` stays the rows a reader sees). Every reader builds its
scan through `scan_sql`, so none can see the layers apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from cdpflow.lake.tables import DELTA_LAYER, LAYER, SUPERSEDED_ROWS, DataFile, Snapshot, TableStore

MERGE_KEY = "merge_key"
Columns = Iterable[tuple[str, str]]


def is_delta(f: DataFile) -> bool:
    return f.partition.get(LAYER) == DELTA_LAYER


def base_files(snapshot: Snapshot) -> tuple[DataFile, ...]:
    return tuple(f for f in snapshot.files if not is_delta(f))


def delta_files(snapshot: Snapshot) -> tuple[DataFile, ...]:
    return tuple(f for f in snapshot.files if is_delta(f))


def delta_file(path: str, rows: int, size: int, owner: str) -> DataFile:
    """A file of the delta layer."""
    return DataFile(path, rows, size, owner, {LAYER: DELTA_LAYER})


def layout_properties(key: Sequence[str], superseded_rows: int) -> dict[str, Any]:
    """Snapshot properties of a merge-on-read version (merged with the writer's own)."""
    return {MERGE_KEY: list(key), SUPERSEDED_ROWS: int(superseded_rows)}


def scan_sql(tables: TableStore, snapshot: Snapshot | None, columns: Columns | None = None) -> str:
    """The one SELECT every reader of a lake table uses (DuckDB's dialect, the only engine).

    Args:
        tables: resolves the snapshot's files to URIs.
        snapshot: the version to read; None for a table never written (needs `columns`).
        columns: (name, type) to select, cast to the snapshot's own types when it has them;
            without it every column as stored.
    """
    typed = tuple(snapshot.columns if snapshot and snapshot.columns else (columns or ()))
    select = (
        ", ".join(f"CAST({_quote(c)} AS {kind}) AS {_quote(c)}" for c, kind in typed)
        if columns is not None
        else "*"
    )
    if snapshot is None or not snapshot.files:
        nulls = ", ".join(f"CAST(NULL AS {kind}) AS {_quote(c)}" for c, kind in typed)
        return f"SELECT {nulls or 'NULL AS empty'} WHERE false"
    delta = delta_files(snapshot)
    if not delta:
        return f"SELECT {select} FROM {_read(tables, snapshot, snapshot.files)}"
    key = snapshot.properties[MERGE_KEY]
    on = " AND ".join(f"b.{_quote(k)} = d.{_quote(k)}" for k in key)
    keys = ", ".join(_quote(k) for k in key)
    base = base_files(snapshot)
    merged = f"SELECT * FROM {_read(tables, snapshot, delta)}"
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
