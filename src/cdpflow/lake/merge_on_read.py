"""Merge-on-read tables: a base file set plus a small delta file set that supersedes it by key.

A table that is updated a few rows at a time but read whole (the identity graph's `identities`)
would otherwise be rewritten whole by every update. Instead a writer keeps the base files and
replaces only the delta: the current version of every changed or new row, at most one per key.
A reader sees every delta row plus the base rows whose key is not in the delta, so it sees one
row per key exactly as if the base had been rewritten. When the delta grows, its writer folds it
into a new base.

A delete is a delta row too (a tombstone): when the properties name a `delete_column`, a delta
row with it true hides its key's base row and is itself hidden, so a table whose source reports
deletes (an ELT table) keeps them in the delta until the next fold drops both.

The layout lives in the snapshot: delta files carry the partition `{"layer": "delta"}`, and the
properties name the key (`merge_key`), the tombstone flag (`delete_column`, optional) and how
many stored rows readers do not see (`superseded_rows`: base rows the delta replaces plus the
tombstones, so `Snapshot.rows` stays the rows a reader sees). Every reader builds its scan
through `cdpflow.engine.duckdb_scan.scan_sql` or `read_table` (Arrow), so none can see the
layers apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DELTA_LAYER, LAYER, SUPERSEDED_ROWS, DataFile, Snapshot

MERGE_KEY = "merge_key"
DELETE_COLUMN = "delete_column"


def is_delta(f: DataFile) -> bool:
    return f.partition.get(LAYER) == DELTA_LAYER


def base_files(snapshot: Snapshot) -> tuple[DataFile, ...]:
    return tuple(f for f in snapshot.files if not is_delta(f))


def delta_files(snapshot: Snapshot) -> tuple[DataFile, ...]:
    return tuple(f for f in snapshot.files if is_delta(f))


def delta_file(path: str, rows: int, size: int, owner: str) -> DataFile:
    """A file of the delta layer."""
    return DataFile(path, rows, size, owner, {LAYER: DELTA_LAYER})


def layout_properties(
    key: Sequence[str], superseded_rows: int, delete_column: str | None = None
) -> dict[str, Any]:
    """Snapshot properties of a merge-on-read version (merged with the writer's own)."""
    tombstones = {DELETE_COLUMN: delete_column} if delete_column else {}
    return {MERGE_KEY: list(key), SUPERSEDED_ROWS: int(superseded_rows), **tombstones}


def read_table(lake: Lake, snapshot: Snapshot, columns: Sequence[str]) -> pa.Table:
    """The rows a reader sees, `columns` only (null where a file lacks one), as Arrow: for the
    readers outside the engines (offline identity sources) what `scan_sql` is inside them."""
    key = list(snapshot.properties.get(MERGE_KEY, ()))
    flag = snapshot.properties.get(DELETE_COLUMN)
    delta = delta_files(snapshot)
    if not delta:
        return _read_arrow(lake, snapshot, snapshot.files, columns)
    wanted = list(dict.fromkeys([*columns, *key, *([flag] if flag else [])]))
    changed = _read_arrow(lake, snapshot, delta, wanted)
    base = _read_arrow(lake, snapshot, base_files(snapshot), wanted)
    base = base.filter(pc.invert(pc.is_in(_key_of(base, key), value_set=_key_of(changed, key))))
    if flag:
        changed = changed.filter(pc.invert(pc.fill_null(changed[flag].cast(pa.bool_()), False)))
    both = pa.concat_tables([changed, base], promote_options="permissive")
    return both.select(list(columns))


def _read_arrow(
    lake: Lake, snapshot: Snapshot, files: Sequence[DataFile], columns: Sequence[str]
) -> pa.Table:
    parts = []
    for f in files:
        with lake.open(f"{snapshot.table}/{f.path}") as handle:
            source = pq.ParquetFile(handle)
            present = [c for c in columns if c in source.schema_arrow.names]
            parts.append(source.read(columns=present))
    types = dict(_arrow_types(parts))
    out = []
    for part in parts:
        for c in columns:
            if c not in part.column_names:
                part = part.append_column(c, pa.nulls(part.num_rows, types.get(c, pa.null())))
        out.append(part.select(list(columns)))
    if not out:
        return pa.table({c: pa.array([], types.get(c, pa.string())) for c in columns})
    return pa.concat_tables(out, promote_options="permissive")


def _arrow_types(parts: Sequence[pa.Table]) -> Iterable[tuple[str, pa.DataType]]:
    for part in reversed(parts):
        yield from ((f.name, f.type) for f in part.schema if not pa.types.is_null(f.type))


def _key_of(rows: pa.Table, key: Sequence[str]) -> pa.Array | pa.ChunkedArray:
    """One comparable value per row of its key columns (joined as text when there are more)."""
    if len(key) == 1:
        return rows[key[0]]
    text = [pc.fill_null(rows[k].cast(pa.string()), "\x00null") for k in key]
    return pc.binary_join_element_wise(*text, "\x00")
