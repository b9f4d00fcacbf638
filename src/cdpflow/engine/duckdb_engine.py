"""The DuckDB engine: the embedded default, one process, spilling to local disk past its budget."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from cdpflow.engine import EventsOutput, FlattenCounts, StagedFile
from cdpflow.engine.duckdb_sql import CORE_SELECT, QUARANTINE_SELECT, flatten_sql
from cdpflow.errors import QueryError
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import Snapshot, TableStore
from cdpflow.settings import Settings


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


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

    def flatten_events(self, lines: pa.Table, staging: Path, tag: str) -> FlattenCounts:
        staging.mkdir(parents=True, exist_ok=True)
        self.con.register("raw_lines", lines)
        try:
            self.con.execute(
                "CREATE OR REPLACE TEMP TABLE flat AS "
                + flatten_sql("raw_lines", self.settings.max_event_bytes)
            )
        finally:
            self.con.unregister("raw_lines")
        events_path = staging / f"events-{tag}.parquet"
        quarantine_path = staging / f"quarantine-{tag}.parquet"
        self.con.execute(
            f"""COPY (SELECT raw_hour, raw_file, line_no, item_index, {CORE_SELECT}
                     FROM flat WHERE reason_code IS NULL)
                TO {literal(str(events_path))} (FORMAT parquet, COMPRESSION zstd)"""
        )
        self.con.execute(
            f"""COPY (SELECT raw_hour, reason_code, reason, raw, event_id, source, received_at,
                            raw_file, line_no, item_index, now() AS quarantined_at,
                            coalesce(CAST(received_at AS DATE),
                                     CAST(left(raw_hour, 10) AS DATE)) AS received_date
                     FROM flat WHERE reason_code IS NOT NULL)
                TO {literal(str(quarantine_path))} (FORMAT parquet, COMPRESSION zstd)"""
        )
        row = self.con.execute(
            "SELECT count(*) FILTER (reason_code IS NULL), "
            "count(*) FILTER (reason_code IS NOT NULL) FROM flat"
        ).fetchone()
        self.con.execute("DROP TABLE flat")
        assert row is not None
        return FlattenCounts(events=int(row[0]), quarantined=int(row[1]))

    def event_date_range(self, staging: Path) -> tuple[str, str] | None:
        if not list(staging.glob("events-*.parquet")):
            return None
        row = self.con.execute(
            f"SELECT min(event_date)::VARCHAR, max(event_date)::VARCHAR "
            f"FROM read_parquet({literal(str(staging / 'events-*.parquet'))})"
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return str(row[0]), str(row[1])

    def finalize_events(
        self, staging: Path, existing_event_files: Sequence[str], out_dir: Path
    ) -> EventsOutput:
        output = EventsOutput()
        staged_events = str(staging / "events-*.parquet")
        if existing_event_files:
            files = ", ".join(literal(f) for f in existing_event_files)
            existing = f"(SELECT DISTINCT event_id FROM read_parquet([{files}]))"
        else:
            existing = "(SELECT NULL::VARCHAR AS event_id WHERE false)"
        # The earliest received copy of each event wins, and an event already in core_events
        # (from other raw hours) is a duplicate too.
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE final_events AS
                SELECT * EXCLUDE (copy_no) FROM (
                  SELECT *, row_number() OVER (
                    PARTITION BY event_id
                    ORDER BY received_at NULLS LAST, raw_hour, raw_file, line_no, item_index
                  ) AS copy_no
                  FROM read_parquet({literal(staged_events)})
                ) WHERE copy_no = 1
                  AND event_id NOT IN (SELECT event_id FROM {existing})"""
        )
        staged_row = self.con.execute(
            f"SELECT count(*) FROM read_parquet({literal(staged_events)})"
        ).fetchone()
        final_row = self.con.execute("SELECT count(*) FROM final_events").fetchone()
        assert staged_row is not None and final_row is not None
        output.duplicates = int(staged_row[0]) - int(final_row[0])
        output.events = self._write_partitioned(
            f"SELECT {CORE_SELECT}, event_date::VARCHAR AS _part, raw_hour AS _owner "
            "FROM final_events",
            out_dir / "events",
            "event_date",
        )
        self.con.execute("DROP TABLE final_events")
        staged_quarantine = str(staging / "quarantine-*.parquet")
        if list(staging.glob("quarantine-*.parquet")):
            output.quarantine = self._write_partitioned(
                f"SELECT {QUARANTINE_SELECT}, received_date::VARCHAR AS _part, raw_hour AS _owner "
                f"FROM read_parquet({literal(staged_quarantine)})",
                out_dir / "quarantine",
                "received_date",
            )
        return output

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
        if not files:
            return []
        listed = ", ".join(literal(str(f)) for f in files)
        counts = dict(
            self.con.execute(
                f"SELECT file_name, num_rows FROM parquet_file_metadata([{listed}])"
            ).fetchall()
        )
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

    # -- queries ----------------------------------------------------------------------------

    def register_tables(self, tables: TableStore) -> list[str]:
        """Create a view per lake table over its current snapshot's files."""
        names = tables.names()
        for name in names:
            snapshot = tables.get(name)
            self.con.execute(
                f"CREATE OR REPLACE TEMP VIEW {quote(name)} AS {self._scan(snapshot, tables)}"
            )
        return names

    def _scan(self, snapshot: Snapshot, tables: TableStore) -> str:
        uris = tables.file_uris(snapshot)
        if uris:
            listed = ", ".join(literal(u) for u in uris)
            return f"SELECT * FROM read_parquet([{listed}], union_by_name = true)"
        columns = ", ".join(
            f"CAST(NULL AS {kind}) AS {quote(name)}" for name, kind in snapshot.columns
        )
        return f"SELECT {columns or 'NULL AS empty'} WHERE false"

    def query(self, sql: str, tables: TableStore) -> pa.Table:
        names = self.register_tables(tables)
        try:
            return self.con.sql(sql).to_arrow_table()
        except duckdb.Error as err:
            raise QueryError(str(err).split("\n")[0], names) from err

    def execute(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params).fetchall()
