"""What every DuckDB module of the engine shares: connections whose days are UTC days, SQL
quoting, Parquet row counts, the lake folders DuckDB writes into. A leaf: it imports nothing of
the engine, so the modules that use it (the engine, its events workers, identity, analytics,
ELT) never import one another for it."""

from __future__ import annotations

import posixpath
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdpflow.lake.storage import Lake

if TYPE_CHECKING:  # imported by `connect`: a job can start its workers before importing it
    import duckdb


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


def connect(
    database: str = ":memory:", config: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection whose days are UTC days (event_date, session_date, ...): DuckDB casts
    a TIMESTAMPTZ to a DATE in the session's time zone, which is the host's unless set."""
    import duckdb

    con = duckdb.connect(database, config=config or {})
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    return con


class LakeOut:
    """A lake folder (under `_staging/`) that DuckDB writes files into, named by its lake path.

    DuckDB writes only local paths: on a local lake `local` is that folder itself, so nothing is
    copied; on any other lake it is the same path below the local folder `work`, whose files
    `publish` puts into the lake. Either way the engine hands back lake paths only.
    """

    def __init__(self, lake: Lake, rel: str, work: Path) -> None:
        self.lake = lake
        self.rel = rel
        self.work = work
        self.scratch = work / rel
        self.local = Path(lake.full(rel)) if lake.is_local else self.scratch

    def sub(self, name: str) -> LakeOut:
        return LakeOut(self.lake, f"{self.rel}/{name}", self.work)

    def fresh(self) -> Path:
        """`local`, made empty (a retried write starts over)."""
        shutil.rmtree(self.local, ignore_errors=True)
        self.local.mkdir(parents=True)
        return self.local

    def publish(self, path: Path) -> str:
        """The lake path of the file DuckDB wrote at `path` (below `local`), put into the lake
        first when the lake is elsewhere."""
        rel = posixpath.join(self.rel, path.relative_to(self.local).as_posix())
        if not self.lake.is_local:
            self.lake.put(path, rel)
        return rel

    def publish_counted(
        self, con: duckdb.DuckDBPyConnection, files: Sequence[Path], *, drop_empty: bool = False
    ) -> list[tuple[str, int]]:
        """(lake path, rows) of files DuckDB wrote below `local`, published; without the empty
        ones when `drop_empty`. The local scratch folder goes once its files are in the lake."""
        counts = parquet_row_counts(con, files)
        out = [(self.publish(f), counts[str(f)]) for f in files if counts[str(f)] or not drop_empty]
        self.done()
        return out

    def done(self) -> None:
        """Drop the local scratch folder of a lake elsewhere (its files are in the lake now)."""
        if not self.lake.is_local:
            shutil.rmtree(self.scratch, ignore_errors=True)
