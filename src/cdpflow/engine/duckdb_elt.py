"""ELT merges in DuckDB: a run's staged rows merged by primary key into a merge-on-read table.

A run's rows arrive as staged Parquet files (`cdpflow.elt.land`), so neither they nor the table
are ever held in memory: DuckDB reads them, spilling past its budget. Against a table that has
a base, the run writes only a new delta (`lake.merge_on_read`): the winning version of every key
the stored delta or the run touched, tombstones for deleted keys the base holds. Its cost follows
the change: of the base it reads the key and cursor columns, and only for keys the run brought.
When the delta would pass `fold_fraction` of the base, or there is no base yet, the table is
written anew as one base of the rows readers see, sorted by key.

Winner per key, as in every version of the table: the newest cursor (nulls last), then the later
extract (the run's rows carry their extract order, stored rows order 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from cdpflow.engine import EXTRACT_ORDER, MergeKey, MergeOutput
from cdpflow.engine.duckdb_common import LakeOut, connect, literal, quote
from cdpflow.lake.merge_on_read import base_files, delta_files
from cdpflow.lake.tables import DataFile, Snapshot, TableStore
from cdpflow.lake.types import neutral
from cdpflow.settings import Settings

ORDER = EXTRACT_ORDER
_FROM_BASE = "_cdpflow_from_base"  # a base row's key and cursor, standing in to be compared


class DuckDBEltMerge:
    """Merges on one DuckDB connection, within the engine's memory and thread settings."""

    def __init__(self, settings: Settings, tables: TableStore) -> None:
        spill = settings.work_dir / "duckdb_spill"
        spill.mkdir(parents=True, exist_ok=True)
        self.tables = tables
        self.work = settings.work_dir
        self.con = connect(
            config={
                "threads": settings.engine_threads,
                "memory_limit": f"{settings.engine_memory_bytes // 1_000_000}MB",
                "temp_directory": str(spill),
            }
        )
        if not tables.lake.is_local:
            self.con.register_filesystem(tables.lake.fs)

    def close(self) -> None:
        self.con.close()

    def merge(
        self,
        base: Snapshot | None,
        merge: MergeKey,
        extracted: Sequence[Path],
        staged: str,
        fold_fraction: float,
    ) -> MergeOutput:
        """The run's `extracted` rows (each with its EXTRACT_ORDER) merged into `base` (None: a
        new table), written under the lake folder `staged`; see the module docstring."""
        out = LakeOut(self.tables.lake, staged, self.work)
        out.fresh()
        con = self.con
        keys = ", ".join(quote(k) for k in merge.key)
        new = f"SELECT * FROM {_parquet([str(p) for p in extracted])}"
        new_columns = set(con.sql(new).columns)
        stored = base_files(base) if base else ()
        old_delta = self._uris(base, delta_files(base)) if base else []
        if not stored:
            if old_delta:  # a delta without a base is the whole table; the run's rows win ties
                new += (
                    f" UNION ALL BY NAME SELECT *, -row_number() OVER () AS {ORDER} "
                    f"FROM {_parquet(old_delta)}"
                )
            return self._write_base(self._winners(new, merge), merge, out)
        assert base is not None
        con.execute(f"CREATE OR REPLACE TEMP TABLE _new AS {self._winners(new, merge)}")
        base_uris = self._uris(base, stored)
        stored_columns = {c for c, _ in base.columns}
        cursor = [merge.cursor] if merge.cursor in new_columns & stored_columns else []
        stand_in = ", ".join(quote(c) for c in (*merge.key, *cursor))
        on = _on(merge, "b", "n")
        parts = ["SELECT * FROM _new"]
        touched = f"SELECT {keys} FROM _new"
        if old_delta:
            parts.append(f"SELECT *, 0 AS {ORDER} FROM {_parquet(old_delta)}")
            touched = f"SELECT {keys} FROM _new EXCEPT SELECT {keys} FROM {_parquet(old_delta)}"
        parts.append(
            f"SELECT b.*, 0 AS {ORDER}, true AS {_FROM_BASE} FROM "
            f"(SELECT {stand_in} FROM {_parquet(base_uris)}) b SEMI JOIN ({touched}) n ON {on}"
        )
        candidates = " UNION ALL BY NAME ".join(parts)
        columns = set(con.sql(candidates).columns)
        deleted = _deleted(merge, columns)
        in_base = f"EXISTS (SELECT 1 FROM {_parquet(base_uris)} b WHERE {_on(merge, 'b', 'w')})"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _delta AS SELECT * EXCLUDE ({ORDER}, {_FROM_BASE}) "
            f"FROM (SELECT * FROM ({candidates}) QUALIFY row_number() OVER "
            f"(PARTITION BY {keys} ORDER BY {_winner(merge, columns)}) = 1) w "
            f"WHERE {_FROM_BASE} IS NOT TRUE AND (NOT {deleted} OR {in_base})"
        )
        delta_rows = _count(con, "SELECT count(*) FROM _delta")
        if delta_rows > fold_fraction * sum(f.rows for f in stored):
            return self._write_base(self._visible(base_uris, merge), merge, out)
        files = self._copy(f"SELECT * FROM _delta ORDER BY {keys}", out)
        shadowed = _count(
            con,
            f"SELECT count(*) FROM _delta w SEMI JOIN "
            f"(SELECT {keys} FROM {_parquet(base_uris)}) b ON {_on(merge, 'b', 'w')}",
        )
        tombstones = _count(con, f"SELECT count(*) FROM _delta WHERE {_deleted(merge, columns)}")
        return MergeOutput(
            files,
            "delta",
            shadowed + tombstones,
            self._columns([*base_uris, *(self.tables.lake.uri(p) for p, _ in files)]),
        )

    def fold(self, snapshot: Snapshot, merge: MergeKey, staged: str) -> MergeOutput:
        """The table's rows as readers see them, written as one new base under the lake folder
        `staged`."""
        out = LakeOut(self.tables.lake, staged, self.work)
        out.fresh()
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE _delta AS SELECT * FROM "
            f"{_parquet(self._uris(snapshot, delta_files(snapshot)))}"
        )
        visible = self._visible(self._uris(snapshot, base_files(snapshot)), merge)
        return self._write_base(visible, merge, out)

    def _visible(self, base_uris: Sequence[str], merge: MergeKey) -> str:
        """Rows readers see with `_delta` as the delta over the base files."""
        keys = ", ".join(quote(k) for k in merge.key)
        return (
            f"SELECT * FROM _delta UNION ALL BY NAME SELECT b.* FROM {_parquet(base_uris)} b "
            f"ANTI JOIN (SELECT {keys} FROM _delta) d ON {_on(merge, 'b', 'd')}"
        )

    def _winners(self, rows: str, merge: MergeKey) -> str:
        """The winning row of each key among `rows` (each with a distinct ORDER): picked on the
        key, cursor and order columns alone, so the rows themselves are streamed, not sorted."""
        columns = set(self.con.sql(rows).columns)
        narrow = [*merge.key, *([merge.cursor] if merge.cursor in columns else []), ORDER]
        keys = ", ".join(quote(k) for k in merge.key)
        winner = _winner(merge, columns)
        picked = (
            f"SELECT {ORDER} FROM (SELECT {', '.join(quote(c) for c in narrow)} FROM ({rows})) "
            f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {winner}) = 1"
        )
        return f"SELECT * FROM ({rows}) WHERE {ORDER} IN ({picked})"

    def _write_base(self, rows: str, merge: MergeKey, out: LakeOut) -> MergeOutput:
        """`rows` (one per key) but the deleted as the table's new base, in no particular order:
        a sort of the whole table would cost it memory and time for nothing a reader needs."""
        columns = set(self.con.sql(rows).columns)
        drop = [c for c in (ORDER, _FROM_BASE) if c in columns]
        exclude = f" EXCLUDE ({', '.join(drop)})" if drop else ""
        select = f"SELECT *{exclude} FROM ({rows}) WHERE NOT {_deleted(merge, columns)}"
        files = self._copy(select, out, ordered=False)
        described = self.con.sql(f"{select} LIMIT 0")
        kinds = tuple(
            (n, neutral(str(t))) for n, t in zip(described.columns, described.types, strict=True)
        )
        return MergeOutput(files, "base", 0, kinds)

    def _copy(self, select: str, out: LakeOut, ordered: bool = True) -> list[tuple[str, int]]:
        """Write `select` as zstd Parquet files under `out` (in its order if `ordered`)."""
        self.con.execute(f"SET preserve_insertion_order = {str(ordered).lower()}")
        try:
            self.con.execute(
                f"COPY ({select}) TO {literal(str(out.local))} (FORMAT parquet, COMPRESSION zstd, "
                "FILE_SIZE_BYTES '256MB', FILENAME_PATTERN 'part-{uuid}', ROW_GROUP_SIZE 122880)"
            )
        finally:
            self.con.execute("SET preserve_insertion_order = false")
        return out.publish_counted(self.con, sorted(out.local.glob("*.parquet")), drop_empty=True)

    def _columns(self, uris: Sequence[str]) -> tuple[tuple[str, str], ...]:
        described = self.con.sql(f"SELECT * FROM {_parquet(uris)} LIMIT 0")
        drop = {ORDER, _FROM_BASE}
        return tuple(
            (n, neutral(str(t)))
            for n, t in zip(described.columns, described.types, strict=True)
            if n not in drop
        )

    def _uris(self, snapshot: Snapshot | None, files: Sequence[DataFile]) -> list[str]:
        if snapshot is None:
            return []
        return [self.tables.lake.uri(f"{snapshot.table}/{f.path}") for f in files]


def _on(merge: MergeKey, left: str, right: str) -> str:
    return " AND ".join(f"{left}.{quote(k)} = {right}.{quote(k)}" for k in merge.key)


def _winner(merge: MergeKey, columns: set[str]) -> str:
    by_cursor = (
        f"{quote(merge.cursor)} DESC NULLS LAST, "
        if merge.cursor and merge.cursor in columns
        else ""
    )
    return f"{by_cursor}{ORDER} DESC"


def _deleted(merge: MergeKey, columns: set[str]) -> str:
    if merge.deletes and merge.deletes in columns:
        return f"coalesce(CAST({quote(merge.deletes)} AS BOOLEAN), false)"
    return "false"


def _parquet(uris: Sequence[str]) -> str:
    listed = ", ".join(literal(u) for u in uris)
    return f"read_parquet([{listed}], union_by_name = true)"


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0
