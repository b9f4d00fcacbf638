"""The table registry: which Parquet files make up each lake table, as versioned snapshots.

A table is a folder of Parquet files plus `_snapshots/v<N>.json`, each listing the files of one
version. Writers add files under new names and then commit a snapshot; readers resolve a table
through its newest snapshot. So a reader sees a whole version or the one before, never a mix,
and a file replaced by a later version stays readable until cleanup removes it. This is the idea
of Iceberg's and Delta's logs in the smallest form that plain Parquet readers can follow.
"""

from __future__ import annotations

import builtins
import posixpath
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from cdpflow.errors import ConcurrentCommitError, TableNotFoundError
from cdpflow.lake.storage import RESERVED_DIRS, STAGING_DIR, Lake, staging_dir
from cdpflow.lake.types import neutral

if TYPE_CHECKING:
    import pyarrow as pa

SNAPSHOTS_DIR = "_snapshots"
LATEST = "LATEST"
# merge-on-read tables (lake.merge_on_read): delta files' partition, and the base rows they replace
LAYER, DELTA_LAYER, SUPERSEDED_ROWS = "layer", "delta", "superseded_rows"


@dataclass(frozen=True)
class DataFile:
    """One Parquet file of a table. `owner` names the unit(s) of work whose rows it holds (raw
    hours), so re-running a unit knows which files to replace."""

    path: str  # relative to the table folder
    rows: int
    bytes: int
    owner: str = ""  # comma-separated when compaction merged the output of several units
    partition: Mapping[str, str] = field(default_factory=dict)

    @property
    def owners(self) -> frozenset[str]:
        return frozenset(self.owner.split(",")) if self.owner else frozenset()


@dataclass(frozen=True)
class Snapshot:
    """One committed version of a table."""

    table: str
    version: int
    committed_at: str
    operation: str
    files: tuple[DataFile, ...]
    columns: tuple[tuple[str, str], ...]  # (name, lake type) so an empty table has a schema
    properties: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Rows a reader sees: merge-on-read delta rows stand in for the base rows they replace."""
        has_delta = any(f.partition.get(LAYER) == DELTA_LAYER for f in self.files)
        superseded = int(self.properties.get(SUPERSEDED_ROWS, 0)) if has_delta else 0
        return sum(f.rows for f in self.files) - superseded

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def to_json(self) -> builtins.bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: builtins.bytes) -> Snapshot:
        raw = orjson.loads(data)
        return cls(
            table=raw["table"],
            version=raw["version"],
            committed_at=raw["committed_at"],
            operation=raw["operation"],
            files=tuple(DataFile(**f) for f in raw["files"]),
            columns=lake_columns((c[0], c[1]) for c in raw["columns"]),  # older: DuckDB names
            properties=raw.get("properties", {}),
        )


class TableStore:
    """Reads and commits table snapshots in a lake."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def names(self) -> list[str]:
        """Tables that have at least one committed snapshot."""
        return [
            name
            for name in self.lake.listdir("")
            if name not in RESERVED_DIRS and self.lake.exists(f"{name}/{SNAPSHOTS_DIR}/{LATEST}")
        ]

    def current(self, table: str) -> Snapshot | None:
        """The newest committed snapshot, or None for a table never written."""
        base = f"{table}/{SNAPSHOTS_DIR}"
        if not self.lake.exists(f"{base}/{LATEST}"):
            return None
        version = int(self.lake.read_bytes(f"{base}/{LATEST}").strip())
        # The hint is written after the snapshot, so a crash between the two leaves it one behind.
        while self.lake.exists(_snapshot_path(table, version + 1)):
            version += 1
        return Snapshot.from_json(self.lake.read_bytes(_snapshot_path(table, version)))

    def get(self, table: str) -> Snapshot:
        snapshot = self.current(table)
        if snapshot is None:
            raise TableNotFoundError(table, self.names())
        return snapshot

    def file_uris(self, snapshot: Snapshot) -> list[str]:
        return [self.lake.uri(f"{snapshot.table}/{f.path}") for f in snapshot.files]

    def commit(
        self,
        table: str,
        base: Snapshot | None,
        *,
        operation: str,
        add: Iterable[DataFile] = (),
        remove: Callable[[DataFile], bool] = lambda f: False,
        columns: Iterable[tuple[str, str]] | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> Snapshot:
        """Publish a new version: the files of `base` minus `remove`d ones plus `add`.

        Raises:
            ConcurrentCommitError: another writer committed on top of `base` first.
        """
        version = (base.version if base else 0) + 1
        kept = tuple(f for f in (base.files if base else ()) if not remove(f))
        snapshot = Snapshot(
            table=table,
            version=version,
            committed_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            operation=operation,
            files=kept + tuple(add),
            columns=lake_columns(columns)
            if columns is not None
            else (base.columns if base else ()),
            properties=dict(
                properties if properties is not None else (base.properties if base else {})
            ),
        )
        if not self.lake.create_exclusive(_snapshot_path(table, version), snapshot.to_json()):
            raise ConcurrentCommitError(table, version)
        self.lake.write_bytes(f"{table}/{SNAPSHOTS_DIR}/{LATEST}", str(version).encode())
        return snapshot


def lake_columns(columns: Iterable[tuple[str, str | pa.DataType]]) -> tuple[tuple[str, str], ...]:
    """(name, type) with each type in the lake's engine-neutral names (`lake.types`)."""
    return tuple((name, neutral(kind)) for name, kind in columns)


def _snapshot_path(table: str, version: int) -> str:
    return f"{table}/{SNAPSHOTS_DIR}/v{version:08d}.json"


def promote(
    lake: Lake,
    table: str,
    staged: str,
    rows: int,
    *,
    owner: str = "",
    partition: Mapping[str, str] | None = None,
    tag: str = "",
) -> DataFile:
    """Move a finished Parquet file staged in the lake (`staged`, lake-relative, under
    `_staging/`) into `table`'s folder (under its partition's folder, `column=value/`) with a
    fresh name, `part-[<tag>-]<random>.parquet`: the one way a writer adds a file to a table.
    A rename within the lake (`Lake.move`), so no reader ever sees part of the file; nothing
    refers to it until a commit lists the DataFile."""
    if not staged.startswith(f"{STAGING_DIR}/"):
        raise ValueError(f"{staged!r} is not a staged file (under {STAGING_DIR}/)")
    where = dict(partition or {})
    folder = "".join(f"{column}={value}/" for column, value in where.items())
    rel = f"{folder}part-{tag + '-' if tag else ''}{uuid.uuid4().hex[:16]}.parquet"
    size = lake.size(staged)
    lake.move(staged, f"{table}/{rel}")
    return DataFile(rel, rows, size, owner, where)


def promote_rows(
    lake: Lake,
    table: str,
    rows: pa.Table,
    *,
    owner: str = "",
    partition: Mapping[str, str] | None = None,
) -> DataFile:
    """`rows` written as a zstd Parquet file staged in the lake, then promoted into `table`
    (`promote`)."""
    import pyarrow.parquet as pq

    staged = f"{staging_dir(table)}.parquet"
    lake.makedirs(posixpath.dirname(staged))
    try:
        with lake.open(staged, "wb") as out:
            pq.write_table(rows, out, compression="zstd")
        return promote(lake, table, staged, rows.num_rows, owner=owner, partition=partition)
    finally:
        lake.remove(staged)  # only there when the write or the move failed
