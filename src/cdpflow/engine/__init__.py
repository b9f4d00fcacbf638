"""The engine seam: jobs ask an engine for heavy work and never learn which one runs.

Two sides. The **query side** (`open_query_engine`: `cdpflow sql`, derived views, the report,
the segments and funnels entity_creation compiles) is DuckDB always, so users write one SQL
dialect whatever runs the batch jobs, and SQL written for that side (`cdpflow.entities`,
`cdpflow.report`) is in that dialect outside this package. The **batch
side** (`open_engine`) is the engine `CDPFLOW_ENGINE` names, picked from `ENGINES`; an engine is
one class, registered there by its import path, that implements `Engine`:

- `name`; `close()`.
- `events_batches(groups)`: flatten and deduplicate raw hours into `EventsBatch`es
  (events_incremental).
- `rewrite_sorted(uris, order_by, staged, target_file_bytes)`: rewrite a partition's files
  sorted (compression).
- `identity()`: the `IdentityIO` of id_stitching_incremental: reduce core_events files to
  identifier observations, load the touched part of the stored graph, find connected
  components, write identities' base or delta. The graph's rules (stable ids, caps, merges,
  conflicts) are the pure code of `cdpflow.identity`, shared by every engine.
- `query(sql, tables)`: the few reads jobs make of lake tables (DuckDB's dialect).

Files an engine writes for a table are named by their place in the lake, never by a local path:
the job gives a lake folder under `_staging/` (`lake.storage.staging_dir`), the engine writes
there and returns each file's lake-relative path (`StagedFile`, `(path, rows)`), and the job
publishes them with `lake.tables.promote`, a rename within the lake. Spark's executors write the
folder themselves; DuckDB, which writes only local paths, writes straight into a local lake's
folder, or on this machine and then puts the files there when the lake is elsewhere
(`duckdb_common.LakeOut`). ELT merges and the warehouse's exports hand back files the same way,
so nothing above the engine handles a local path.

ELT merges (`open_elt_merge`: a pipeline's staged rows merged by primary key into a
merge-on-read table) run on DuckDB whatever the batch engine, like the query side: one stream
from one API is one machine's work.

Every engine reads and writes the same lake layout (`cdpflow.lake`): Parquet files in
versioned snapshots, timestamps as UTC microseconds, so a table one engine wrote is read and
extended by another. The analytics warehouse (dbt) is DuckDB in every configuration.

Only modules in this package import DuckDB or PySpark; they are imported lazily so that DAG files
and the CLI start fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from cdpflow.lake.raw_reader import RawFile
    from cdpflow.lake.storage import Lake
    from cdpflow.lake.tables import Snapshot, TableStore
    from cdpflow.lake.views import ViewFile
    from cdpflow.roles import RoleTable
    from cdpflow.settings import Settings


@dataclass(frozen=True)
class StagedFile:
    """A finished Parquet file staged in the lake, waiting to be promoted into a table."""

    path: str  # lake-relative, under `_staging/`
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

    def write(self, existing_event_files: Sequence[str], staged: str) -> EventsOutput:
        """Deduplicate the group's events (earliest received copy wins, and none already in
        `existing_event_files`) and write Parquet files per (partition, raw hour) under the
        lake folder `staged`."""
        ...


class Engine(Protocol):
    """The batch side of an engine (see the module docstring)."""

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
        self, uris: Sequence[str], order_by: str, staged: str, target_file_bytes: int
    ) -> list[tuple[str, int]]:
        """Rewrite the rows of `uris` sorted by `order_by` into files of about
        `target_file_bytes` under the lake folder `staged`; returns (lake path, rows) per
        file."""
        ...

    def identity(self) -> IdentityIO:
        """The identity graph's reads and writes on this engine."""
        ...

    def close(self) -> None: ...


class IdentityIO(Protocol):
    """The identity graph's heavy reads and writes (the graph itself is pure Python)."""

    def event_observations(self, files: Sequence[str], click_ids: Sequence[str]) -> pa.Table:
        """Identifiers seen together on the events of core_events `files` (graph.OBSERVATIONS)."""
        ...

    def components(self, left: np.ndarray, right: np.ndarray, n: int) -> tuple[int, np.ndarray]:
        """Connected components of links `left[i]`-`right[i]` among nodes 0..n-1: their count
        and each node's component (0..count-1); see `cdpflow.identity.graph.Components`."""
        ...

    def load_people(self, tables: TableStore, touched: pa.Table) -> pa.Table:
        """Stored identities of every member of the people of `touched` identifiers."""
        ...

    def load_links(self, tables: TableStore, ends: pa.Table) -> pa.Table:
        """The ends (identity.schema.LINK_ENDS) of stored links with an end among `ends`."""
        ...

    def write_identities(
        self, tables: TableStore, changed: pa.Table, staged: str, *, keep_old: bool
    ) -> list[tuple[str, int]]:
        """Write identities as one base under the lake folder `staged`: the rows readers see
        not in `changed` (if `keep_old`) plus `changed`; (lake path, rows) per file."""
        ...

    def write_identities_delta(
        self, tables: TableStore, changed: pa.Table, staged: str
    ) -> list[tuple[str, int]]:
        """Write identities' new delta under the lake folder `staged`: the stored delta's rows
        not in `changed` + `changed`."""
        ...


EXTRACT_ORDER = "_cdpflow_order"  # a staged ELT row's place in its extract (never stored)


@dataclass(frozen=True)
class MergeKey:
    """How an ELT resource's rows are merged: its primary key, its cursor and its deletes flag
    (each a column name, or None when the resource has none)."""

    key: tuple[str, ...]
    cursor: str | None
    deletes: str | None


@dataclass
class MergeOutput:
    """Staged files (lake path, rows) to publish into a table, as a new base (replacing every
    file) or as its new delta (replacing the old delta, keeping the base), and what that
    version holds."""

    files: list[tuple[str, int]]
    layer: str  # "base" or "delta"
    superseded_rows: int  # stored rows readers do not see (a delta's shadowed rows, tombstones)
    columns: tuple[tuple[str, str], ...]  # (name, lake type: cdpflow.lake.types)


class EltMerge(Protocol):
    """ELT merges by primary key into merge-on-read tables (see cdpflow.elt.land)."""

    def merge(
        self,
        base: Snapshot | None,
        merge: MergeKey,
        extracted: Sequence[Path],
        staged: str,
        fold_fraction: float,
    ) -> MergeOutput:
        """The run's `extracted` local Parquet files (with EXTRACT_ORDER) merged into `base`
        (None: a new table), written under the lake folder `staged`: a new delta, or a new
        base when the delta would pass `fold_fraction` of the base."""
        ...

    def fold(self, snapshot: Snapshot, merge: MergeKey, staged: str) -> MergeOutput:
        """The rows readers see of `snapshot` (which has a delta) as one new base, written
        under the lake folder `staged`."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Export:
    """Rows of a model to write under the lake folder `staged`: all in one file, or with
    `partition_by`, one file per value of `values`; with `since_batch`, only rows written by
    later runs."""

    model: str
    staged: str
    partition_by: str | None = None
    values: Sequence[str] = ()
    since_batch: int | None = None


@dataclass(frozen=True)
class ExportedFile:
    path: str  # lake-relative, under `_staging/`
    rows: int
    partition: str  # the partition value, "" for a whole-table file


class Warehouse(Protocol):
    """Where the analytics models are built (see cdpflow.jobs.analytics); one writer at a time."""

    def has_table(self, name: str) -> bool: ...

    def folded_files(self) -> set[str]:
        """core_events files (lake-relative) whose rows unique_events already holds."""
        ...

    def expose_sources(
        self,
        tables: TableStore,
        pending_events: Sequence[str] | None,
        roles: Mapping[str, Sequence[RoleTable]] | None = None,
    ) -> None:
        """Point the models' sources at the current table versions, the role tables' too."""
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

    def columns(self, model: str) -> list[tuple[str, str]]:
        """(name, lake type: cdpflow.lake.types) of a model's table, as its snapshot records."""
        ...

    def partition_counts(
        self, model: str, column: str, since_batch: int
    ) -> dict[str, tuple[int, int]]:
        """partition value -> (rows, rows written by runs after `since_batch`)."""
        ...

    def export(self, requests: Sequence[Export]) -> list[list[ExportedFile]]:
        """Write each request's rows as Parquet files staged in the lake, all requests at once;
        the files of each (none for no rows)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class EngineKind:
    """A batch engine `CDPFLOW_ENGINE` can name: its class by import path, so that choosing one
    engine never imports another's libraries."""

    name: str
    target: str  # "module:Class"; the class takes (settings, lake)
    summary: str

    def open(self, settings: Settings, lake: Lake) -> Engine:
        module, _, cls = self.target.partition(":")
        engine: Engine = getattr(importlib.import_module(module), cls)(settings, lake)
        return engine


ENGINES: dict[str, EngineKind] = {
    kind.name: kind
    for kind in (
        EngineKind("duckdb", "cdpflow.engine.duckdb_engine:DuckDBEngine", "embedded, one process"),
        EngineKind(
            "spark",
            "cdpflow.engine.spark_engine:SparkEngine",
            "Apache Spark (pip install 'cdpflow[spark]', Java 17)",
        ),
    )
}


def open_engine(settings: Settings, lake: Lake) -> Engine:
    """The batch engine the settings name, connected to `lake`."""
    kind = ENGINES.get(settings.engine)
    if kind is None:
        raise AssertionError(f"settings accepted unknown engine {settings.engine!r}")
    return kind.open(settings, lake)


def open_query_engine(settings: Settings, lake: Lake) -> Engine:
    """The engine of users' SQL (`cdpflow sql`, derived views): DuckDB whatever the batch
    engine is, so that one dialect serves every deployment."""
    return ENGINES["duckdb"].open(settings, lake)


def open_warehouse(settings: Settings, lake: Lake, path: Path) -> Warehouse:
    """The analytics warehouse, stored at `path`: DuckDB (dbt-duckdb) for every batch engine."""
    from cdpflow.engine.duckdb_analytics import DuckDBWarehouse

    return DuckDBWarehouse(settings, lake, path)


def open_elt_merge(settings: Settings, tables: TableStore) -> EltMerge:
    """The merges of ELT pipelines: DuckDB whatever the batch engine is. A pipeline's extract
    is one stream from one API, so its merge is one machine's work, spilling past the engine's
    memory setting; the tables it writes are the lake layout every engine reads."""
    from cdpflow.engine.duckdb_elt import DuckDBEltMerge

    return DuckDBEltMerge(settings, tables)


def identity_io(engine: Engine) -> IdentityIO:
    """The identity reads and writes of `engine`."""
    return engine.identity()
