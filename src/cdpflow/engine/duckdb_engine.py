"""The DuckDB engine: the embedded default, one process, spilling to local disk past its budget."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from cdpflow.engine.duckdb_common import LakeOut, connect, literal, quote
from cdpflow.errors import QueryError
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import Snapshot, TableStore
from cdpflow.lake.views import ViewFile, load_catalog
from cdpflow.settings import Settings

if TYPE_CHECKING:
    # DuckDB and the scan (which imports pyarrow's Parquet and compute modules) are imported
    # where they are used: events_incremental opens the engine, then starts its worker
    # processes, which start up sooner by a tenth of a second without them.
    import duckdb
    import pyarrow as pa

    from cdpflow.engine import EventsBatch
    from cdpflow.engine.duckdb_identity import DuckDBIdentityIO
    from cdpflow.lake.raw_reader import RawFile

log = logging.getLogger(__name__)


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, settings: Settings, lake: Lake) -> None:
        self.settings = settings
        self.lake = lake
        self._events_workers: list[Any] = []

    @functools.cached_property
    def con(self) -> duckdb.DuckDBPyConnection:
        """This process's DuckDB, made on first use: events_incremental starts its worker
        processes first, so they start up while it connects."""
        spill = self.settings.work_dir / "duckdb_spill"
        spill.mkdir(parents=True, exist_ok=True)
        con = connect(
            config={
                "threads": self.settings.engine_threads,
                "memory_limit": f"{self.settings.engine_memory_bytes // 1_000_000}MB",
                "temp_directory": str(spill),
                "preserve_insertion_order": False,
            }
        )
        if not self.lake.is_local:
            con.register_filesystem(self.lake.fs)
        return con

    def close(self) -> None:
        for worker in self._events_workers:
            worker.close()
        if "con" in self.__dict__:  # connected
            self.con.close()

    # -- events -----------------------------------------------------------------------------

    def events_batches(self, groups: Sequence[Sequence[RawFile]]) -> Iterator[EventsBatch]:
        from cdpflow.engine.duckdb_workers import start_workers

        if not self._events_workers:  # first, so the workers start up while DuckDB loads here
            input_bytes = sum(f.size for group in groups for f in group)
            self._events_workers = start_workers(
                self.settings, lambda: self.con, self.lake, input_bytes
            )
        from cdpflow.engine.duckdb_events_batches import events_batches

        scratch = self.settings.work_dir / "events_scratch" / uuid.uuid4().hex
        return events_batches(self.con, self._events_workers, groups, scratch)

    def identity(self) -> DuckDBIdentityIO:
        from cdpflow.engine.duckdb_identity import DuckDBIdentityIO

        return DuckDBIdentityIO(self)

    # -- upkeep -----------------------------------------------------------------------------

    def rewrite_sorted(
        self, uris: Sequence[str], order_by: str, staged: str, target_file_bytes: int
    ) -> list[tuple[str, int]]:
        out = LakeOut(self.lake, staged, self.settings.work_dir)
        out_dir = out.fresh()
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
        return out.publish_counted(self.con, sorted(out_dir.glob("*.parquet")))

    # -- queries ----------------------------------------------------------------------------

    def register_tables(self, tables: TableStore) -> list[str]:
        """Create a view per lake table over its current snapshot's files, then the derived
        views the last derived_views run recorded."""
        import duckdb

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
        import duckdb

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
        from cdpflow.engine.duckdb_scan import scan_sql

        return scan_sql(tables, snapshot)

    def query(self, sql: str, tables: TableStore) -> pa.Table:
        import duckdb

        names = self.register_tables(tables)
        try:
            return self.con.sql(sql).to_arrow_table()
        except duckdb.Error as err:
            raise QueryError(str(err).split("\n")[0], names) from err
