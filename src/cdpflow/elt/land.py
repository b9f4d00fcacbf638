"""Landing extracted rows in a pipeline's lake tables: checked, staged, merged by primary key,
committed with the cursor state in the same snapshot.

An extract hands its rows over a chunk at a time (a page); each chunk is checked against the
declared columns and the types the table already has, numbered in extract order and staged
to local Parquet, so memory holds a few chunks whatever the size of the sync. Only when every
resource of the run has been extracted and checked are the tables merged (a changed column type
anywhere commits nothing): the engine (`cdpflow.engine.elt_merge`) merges the staged rows by
primary key, one row per key (the newest cursor wins, a later extract wins a tie), minus keys
whose winning row is a delete. A table with a base gets a new delta of the keys the run touched
(`lake.merge_on_read`), so an incremental sync costs what it changed; a large delta is folded
into a new base. The snapshot's properties carry the resource's incremental state (files read,
the cursor reached) and its Arrow schema, so a run killed before its commit leaves the previous
version and the previous state, and the re-run reads the same input again into the same result:
nothing is duplicated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cdpflow.engine import EXTRACT_ORDER, EltMerge, MergeKey
from cdpflow.errors import TerminalError
from cdpflow.lake.merge_on_read import (
    DELETE_COLUMN,
    MERGE_KEY,
    delta_file,
    is_delta,
    layout_properties,
)
from cdpflow.lake.storage import Lake, staging_dir
from cdpflow.lake.tables import DataFile, Snapshot, TableStore, lake_columns, promote, promote_rows
from cdpflow.lake.types import schema_columns

REJECTS_TABLE = "elt_rejects"
REJECTS = pa.schema(
    [
        ("pipeline", pa.string()),
        ("resource", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),  # the row as JSON
        ("rejected_at", pa.timestamp("us", tz="UTC")),
    ]
)
REJECTS_COLUMNS = schema_columns(REJECTS)
LOADED_AT = "_loaded_at"


class SchemaChangeError(TerminalError):
    def __init__(self, table: str, resource: str, column: str, old: str, new: str) -> None:
        super().__init__(
            f"Resource `{resource}` changed the type of column `{column}` from {old} to {new}; "
            f"nothing was committed. Declare the column's type under `columns:` in the pipeline "
            f"file, or drop table {table} to reload it with the new type."
        )


STAGE_ROWS = 50_000  # rows of one staged file: a few pages' worth held in memory at once
FOLD_FRACTION = 0.2  # a delta larger than this share of its base is folded into a new base


@dataclass
class Staged:
    """What one run extracted for one resource so far: staged files of checked rows (numbered
    in extract order), the rows rejected with their reasons, and the column types seen."""

    table: str
    resource: str
    folder: Path
    stored: Mapping[str, str]  # the table's Arrow schema before the run
    loaded_at: datetime
    files: list[Path] = field(default_factory=list)
    rows: int = 0
    rejects: list[tuple[str, str]] = field(default_factory=list)  # (reason, raw JSON)
    types: dict[str, pa.DataType] = field(default_factory=dict)  # null-typed columns left out
    names: dict[str, None] = field(default_factory=dict)  # every column seen, in order
    _buffer: list[pa.Table] = field(default_factory=list)
    _buffered: int = 0

    def add(self, rows: pa.Table) -> None:
        """Stage one checked chunk (its columns' types checked against the table's and the
        run's earlier chunks')."""
        check_schema(self.table, self.resource, {**self.stored, **_names(self.types)}, rows)
        for f in rows.schema:
            if not pa.types.is_null(f.type):
                self.types.setdefault(f.name, f.type)
            self.names.setdefault(f.name, None)
        n = rows.num_rows
        if not n:
            return
        rows = rows.append_column(
            LOADED_AT, pa.repeat(pa.scalar(self.loaded_at, pa.timestamp("us", tz="UTC")), n)
        )
        order = pa.array(range(self.rows + 1, self.rows + n + 1), pa.int64())
        self._buffer.append(rows.append_column(EXTRACT_ORDER, order))
        self.rows += n
        self._buffered += n
        if self._buffered >= STAGE_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        rows = pa.concat_tables(self._buffer, promote_options="default")
        typed = [
            rows[f.name].cast(self.types[f.name])
            if pa.types.is_null(f.type) and f.name in self.types
            else rows[f.name]
            for f in rows.schema
        ]
        rows = pa.table(typed, names=rows.column_names)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.table}-{len(self.files):05d}.parquet"
        pq.write_table(rows, path, compression="zstd", compression_level=1)
        self.files.append(path)
        self._buffer, self._buffered = [], 0

    def columns(self) -> tuple[tuple[str, str], ...]:
        """The columns the extract showed (an empty page still has them), as a table's: so an
        empty table can be queried by its columns from its first run."""
        if not self.names:
            return ()
        seen = {name: self.types.get(name, pa.null()) for name in self.names}
        return lake_columns({**seen, LOADED_AT: pa.timestamp("us", tz="UTC")}.items())

    def schema(self) -> dict[str, str]:
        """The table's Arrow schema after this run (stored as the snapshot's `elt_schema`)."""
        seen = {**self.types}
        if self.rows:
            seen[LOADED_AT] = pa.timestamp("us", tz="UTC")
        return {**self.stored, **_names(seen)}


def _names(types: Mapping[str, pa.DataType]) -> dict[str, str]:
    return {name: str(kind) for name, kind in types.items()}


def resource_state(snapshot: Snapshot | None) -> dict[str, Any]:
    return dict(snapshot.properties.get("elt_state", {})) if snapshot else {}


def stored_schema(snapshot: Snapshot | None) -> dict[str, str]:
    return dict(snapshot.properties.get("elt_schema", {})) if snapshot else {}


def check_rows(
    rows: pa.Table, primary_key: tuple[str, ...], columns: Mapping[str, pa.DataType]
) -> tuple[pa.Table, list[tuple[str, str]]]:
    """The rows that fit the declared schema (cast to it) and the others as (reason, raw)."""
    for column in (*primary_key, *columns):
        if column not in rows.column_names:
            rows = rows.append_column(column, pa.nulls(rows.num_rows))
    reasons: list[str | None] = [None] * rows.num_rows
    for column in primary_key:
        for i, value in enumerate(rows[column].to_pylist()):
            if (value is None or value == "") and reasons[i] is None:
                reasons[i] = f"primary key column `{column}` is empty"
    cast_columns = {}
    for column, wanted in columns.items():
        values = rows[column]
        try:
            cast_columns[column] = _cast(values, wanted)
            continue
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        cells = []
        for i, value in enumerate(values.to_pylist()):
            try:
                cells.append(_cast(pa.array([value]), wanted)[0].as_py())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                cells.append(None)
                if reasons[i] is None:
                    reasons[i] = f"column `{column}`: {value!r} is not a {wanted}"
        cast_columns[column] = pa.array(cells, wanted)
    for column, values in cast_columns.items():
        rows = rows.set_column(rows.column_names.index(column), column, values)
    bad = [i for i, r in enumerate(reasons) if r is not None]
    if not bad:
        return rows, []
    raws = rows.take(bad).to_pylist()
    rejects = [
        (str(reasons[i]), orjson.dumps(raw, default=str).decode())
        for i, raw in zip(bad, raws, strict=True)
    ]
    keep = pa.array([r is None for r in reasons])
    return rows.filter(keep), rejects


def _cast(values: pa.Array | pa.ChunkedArray, wanted: pa.DataType) -> Any:
    if pa.types.is_timestamp(wanted) and pa.types.is_string(values.type):
        values = pc.strptime(values, format="%Y-%m-%dT%H:%M:%S%z", unit="us", error_is_null=False)
    return pc.cast(values, wanted, safe=True)


def check_schema(table: str, resource: str, old: Mapping[str, str], rows: pa.Table) -> None:
    """A column the table has must keep its type (a new one is fine); null columns fit all."""
    for f in rows.schema:
        if f.name == EXTRACT_ORDER or pa.types.is_null(f.type):
            continue
        before = old.get(f.name)
        if before is not None and before != "null" and before != str(f.type):
            raise SchemaChangeError(table, resource, f.name, before, str(f.type))


class Lander:
    """Commits one pipeline's resources into their tables and its rejects into elt_rejects."""

    def __init__(self, lake: Lake, tables: TableStore, staging: Path, pipeline: str) -> None:
        self.lake = lake
        self.tables = tables
        self.staging = staging
        self.pipeline = pipeline
        self.loaded_at = datetime.now(UTC)

    def stage(self, table: str, resource: str, base: Snapshot | None) -> Staged:
        """Where one resource's chunks go during the extract."""
        folder = self.staging / "rows" / table
        return Staged(table, resource, folder, stored_schema(base), self.loaded_at)

    def commit_rejects(
        self, resource: str, start_state: Mapping[str, Any], rejects: list[tuple[str, str]]
    ) -> None:
        """Rejects are keyed by the state the run started from: a re-run from the same state
        replaces them rather than adding them twice."""
        key = hashlib.sha256(orjson.dumps(start_state, option=orjson.OPT_SORT_KEYS)).hexdigest()
        owner = f"{self.pipeline}/{resource}/{key[:16]}"
        base = self.tables.current(REJECTS_TABLE)
        replaces = base is not None and any(f.owner == owner for f in base.files)
        if not rejects and base is not None and not replaces:
            return
        table = pa.table(
            {
                "pipeline": [self.pipeline] * len(rejects),
                "resource": [resource] * len(rejects),
                "reason": [r for r, _ in rejects],
                "raw": [raw for _, raw in rejects],
                "rejected_at": [self.loaded_at] * len(rejects),
            },
            schema=REJECTS,
        )
        add = [self._publish_arrow(REJECTS_TABLE, table, owner)] if table.num_rows else []
        self.tables.commit(
            REJECTS_TABLE,
            base,
            operation=f"elt {self.pipeline} rejects",
            add=add,
            remove=lambda f: f.owner == owner,
            columns=REJECTS_COLUMNS,
        )

    def merge(
        self,
        merger: EltMerge,
        base: Snapshot | None,
        resource: Any,
        staged: Staged,
        state: Mapping[str, Any],
    ) -> Snapshot:
        """The table's new version: its rows merged with the staged ones, the state with them."""
        staged.flush()
        table = staged.table
        merge = MergeKey(tuple(resource.primary_key), resource.cursor, resource.deletes)
        layout = layout_properties(merge.key, 0, merge.deletes)
        properties: dict[str, Any] = {
            "pipeline": self.pipeline,
            "elt_state": dict(state),
            "elt_schema": staged.schema(),
        }
        if not staged.files:  # nothing new: the same files, the state moved on
            kept = base.properties if base else layout
            return self.tables.commit(
                table,
                base,
                operation=f"elt {self.pipeline} merge",
                columns=base.columns if base else staged.columns(),
                properties={**kept, **properties},
            )
        folder = staging_dir(f"elt_{self.pipeline}")
        try:
            out = merger.merge(base, merge, staged.files, folder, FOLD_FRACTION)
            published = [
                promote(self.lake, table, path, rows, owner=self.pipeline)
                for path, rows in out.files
            ]
        finally:
            self.lake.remove(folder)
        if out.layer == "delta":
            add = [delta_file(f.path, f.rows, f.bytes, f.owner) for f in published]
            replaced = is_delta
        else:
            add, replaced = published, (lambda f: True)
        layout = layout_properties(merge.key, out.superseded_rows, merge.deletes)
        return self.tables.commit(
            table,
            base,
            operation=f"elt {self.pipeline} merge ({out.layer})",
            add=add,
            remove=replaced,
            columns=out.columns,
            properties={**layout, **properties},
        )

    def _publish_arrow(self, table: str, rows: pa.Table, owner: str) -> DataFile:
        return promote_rows(self.lake, table, rows, owner=owner)


def fold_delta(merger: EltMerge, lake: Lake, tables: TableStore, snapshot: Snapshot) -> Snapshot:
    """The ELT table's delta folded into a new base (compression does it daily): the same rows,
    read without the delta's anti-join, and the delta's tombstones gone. The caller holds the
    pipeline's lock."""
    props = snapshot.properties
    merge = MergeKey(tuple(props[MERGE_KEY]), None, props.get(DELETE_COLUMN))
    pipeline = str(props.get("pipeline", ""))
    folder = staging_dir(f"elt_{pipeline}")
    try:
        out = merger.fold(snapshot, merge, folder)
        add = [
            promote(lake, snapshot.table, path, rows, owner=pipeline) for path, rows in out.files
        ]
    finally:
        lake.remove(folder)
    return tables.commit(
        snapshot.table,
        snapshot,
        operation="compression: fold delta",
        add=add,
        remove=lambda f: True,
        columns=out.columns,
        properties={**props, **layout_properties(merge.key, 0, merge.deletes)},
    )
