"""The DuckDB engine: the embedded default, one process, spilling to local disk past its budget."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from cdpflow.engine import EventsOutput, FlattenCounts, StagedFile
from cdpflow.engine.duckdb_sql import CORE_SELECT, QUARANTINE_SELECT, flatten_sql
from cdpflow.errors import QueryError
from cdpflow.lake.merge_on_read import scan_sql
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import Snapshot, TableStore
from cdpflow.lake.views import ViewFile, load_catalog
from cdpflow.settings import Settings

log = logging.getLogger(__name__)


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def parquet_row_counts(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> dict[str, int]:
    """Rows per Parquet file (by path), from the files' footers."""
    if not files:
        return {}
    listed = ", ".join(literal(str(f)) for f in files)
    query = f"SELECT file_name, num_rows FROM parquet_file_metadata([{listed}])"
    return {str(name): int(rows) for name, rows in con.execute(query).fetchall()}


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, settings: Settings, lake: Lake) -> None:
        self.settings = settings
        self.lake = lake
        spill = settings.work_dir / "duckdb_spill"
        spill.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(
            config={
                "threads": settings.engine_threads,
                "memory_limit": f"{settings.engine_memory_bytes // 1_000_000}MB",
                "temp_directory": str(spill),
                "preserve_insertion_order": False,
            }
        )
        if not lake.is_local:
            self.con.register_filesystem(lake.fs)

    def close(self) -> None:
        self.con.close()

    # -- events -----------------------------------------------------------------------------

    @contextmanager
    def events_batch(self) -> Iterator[DuckDBEventsBatch]:
        batch = DuckDBEventsBatch(self)
        try:
            yield batch
        finally:
            self.con.execute("DROP TABLE IF EXISTS _staged_events")
            self.con.execute("DROP TABLE IF EXISTS _staged_quarantine")

    def _write_partitioned(self, select: str, out_dir: Path, partition: str) -> list[StagedFile]:
        """Write one file per (partition value, owner) and describe each file written."""
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.mkdir(parents=True)
        self.con.execute(
            f"""COPY ({select}) TO {literal(str(out_dir))}
                (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (_part, _owner),
                 FILENAME_PATTERN 'part-{{uuid}}', ROW_GROUP_SIZE 122880)"""
        )
        files = sorted(out_dir.rglob("*.parquet"))
        counts = parquet_row_counts(self.con, files)
        staged = []
        for path in files:
            part = path.parent.parent.name.split("=", 1)[1]
            owner = path.parent.name.split("=", 1)[1]
            staged.append(
                StagedFile(
                    local_path=path,
                    partition={partition: part},
                    owner=owner,
                    rows=int(counts[str(path)]),
                )
            )
        return staged

    # -- upkeep -----------------------------------------------------------------------------

    def rewrite_sorted(
        self, uris: Sequence[str], order_by: str, out_dir: Path, target_file_bytes: int
    ) -> list[tuple[Path, int]]:
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        listed = ", ".join(literal(u) for u in uris)
        # Sorted output needs insertion order kept through the write.
        self.con.execute("SET preserve_insertion_order = true")
        try:
            self.con.execute(
                f"""COPY (SELECT * FROM read_parquet([{listed}]) ORDER BY {quote(order_by)})
                    TO {literal(str(out_dir))}
                    (FORMAT parquet, COMPRESSION zstd, FILE_SIZE_BYTES {int(target_file_bytes)},
                     FILENAME_PATTERN 'part-{{uuid}}', ROW_GROUP_SIZE 122880)"""
            )
        finally:
            self.con.execute("SET preserve_insertion_order = false")
        files = sorted(out_dir.glob("*.parquet"))
        counts = parquet_row_counts(self.con, files)
        return [(f, counts[str(f)]) for f in files]

    # -- queries ----------------------------------------------------------------------------

    def register_tables(self, tables: TableStore) -> list[str]:
        """Create a view per lake table over its current snapshot's files, then the derived
        views the last derived_views run recorded."""
        names = tables.names()
        for name in names:
            snapshot = tables.get(name)
            self.con.execute(
                f"CREATE OR REPLACE TEMP VIEW {quote(name)} AS {self._scan(snapshot, tables)}"
            )
        for view in load_catalog(tables.lake):
            try:
                self._create_view(view)
                names.append(view.name)
            except duckdb.Error as err:  # a table it reads changed since; the others still work
                log.warning("derived view %s (%s) is broken: %s", view.name, view.file, err)
        return names

    def check_views(
        self, tables: TableStore, views: Sequence[ViewFile]
    ) -> tuple[list[str], dict[str, str]]:
        lake_tables = set(tables.names())
        for name in lake_tables:
            self.con.execute(
                f"CREATE OR REPLACE TEMP VIEW {quote(name)} AS "
                f"{self._scan(tables.get(name), tables)}"
            )
        errors: dict[str, str] = {}
        created: list[str] = []
        waiting = [v for v in views if v.name not in lake_tables]
        for v in views:
            if v.name in lake_tables:
                errors[v.name] = f"`{v.name}` is a lake table; name the view something else"
        # a view may read another: create in passes until no more succeed
        while waiting:
            failed = []
            for view in waiting:
                try:
                    self._create_view(view)
                    errors.pop(view.name, None)
                    created.append(view.name)
                except duckdb.Error as err:
                    errors[view.name] = str(err).split("\n")[0]
                    failed.append(view)
            if len(failed) == len(waiting):
                break
            waiting = failed
        return created, errors

    def _create_view(self, view: ViewFile) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(view.name)} AS {view.sql}")

    def _scan(self, snapshot: Snapshot, tables: TableStore) -> str:
        return scan_sql(tables, snapshot)

    def query(self, sql: str, tables: TableStore) -> pa.Table:
        names = self.register_tables(tables)
        try:
            return self.con.sql(sql).to_arrow_table()
        except duckdb.Error as err:
            raise QueryError(str(err).split("\n")[0], names) from err


class DuckDBEventsBatch:
    """Flattened rows accumulate in temp tables, which DuckDB spills to disk past its budget."""

    def __init__(self, engine: DuckDBEngine) -> None:
        self.engine = engine
        self.con = engine.con
        self._created = False

    def add(self, lines: pa.Table) -> FlattenCounts:
        select = flatten_sql("raw_lines", self.engine.settings.max_event_bytes)
        self.con.register("raw_lines", lines)
        try:
            self.con.execute("CREATE OR REPLACE TEMP TABLE _flat AS " + select)
        finally:
            self.con.unregister("raw_lines")
        events = f"""SELECT raw_hour, raw_file, line_no, item_index, {CORE_SELECT}
                     FROM _flat WHERE reason_code IS NULL"""
        quarantine = """SELECT raw_hour, reason_code, reason, raw, event_id, source, received_at,
                            raw_file, line_no, item_index, now() AS quarantined_at,
                            coalesce(CAST(received_at AS DATE),
                                     CAST(left(raw_hour, 10) AS DATE)) AS received_date
                     FROM _flat WHERE reason_code IS NOT NULL"""
        if not self._created:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE _staged_events AS {events}")
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE _staged_quarantine AS {quarantine}")
            self._created = True
        else:
            self.con.execute(f"INSERT INTO _staged_events {events}")
            self.con.execute(f"INSERT INTO _staged_quarantine {quarantine}")
        row = self.con.execute(
            "SELECT count(*) FILTER (reason_code IS NULL), "
            "count(*) FILTER (reason_code IS NOT NULL) FROM _flat"
        ).fetchone()
        self.con.execute("DROP TABLE _flat")
        assert row is not None
        return FlattenCounts(events=int(row[0]), quarantined=int(row[1]))

    def event_date_range(self) -> tuple[str, str] | None:
        if not self._created:
            return None
        row = self.con.execute(
            "SELECT min(event_date)::VARCHAR, max(event_date)::VARCHAR FROM _staged_events"
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return str(row[0]), str(row[1])

    def write(self, existing_event_files: Sequence[str], out_dir: Path) -> EventsOutput:
        output = EventsOutput()
        if not self._created:
            return output
        if existing_event_files:
            files = ", ".join(literal(f) for f in existing_event_files)
            existing = f"(SELECT event_id FROM read_parquet([{files}]))"
        else:
            existing = "(SELECT NULL::VARCHAR AS event_id WHERE false)"
        # The earliest received copy of each event wins, and an event already in core_events
        # (from other raw hours) is a duplicate too. Written straight from the window query.
        first_copies = f"""
            SELECT * EXCLUDE (copy_no) FROM (
              SELECT *, row_number() OVER (
                PARTITION BY event_id
                ORDER BY received_at NULLS LAST, raw_hour, raw_file, line_no, item_index
              ) AS copy_no
              FROM _staged_events
              WHERE event_id NOT IN {existing}
            ) WHERE copy_no = 1"""
        output.events = self.engine._write_partitioned(
            f"SELECT {CORE_SELECT}, event_date::VARCHAR AS _part, raw_hour AS _owner "
            f"FROM ({first_copies})",
            out_dir / "events",
            "event_date",
        )
        staged = self.con.execute("SELECT count(*) FROM _staged_events").fetchone()
        assert staged is not None
        output.duplicates = int(staged[0]) - sum(f.rows for f in output.events)
        output.quarantine = self.engine._write_partitioned(
            f"SELECT {QUARANTINE_SELECT}, received_date::VARCHAR AS _part, raw_hour AS _owner "
            "FROM _staged_quarantine",
            out_dir / "quarantine",
            "received_date",
        )
        return output
