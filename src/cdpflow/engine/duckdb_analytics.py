"""The analytics warehouse on DuckDB: the database file dbt-duckdb builds the models in.

The dbt project reads lake tables through views in the `lake` schema, which this module points at
the files of each table's current version before every run. The models' tables stay in the file
between runs (that is what makes unique_events and sessions incremental), and their rows are
published to the lake as Parquet afterwards, so every engine and BI tool reads the same files.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb

from cdpflow.engine import Export, ExportedFile
from cdpflow.engine.duckdb_common import LakeOut, connect, literal, quote
from cdpflow.engine.duckdb_scan import duckdb_type, scan_sql
from cdpflow.errors import TerminalError
from cdpflow.events.schema import CORE_EVENTS_COLUMNS
from cdpflow.identity.schema import IDENTITIES, IDENTITY_MERGES
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.lake.types import neutral, schema_columns
from cdpflow.roles import KEY_FIELD, ROLE_SOURCES, ROLES, RoleTable
from cdpflow.settings import Settings

STATE_SCHEMA = "cdpflow_state"
VACUUM_TASKS = 100  # DuckDB's default
# lake table -> columns it has even before it was first written
SOURCE_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "identities": schema_columns(IDENTITIES),
    "identity_merges": schema_columns(IDENTITY_MERGES),
}


class RoleTableError(TerminalError):
    def __init__(self, table: str, role: str, field: str, column: str) -> None:
        super().__init__(
            f"Table {table} declares `role: {role}` but has no column `{column}` for its "
            f"`{field}`; set `fields: {{{field}: <column>}}` on its resource in the pipeline "
            "file. Nothing was built."
        )


def role_view_sql(tables: TableStore, role: str, members: Sequence[RoleTable]) -> str:
    """One SELECT of the role's standard fields (as VARCHAR; the dbt staging model types them)
    over every table playing it, with the identifier type of its customer ids, the table and
    `_loaded_at`. A field whose column a table lacks is NULL, except the key field."""
    names = [*ROLES[role], "customer_id_type", "source_table"]
    parts = []
    for member in members:
        snapshot = tables.current(member.table)
        if snapshot is None or not snapshot.files:
            continue
        have = {c for c, _ in snapshot.columns}
        key = member.fields[KEY_FIELD[role]]
        if key not in have:
            raise RoleTableError(member.table, role, KEY_FIELD[role], key)
        cells = [
            f"CAST(src.{quote(member.fields[f])} AS VARCHAR)"
            if member.fields[f] in have
            else "NULL"
            for f in ROLES[role]
        ]
        id_type = member.customer_id_type
        cells += [literal(id_type) if id_type else "NULL", literal(member.table)]
        loaded = "src._loaded_at" if "_loaded_at" in have else literal(snapshot.committed_at)
        selected = [f"{c} AS {quote(n)}" for c, n in zip(cells, names, strict=True)]
        selected.append(f"CAST({loaded} AS TIMESTAMPTZ) AS _loaded_at")
        select = ", ".join(selected)
        parts.append(f"SELECT {select} FROM ({scan_sql(tables, snapshot)}) AS src")
    if not parts:
        nulls = ", ".join(f"CAST(NULL AS VARCHAR) AS {quote(n)}" for n in names)
        return f"SELECT {nulls}, CAST(NULL AS TIMESTAMPTZ) AS _loaded_at WHERE false"
    return " UNION ALL ".join(parts)


class DuckDBWarehouse:
    """The warehouse file of one deployment; open it only while dbt is not running."""

    def __init__(self, settings: Settings, lake: Lake, path: Path) -> None:
        self.settings = settings
        self.lake = lake
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.con = connect(str(path), config=_config(settings))
        if not lake.is_local:
            self.con.register_filesystem(lake.fs)
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {STATE_SCHEMA}")
        self.con.execute("CREATE SCHEMA IF NOT EXISTS lake")
        self.con.execute(
            f"CREATE TABLE IF NOT EXISTS {STATE_SCHEMA}.folded_files (path VARCHAR PRIMARY KEY)"
        )
        self.con.execute(
            f"CREATE TABLE IF NOT EXISTS {STATE_SCHEMA}.batches "
            "(batch_id BIGINT, finished_at TIMESTAMPTZ)"
        )
        self.con.execute(
            f"CREATE TABLE IF NOT EXISTS {STATE_SCHEMA}.model_code "
            "(model VARCHAR PRIMARY KEY, code_hash VARCHAR)"
        )
        self.con.execute(  # the batch of the run in progress (macros/stamp_batch.sql)
            f"CREATE TABLE IF NOT EXISTS {STATE_SCHEMA}.current_run (batch_id BIGINT)"
        )
        self.con.execute(  # written by the models' post-hooks (macros/stamp_batch.sql)
            f"CREATE TABLE IF NOT EXISTS {STATE_SCHEMA}.model_builds "
            "(model VARCHAR, batch_id BIGINT, built_at TIMESTAMPTZ)"
        )
        self.con.execute(  # the lake version each `lake` view reads now (expose_sources)
            f"CREATE TABLE IF NOT EXISTS {STATE_SCHEMA}.exposed_sources "
            "(source VARCHAR PRIMARY KEY, version BIGINT)"
        )
        self.con.execute(  # the version a model last built from (macros/source_versions.sql)
            f"CREATE TABLE IF NOT EXISTS {STATE_SCHEMA}.source_reads "
            "(model VARCHAR, source VARCHAR, version BIGINT, PRIMARY KEY (model, source))"
        )

    def close(self) -> None:
        self.con.close()

    # -- sources ----------------------------------------------------------------------------

    def has_table(self, name: str) -> bool:
        query = """SELECT count(*) FROM (
                       SELECT table_name AS name FROM duckdb_tables() WHERE schema_name = 'main'
                       UNION ALL
                       SELECT view_name FROM duckdb_views() WHERE schema_name = 'main')
                   WHERE name = ?"""
        row = self.con.execute(query, [name]).fetchone()
        return bool(row and row[0])

    def folded_files(self) -> set[str]:
        """core_events files (lake-relative) whose rows unique_events already holds."""
        rows = self.con.execute(f"SELECT path FROM {STATE_SCHEMA}.folded_files").fetchall()
        return {r[0] for r in rows}

    def expose_sources(
        self,
        tables: TableStore,
        pending_events: Sequence[str] | None,
        roles: Mapping[str, Sequence[RoleTable]] | None = None,
    ) -> None:
        """Point the `lake` views at the current files; `pending_events` (lake-relative
        core_events paths) becomes lake.pending_events unless None (left as it is). Each role
        (cdpflow.roles) becomes one view of its standard fields over its tables."""
        for role, source in ROLE_SOURCES.items():
            body = role_view_sql(tables, role, (roles or {}).get(role, ()))
            self.con.execute(f"CREATE OR REPLACE VIEW lake.{quote(source)} AS {body}")
        versions = []
        for name, columns in SOURCE_TABLES.items():
            snapshot = tables.current(name)
            body = scan_sql(tables, snapshot, columns)
            self.con.execute(f"CREATE OR REPLACE VIEW lake.{quote(name)} AS {body}")
            versions.append((name, snapshot.version if snapshot else -1))
        self.con.executemany(
            f"INSERT OR REPLACE INTO {STATE_SCHEMA}.exposed_sources VALUES (?, ?)", versions
        )
        if pending_events is not None:
            uris = [self.lake.uri(f"core_events/{p}") for p in pending_events]
            self._view("pending_events", uris, CORE_EVENTS_COLUMNS)

    def mark_folded(self, paths: Iterable[str], *, replace: bool) -> None:
        """Record core_events files as folded into unique_events (all of them if `replace`)."""
        rows = [(p,) for p in paths]
        self.con.execute("BEGIN")
        if replace:
            self.con.execute(f"DELETE FROM {STATE_SCHEMA}.folded_files")
        if rows:
            self.con.executemany(
                f"INSERT OR IGNORE INTO {STATE_SCHEMA}.folded_files VALUES (?)", rows
            )
        self.con.execute("COMMIT")

    def _view(self, name: str, uris: Sequence[str], columns: Iterable[tuple[str, str]]) -> None:
        typed = ", ".join(
            f"CAST({quote(c)} AS {duckdb_type(kind)}) AS {quote(c)}" for c, kind in columns
        )
        if uris:
            listed = ", ".join(literal(u) for u in uris)
            body = f"SELECT {typed} FROM read_parquet([{listed}], union_by_name = true)"
        else:
            nulls = ", ".join(
                f"CAST(NULL AS {duckdb_type(kind)}) AS {quote(c)}" for c, kind in columns
            )
            body = f"SELECT {nulls} WHERE false"
        self.con.execute(f"CREATE OR REPLACE VIEW lake.{quote(name)} AS {body}")

    # -- publishing -------------------------------------------------------------------------

    def columns(self, model: str) -> list[tuple[str, str]]:
        """(name, lake type) of a model's table, without cdpflow's bookkeeping columns."""
        rows = self.con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE schema_name = 'main' AND table_name = ? ORDER BY column_index",
            [model],
        ).fetchall()
        return [(n, neutral(t)) for n, t in rows if not n.startswith("_")]

    def partition_counts(
        self, model: str, column: str, since_batch: int
    ) -> dict[str, tuple[int, int]]:
        """partition value -> (rows, rows written by batches after `since_batch`)."""
        rows = self.con.execute(
            f"""SELECT CAST({quote(column)} AS VARCHAR), count(*),
                       count(*) FILTER (WHERE _batch_id > ?)
                FROM main.{quote(model)} GROUP BY 1""",
            [since_batch],
        ).fetchall()
        return {str(value): (int(total), int(new)) for value, total, new in rows}

    def export(self, requests: Sequence[Export]) -> list[list[ExportedFile]]:
        """Write each request's rows as Parquet, one file per partition value (or one for the
        table), every COPY of every request on one pool; the files of each request, none for
        no rows.

        A COPY per value rather than one partitioned COPY, which buffers every row by partition
        first (twice the time); a plain comparison on the column, which DuckDB checks against
        each row group's min/max instead of reading every column of every row.
        """
        copies: list[tuple[str, Path]] = []
        owners: list[tuple[int, str]] = []  # (request, partition value) of each copy
        outs = [LakeOut(self.lake, r.staged, self.settings.work_dir) for r in requests]
        for n, request in enumerate(requests):
            out_dir = outs[n].local
            out_dir.mkdir(parents=True, exist_ok=True)
            typed = self.columns(request.model)
            select = (
                f"SELECT {', '.join(quote(c) for c, _ in typed)} FROM main.{quote(request.model)}"
            )
            if request.partition_by is None:
                copies.append((select, out_dir / "part.parquet"))
                owners.append((n, ""))
                continue
            column, kind = quote(request.partition_by), dict(typed)[request.partition_by]
            newer = (
                "" if request.since_batch is None else f" AND _batch_id > {request.since_batch:d}"
            )
            for i, value in enumerate(request.values):
                where = f"{column} = TRY_CAST({literal(value)} AS {kind}){newer}"
                copies.append((f"{select} WHERE {where}", out_dir / f"part-{i}.parquet"))
                owners.append((n, value))
        # whole marts first: the pool ends on small day files rather than on one large file
        order = sorted(range(len(copies)), key=lambda i: owners[i][1] != "")
        copies, owners = [copies[i] for i in order], [owners[i] for i in order]
        counts = self._copy_all(copies)
        files: list[list[ExportedFile]] = [[] for _ in requests]
        for (n, value), (_, target), rows in zip(owners, copies, counts, strict=True):
            if rows:
                files[n].append(ExportedFile(outs[n].publish(target), rows, value))
        for out in outs:
            out.done()
        return files

    def _copy_all(self, copies: Sequence[tuple[str, Path]]) -> list[int]:
        """Run the COPYs, as many at once as the engine has threads (DuckDB writes a file of a
        day's rows on one thread, and a whole mart's on few); the rows each wrote, in order."""
        workers = max(1, min(self.settings.engine_threads, len(copies)))
        if workers == 1:
            return [_copy(self.con, select, target) for select, target in copies]
        cursors: queue.SimpleQueue[duckdb.DuckDBPyConnection] = queue.SimpleQueue()
        for _ in range(workers):
            cursors.put(self.con.cursor())

        def run(copy: tuple[str, Path]) -> int:
            cursor = cursors.get()
            try:
                return _copy(cursor, *copy)
            finally:
                cursors.put(cursor)

        try:
            with ThreadPoolExecutor(workers) as pool:
                return list(pool.map(run, copies))
        finally:
            while not cursors.empty():
                cursors.get().close()

    def vacuum(self) -> None:
        """Merge the row groups that deleted rows left thin, which this warehouse's own
        checkpoints skip (see _config); the checkpoint needs a change to run, so the vacuum
        is recorded."""
        self.con.execute(f"SET GLOBAL max_vacuum_tasks = {VACUUM_TASKS}")
        self.con.execute(
            f"CREATE TABLE IF NOT EXISTS {STATE_SCHEMA}.vacuums (vacuumed_at TIMESTAMPTZ)"
        )
        self.con.execute(f"INSERT INTO {STATE_SCHEMA}.vacuums VALUES (now())")
        self.con.execute("CHECKPOINT")

    def start_batch(self) -> int:
        """The new run's batch id, above every earlier run's (so `_batch_id > n` means "written
        after n"), recorded as the current run's for the models to read (macro run_batch_id).

        It is a row rather than an env var or a dbt var: dbt re-parses every file that uses an
        env var or var whose value changed, which would cost each run a second of parsing.
        """
        row = self.con.execute(f"SELECT max(batch_id) FROM {STATE_SCHEMA}.batches").fetchone()
        last = int(row[0]) if row and row[0] is not None else 0
        batch_id = max(int(time.time() * 1000), last + 1)
        self.con.execute("BEGIN")
        self.con.execute(f"DELETE FROM {STATE_SCHEMA}.current_run")
        self.con.execute(f"INSERT INTO {STATE_SCHEMA}.current_run VALUES (?)", [batch_id])
        self.con.execute("COMMIT")
        return batch_id

    def code_hashes(self) -> dict[str, str]:
        """model -> fingerprint of the code and settings it was last built with."""
        rows = self.con.execute(f"SELECT model, code_hash FROM {STATE_SCHEMA}.model_code")
        return dict(rows.fetchall())

    def record_code(self, hashes: dict[str, str]) -> None:
        self.con.executemany(
            f"INSERT OR REPLACE INTO {STATE_SCHEMA}.model_code VALUES (?, ?)", list(hashes.items())
        )

    def record_batch(self, batch_id: int) -> None:
        self.con.execute(f"INSERT INTO {STATE_SCHEMA}.batches VALUES (?, now())", [batch_id])

    def dbt_profile(self) -> dict[str, Any]:
        """The dbt-duckdb profile target that builds the models in this warehouse."""
        target: dict[str, Any] = {
            "type": "duckdb",
            "path": str(self.path),
            "threads": 1,
            # set once when the database opens: dbt-duckdb re-applies `settings` on every
            # cursor, and DuckDB refuses a new temp directory once it has spilled there
            "config_options": _config(self.settings),
            # applied to every cursor dbt opens: days are UTC days (see duckdb_engine.connect)
            "settings": {"TimeZone": "UTC"},
        }
        if not self.lake.is_local:
            fs = self.lake.fs
            protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
            target["filesystems"] = [{"fs": protocol, **fs.storage_options}]
        return target


def _copy(con: duckdb.DuckDBPyConnection, select: str, target: Path) -> int:
    """Write `select` to one Parquet file; the rows written."""
    row = con.execute(
        f"COPY ({select}) TO {literal(str(target))} "
        "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 122880)"
    ).fetchone()
    return int(row[0]) if row else 0


def _config(settings: Settings) -> dict[str, Any]:
    spill = settings.work_dir / "duckdb_spill"
    spill.mkdir(parents=True, exist_ok=True)
    return {
        "threads": settings.engine_threads,
        "memory_limit": f"{settings.analytics_memory_bytes // 1_000_000}MB",
        "temp_directory": str(spill),
        # Checkpoints write the run's changes without merging the row groups its deletes
        # thinned: that merge is a large share of an hourly run (bench/README.md), and
        # compression does it daily (DuckDBWarehouse.vacuum).
        "max_vacuum_tasks": 0,
    }
