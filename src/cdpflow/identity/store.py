"""The identity graph in the lake: four tables and the state of what has been read.

`identities` is the graph's state: its snapshot's properties record which core_events files and
offline files were already read, so the state and the data are committed together. It is a
merge-on-read table (`lake.merge_on_read`): a run publishes its changed rows as a new delta over
the base and folds them into a new base only once the delta has grown. Files a commit replaces
stay readable until cleanup_temp_tables removes them, so an analytics run still reading the
previous version (the delta is replaced every run) is never left without its files.
`identity_edges`, `identity_merges` and `identity_conflicts` grow by one file per run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from cdpflow.identity.schema import (
    IDENTITIES,
    IDENTITY_CONFLICTS,
    IDENTITY_EDGES,
    IDENTITY_MERGES,
)
from cdpflow.lake.merge_on_read import delta_file, is_delta, layout_properties
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, Snapshot, TableStore, promote, promote_rows
from cdpflow.lake.types import schema_columns

IDENTITIES_TABLE = "identities"
EDGES_TABLE = "identity_edges"
MERGES_TABLE = "identity_merges"
CONFLICTS_TABLE = "identity_conflicts"
OWNER = "id_stitching_incremental"  # the owner of every file the store writes
IDENTITY_KEY = ("identifier_type", "identifier_value")  # one row per key in identities
SCHEMAS = {
    IDENTITIES_TABLE: IDENTITIES,
    EDGES_TABLE: IDENTITY_EDGES,
    MERGES_TABLE: IDENTITY_MERGES,
    CONFLICTS_TABLE: IDENTITY_CONFLICTS,
}


@dataclass(frozen=True)
class ReadState:
    """What earlier runs already read: core_events file paths and offline file fingerprints."""

    core_files: frozenset[str] = frozenset()
    offline_files: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, snapshot: Snapshot | None) -> ReadState:
        if snapshot is None:
            return cls()
        props = snapshot.properties
        return cls(
            frozenset(props.get("core_events_files", ())), dict(props.get("offline_files", {}))
        )

    def properties(self) -> dict[str, Any]:
        return {
            "core_events_files": sorted(self.core_files),
            "offline_files": dict(sorted(self.offline_files.items())),
        }


class IdentityStore:
    """Publishes identity tables' files and commits their snapshots."""

    def __init__(self, lake: Lake, tables: TableStore) -> None:
        self.lake = lake
        self.tables = tables

    def append(self, table: str, rows: pa.Table, operation: str) -> Snapshot | None:
        """Add `rows` as one new file of `table` (nothing when empty and the table exists)."""
        base = self.tables.current(table)
        if rows.num_rows == 0 and base is not None:
            return base
        add = [self._publish_arrow(table, rows)] if rows.num_rows else []
        return self.tables.commit(
            table, base, operation=operation, add=add, columns=schema_columns(SCHEMAS[table])
        )

    def replace(self, table: str, rows: pa.Table, operation: str) -> Snapshot:
        """Make `rows` the whole of `table`."""
        base = self.tables.current(table)
        add = [self._publish_arrow(table, rows)] if rows.num_rows else []
        snapshot = self.tables.commit(
            table,
            base,
            operation=operation,
            add=add,
            remove=lambda f: True,
            columns=schema_columns(SCHEMAS[table]),
        )
        return snapshot

    def commit_identities(
        self,
        files: list[tuple[str, int]],
        *,
        delta: bool,
        rows: int,
        state: ReadState,
        operation: str,
    ) -> Snapshot:
        """Publish identities files with the read state, in one commit: as the new delta (the
        base stays), or as a new base replacing every file.

        Args:
            files: (staged lake path, rows) of the written files.
            delta: whether `files` are the new delta rather than a whole new base.
            rows: the rows readers see in the new version (one per identifier).
        """
        base = self.tables.current(IDENTITIES_TABLE)
        published = [
            promote(self.lake, IDENTITIES_TABLE, path, n, owner=OWNER) for path, n in files
        ]
        add = (
            [delta_file(f.path, f.rows, f.bytes, f.owner) for f in published]
            if delta
            else published
        )
        replaced = is_delta if delta else (lambda f: True)
        kept = [f for f in (base.files if base else ()) if not replaced(f)]
        superseded = sum(f.rows for f in kept + add) - rows
        snapshot = self.tables.commit(
            IDENTITIES_TABLE,
            base,
            operation=operation,
            add=add,
            remove=replaced,
            columns=schema_columns(IDENTITIES),
            properties={**state.properties(), **layout_properties(IDENTITY_KEY, superseded)},
        )
        return snapshot

    def _publish_arrow(self, table: str, rows: pa.Table) -> DataFile:
        return promote_rows(self.lake, table, rows.cast(SCHEMAS[table]), owner=OWNER)
