"""sync_superset_tables: every lake table is a Superset dataset with its current files and columns.

Creates the cdpflow database in Superset when missing; creates a dataset per lake table, points
it at the table's current snapshot when that changed and refreshes its columns when the
table's schema changed; removes a dataset cdpflow made whose table is gone. Datasets and
databases users made are never touched, and a run with nothing new changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from cdpflow.errors import TerminalError
from cdpflow.jobs import Interval
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.settings import Settings
from cdpflow.superset.client import SupersetClient, SupersetError
from cdpflow.superset.lake_datasets import (
    DATABASE_NAME,
    DATABASE_URI,
    database_uuid,
    dataset_sql,
    dataset_uuid,
    published_tables,
)
from cdpflow.superset.runtime import superset_credentials

log = logging.getLogger(__name__)


@dataclass
class SyncTablesResult:
    database_created: bool = False
    created: list[str] = field(default_factory=list)
    repointed: list[str] = field(default_factory=list)  # new snapshot files, same columns
    refreshed: list[str] = field(default_factory=list)  # columns changed
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # name taken by a user's dataset
    unchanged: int = 0

    @property
    def changes(self) -> int:
        return (
            int(self.database_created)
            + len(self.created)
            + len(self.repointed)
            + len(self.refreshed)
            + len(self.removed)
        )

    def summary(self) -> str:
        lines = [
            f"sync_superset_tables: {len(self.created)} created, {len(self.refreshed)} refreshed, "
            f"{len(self.repointed)} re-pointed, {len(self.removed)} removed, "
            f"{self.unchanged} unchanged"
            + ("; database `cdpflow` created" if self.database_created else "")
        ]
        lines += [f"  created {t}" for t in self.created]
        lines += [f"  refreshed columns of {t}" for t in self.refreshed]
        lines += [f"  removed {t} (its lake table is gone)" for t in self.removed]
        lines += [
            f"  skipped {t}: a dataset of that name exists, not made by cdpflow"
            for t in self.skipped
        ]
        return "\n".join(lines)


def cdpflow_database(client: SupersetClient) -> tuple[int, bool]:
    """The id of the cdpflow database in Superset (created when missing) and whether it was."""
    ours = database_uuid()
    for row in client.databases():
        if row.get("uuid") == ours:
            return int(row["id"]), False
        if row.get("database_name") == DATABASE_NAME:
            raise TerminalError(
                f"Superset already has a database named `{DATABASE_NAME}` that cdpflow did not "
                "make; rename it in Superset (cdpflow never changes users' databases)."
            )
    return client.create_database(
        DATABASE_NAME, DATABASE_URI, {"allows_virtual_table_explore": True}, ours
    ), True


def run(
    settings: Settings,
    interval: Interval | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> SyncTablesResult:
    """Bring Superset's cdpflow datasets in line with the lake's current tables."""
    client = SupersetClient(settings.superset_base_url, superset_credentials(settings))
    result = sync_datasets(client, TableStore(Lake(settings.lake_url)))
    log.info(result.summary())
    return result


def sync_datasets(client: SupersetClient, store: TableStore) -> SyncTablesResult:
    """The sync itself, on a logged-in client (sync_superset_dashboard runs it first too, so
    its charts never point at a missing or stale dataset)."""
    result = SyncTablesResult()
    database_id, result.database_created = cdpflow_database(client)
    existing = {row["table_name"]: row for row in client.datasets(database_id)}
    tables = published_tables(store)
    for table, snapshot in tables.items():
        sql = dataset_sql(store, snapshot)
        row = existing.get(table)
        if row is None:
            try:
                client.create_dataset(database_id, table, sql, dataset_uuid(table))
            except SupersetError as err:
                raise TerminalError(f"Creating Superset dataset `{table}` failed: {err}") from err
            result.created.append(table)
            continue
        if row.get("uuid") != dataset_uuid(table):
            result.skipped.append(table)
            continue
        detail = client.dataset(int(row["id"]))
        shown = sorted(c["column_name"] for c in detail.get("columns", []))
        wanted = sorted(name for name, _ in snapshot.columns)
        if detail.get("sql") != sql:
            client.update_dataset(int(row["id"]), sql=sql)
        if shown != wanted:
            client.refresh_dataset(int(row["id"]))
            result.refreshed.append(table)
        elif detail.get("sql") != sql:
            result.repointed.append(table)
        else:
            result.unchanged += 1
    for table, row in existing.items():
        if table not in tables and row.get("uuid") == dataset_uuid(table):
            client.delete_dataset(int(row["id"]))
            result.removed.append(table)
    return result
