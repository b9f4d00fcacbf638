"""Landing extracted rows in a pipeline's lake tables: checked, merged by primary key, committed
with the cursor state in the same snapshot.

A resource's table `<pipeline>__<resource>` is rewritten as one new version per run: the rows
it had plus the new ones, one row per primary key (the newest cursor wins, a later extract wins
a tie), minus keys whose winning row is a delete. The snapshot's properties carry the resource's
incremental state (files read, the cursor reached) and the Arrow schema, so a run killed before
its commit leaves the previous version and the previous state, and the re-run reads the same
input again into the same result: nothing is duplicated. Every resource of a run is extracted
and checked before any is committed, so a changed column type commits nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cdpflow.errors import TerminalError
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, Snapshot, TableStore

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
LOADED_AT = "_loaded_at"
_ORDER = "_cdpflow_order"  # extract order, the tie-break of equal cursors (never stored)


class SchemaChangeError(TerminalError):
    def __init__(self, table: str, resource: str, column: str, old: str, new: str) -> None:
        super().__init__(
            f"Resource `{resource}` changed the type of column `{column}` from {old} to {new}; "
            f"nothing was committed. Declare the column's type under `columns:` in the pipeline "
            f"file, or drop table {table} to reload it with the new type."
        )


@dataclass
class Batch:
    """What one run extracted for one resource: its rows (in extract order), the rows rejected
    with their reasons, and the incremental state to commit with them."""

    rows: pa.Table
    rejects: list[tuple[str, str]]  # (reason, raw JSON)
    state: Mapping[str, Any]


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
        if f.name == _ORDER or pa.types.is_null(f.type):
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

    def commit_rejects(self, resource: str, start_state: Mapping[str, Any], batch: Batch) -> None:
        """Rejects are keyed by the state the run started from: a re-run from the same state
        replaces them rather than adding them twice."""
        key = hashlib.sha256(orjson.dumps(start_state, option=orjson.OPT_SORT_KEYS)).hexdigest()
        owner = f"{self.pipeline}/{resource}/{key[:16]}"
        base = self.tables.current(REJECTS_TABLE)
        replaces = base is not None and any(f.owner == owner for f in base.files)
        if not batch.rejects and base is not None and not replaces:
            return
        table = pa.table(
            {
                "pipeline": [self.pipeline] * len(batch.rejects),
                "resource": [resource] * len(batch.rejects),
                "reason": [r for r, _ in batch.rejects],
                "raw": [raw for _, raw in batch.rejects],
                "rejected_at": [self.loaded_at] * len(batch.rejects),
            },
            schema=REJECTS,
        )
        add = [self._publish(REJECTS_TABLE, table, owner)] if table.num_rows else []
        self.tables.commit(
            REJECTS_TABLE,
            base,
            operation=f"elt {self.pipeline} rejects",
            add=add,
            remove=lambda f: f.owner == owner,
            columns=_sql_columns(REJECTS.empty_table()),
        )

    def merge(
        self, table: str, base: Snapshot | None, resource: Any, batch: Batch
    ) -> tuple[Snapshot, int]:
        """The new version of `table`: old rows and new, one per key; returns it and the rows
        the batch brought (after deduplication within the batch)."""
        new = batch.rows
        loaded = pa.array([self.loaded_at] * new.num_rows, pa.timestamp("us", tz="UTC"))
        new = new.append_column(LOADED_AT, loaded)
        new = new.append_column(_ORDER, pa.array(range(1, new.num_rows + 1), pa.int64()))
        con = duckdb.connect()
        try:
            con.register("new_rows", new)
            union = "SELECT * FROM new_rows"
            if base is not None and base.files:
                old = pa.concat_tables(
                    [pq.read_table(self.lake.open(f"{table}/{f.path}")) for f in base.files],
                    promote_options="default",
                )
                con.register("old_rows", old)
                # by name: a column new to the source is null in the older rows
                union = f"SELECT *, 0 AS {_ORDER} FROM old_rows UNION ALL BY NAME {union}"
            columns = set(con.sql(union).columns)
            keys = ", ".join(_quote(c) for c in resource.primary_key)
            order = (
                f"{_quote(resource.cursor)} DESC NULLS LAST, "
                if resource.cursor and resource.cursor in columns
                else ""
            )
            deleted = (
                f"WHERE NOT coalesce(CAST({_quote(resource.deletes)} AS BOOLEAN), false)"
                if resource.deletes and resource.deletes in columns
                else ""
            )
            merged = _utc(
                con.sql(
                    f"SELECT * EXCLUDE ({_ORDER}) FROM (SELECT * FROM ({union}) "
                    f"QUALIFY row_number() OVER (PARTITION BY {keys} "
                    f"ORDER BY {order}{_ORDER} DESC) = 1) {deleted} "
                    f"ORDER BY {keys}"
                ).to_arrow_table()
            )
        finally:
            con.close()
        schema = {**stored_schema(base), **{f.name: str(f.type) for f in merged.schema}}
        add = [self._publish(table, merged, self.pipeline)] if merged.num_rows else []
        snapshot = self.tables.commit(
            table,
            base,
            operation=f"elt {self.pipeline} merge",
            add=add,
            remove=lambda f: True,
            columns=_sql_columns(merged),
            properties={
                "pipeline": self.pipeline,
                "elt_state": dict(batch.state),
                "elt_schema": schema,
            },
        )
        return snapshot, new.num_rows

    def _publish(self, table: str, rows: pa.Table, owner: str) -> DataFile:
        self.staging.mkdir(parents=True, exist_ok=True)
        local = self.staging / f"{table}-{uuid.uuid4().hex}.parquet"
        pq.write_table(rows, local, compression="zstd")
        rel = f"part-{uuid.uuid4().hex}.parquet"
        size = local.stat().st_size
        self.lake.put(local, f"{table}/{rel}")
        local.unlink(missing_ok=True)  # put moves a local file; a remote lake copies it
        return DataFile(rel, rows.num_rows, size, owner=owner)


def _utc(rows: pa.Table) -> pa.Table:
    """DuckDB names UTC `Etc/UTC` and list items `l`; the lake (and the stored schema, which
    the next extract is compared with) keep Arrow's `UTC` and `item`."""
    return rows.cast(pa.schema([f.with_type(_arrow_type(f.type)) for f in rows.schema]))


def _arrow_type(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(kind) and kind.tz == "Etc/UTC":
        return pa.timestamp(kind.unit, tz="UTC")
    if pa.types.is_list(kind):
        return pa.list_(_arrow_type(kind.value_type))
    return kind


def _sql_columns(rows: pa.Table) -> tuple[tuple[str, str], ...]:
    con = duckdb.connect()
    try:
        relation = con.from_arrow(rows)
        return tuple((n, str(t)) for n, t in zip(relation.columns, relation.types, strict=True))
    finally:
        con.close()


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'
