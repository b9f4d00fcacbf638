"""The engine boundary: jobs ask an Engine for heavy work and never learn which one runs.

Only modules in this package import DuckDB (or, later, PySpark); they are imported lazily so that
DAG files and the CLI start fast.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from cdpflow.lake.raw_reader import RawFile
    from cdpflow.lake.storage import Lake
    from cdpflow.lake.tables import TableStore
    from cdpflow.lake.views import ViewFile
    from cdpflow.settings import Settings


@dataclass(frozen=True)
class StagedFile:
    """A finished local Parquet file waiting to be moved into a table."""

    local_path: Path
    partition: dict[str, str]
    owner: str
    rows: int


@dataclass
class FlattenCounts:
    """What one chunk of raw lines turned into."""

    events: int = 0
    quarantined: int = 0


@dataclass
class EventsOutput:
    """Deduplicated core_events and quarantine files of one group of raw hours."""

    events: list[StagedFile] = field(default_factory=list)
    quarantine: list[StagedFile] = field(default_factory=list)
    duplicates: int = 0


class EventsBatch(Protocol):
    """One group of raw hours, flattened (perhaps in the background), then written once."""

    def flattened(self) -> FlattenCounts:
        """What the group's raw lines turned into, once all of them are flattened."""
        ...

    def event_date_range(self) -> tuple[str, str] | None:
        """First and last event_date among the group's events; None when there are none."""
        ...

    def write(self, existing_event_files: Sequence[str], out_dir: Path) -> EventsOutput:
        """Deduplicate the group's events (earliest received copy wins, and none already in
        `existing_event_files`) and write Parquet files per (partition, raw hour)."""
        ...


class Engine(Protocol):
    name: str

    def events_batches(self, groups: Sequence[Sequence[RawFile]]) -> Iterator[EventsBatch]:
        """A batch per group of raw files (whole raw hours), in order. The caller writes each
        batch before taking the next; the engine may flatten the next group meanwhile."""
        ...

    def query(self, sql: str, tables: TableStore) -> pa.Table:
        """Run SQL in which lake tables and recorded derived views are visible by name."""
        ...

    def check_views(
        self, tables: TableStore, views: Sequence[ViewFile]
    ) -> tuple[list[str], dict[str, str]]:
        """Create `views` over the lake tables (and each other): the names that worked, in an
        order they can be created in, and view name -> error for those that did not."""
        ...

    def rewrite_sorted(
        self, uris: Sequence[str], order_by: str, out_dir: Path, target_file_bytes: int
    ) -> list[tuple[Path, int]]:
        """Rewrite the rows of `uris` sorted by `order_by` into local files of about
        `target_file_bytes`; returns (path, rows) per file."""
        ...

    def close(self) -> None: ...


class IdentityIO(Protocol):
    """The identity graph's heavy reads and writes (the graph itself is pure Python)."""

    def event_observations(self, files: Sequence[str], click_ids: Sequence[str]) -> pa.Table:
        """Identifiers seen together on the events of core_events `files` (graph.OBSERVATIONS)."""
        ...

    def load_people(self, tables: TableStore, touched: pa.Table) -> pa.Table:
        """Stored identities of every member of the people of `touched` identifiers."""
        ...

    def load_links(self, tables: TableStore, ends: pa.Table) -> pa.Table:
        """The ends (identity.schema.LINK_ENDS) of stored links with an end among `ends`."""
        ...

    def write_identities(
        self, tables: TableStore, changed: pa.Table, out_dir: Path, *, keep_old: bool
    ) -> list[tuple[Path, int]]:
        """Write identities as one base: the rows readers see not in `changed` (if `keep_old`)
        plus `changed`."""
        ...

    def write_identities_delta(
        self, tables: TableStore, changed: pa.Table, out_dir: Path
    ) -> list[tuple[Path, int]]:
        """Write identities' new delta: the stored delta's rows not in `changed` + `changed`."""
        ...


@dataclass(frozen=True)
class Export:
    """Rows of a model to write under `out_dir`: all in one file, or with `partition_by`, one
    file per value of `values`; with `since_batch`, only rows written by later runs."""

    model: str
    out_dir: Path
    partition_by: str | None = None
    values: Sequence[str] = ()
    since_batch: int | None = None


@dataclass(frozen=True)
class ExportedFile:
    path: Path
    rows: int
    partition: str  # the partition value, "" for a whole-table file


class Warehouse(Protocol):
    """Where the analytics models are built (see cdpflow.jobs.analytics); one writer at a time."""

    def has_table(self, name: str) -> bool: ...

    def folded_files(self) -> set[str]:
        """core_events files (lake-relative) whose rows unique_events already holds."""
        ...

    def expose_sources(self, tables: TableStore, pending_events: Sequence[str] | None) -> None:
        """Point the models' sources at the current table versions."""
        ...

    def mark_folded(self, paths: Sequence[str], *, replace: bool) -> None: ...

    def start_batch(self) -> int: ...

    def record_batch(self, batch_id: int) -> None: ...

    def vacuum(self) -> None:
        """Reclaim what the runs' deletes left behind (compression does it daily)."""
        ...

    def code_hashes(self) -> dict[str, str]:
        """model -> fingerprint of the code and settings it was last built with."""
        ...

    def record_code(self, hashes: dict[str, str]) -> None: ...

    def dbt_profile(self) -> dict[str, Any]:
        """The dbt profile target that builds the models here."""
        ...

    def columns(self, model: str) -> list[tuple[str, str]]: ...

    def partition_counts(
        self, model: str, column: str, since_batch: int
    ) -> dict[str, tuple[int, int]]:
        """partition value -> (rows, rows written by runs after `since_batch`)."""
        ...

    def export(self, requests: Sequence[Export]) -> list[list[ExportedFile]]:
        """Write each request's rows as local Parquet files, all requests at once; the files
        of each (none for no rows)."""
        ...

    def close(self) -> None: ...


def open_warehouse(settings: Settings, lake: Lake, path: Path) -> Warehouse:
    """The analytics warehouse of the settings' engine, stored at `path`."""
    if settings.engine == "duckdb":
        from cdpflow.engine.duckdb_analytics import DuckDBWarehouse

        return DuckDBWarehouse(settings, lake, path)
    raise AssertionError(f"settings accepted unknown engine {settings.engine!r}")


def identity_io(engine: Engine) -> IdentityIO:
    """The identity reads and writes of `engine`."""
    if engine.name == "duckdb":
        from cdpflow.engine.duckdb_identity import DuckDBIdentityIO

        return DuckDBIdentityIO(engine)  # type: ignore[arg-type]
    raise AssertionError(f"no identity support in engine {engine.name!r}")


def open_engine(settings: Settings, lake: Lake) -> Engine:
    """The engine the settings name, connected to `lake`."""
    if settings.engine == "duckdb":
        from cdpflow.engine.duckdb_engine import DuckDBEngine

        return DuckDBEngine(settings, lake)
    raise AssertionError(f"settings accepted unknown engine {settings.engine!r}")
