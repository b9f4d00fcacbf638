"""sync_superset_dashboard: the dashboards cdpflow ships, and the bundles users drop in
$CDPFLOW_HOME/superset/dashboards/, are in Superset; a dashboard is re-imported only when its
bundle changed, so edits made in Superset survive until then.

Each new or changed bundle is imported with overwrite in three steps, because Superset's
dashboard import keeps existing charts and datasets as they are: the bundle's own datasets
(never the lake datasets sync_superset_tables owns), its charts, then its dashboards. The
checksum of every imported bundle is kept per Superset in lake table
`superset_dashboard_imports`. A bundle that fails names its file and Superset's reason; the
others still import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from cdpflow.activation.records import TS
from cdpflow.errors import ConcurrentCommitError, TerminalError
from cdpflow.jobs import Interval, job_lock
from cdpflow.jobs.sync_superset_tables import sync_datasets
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore, promote_rows
from cdpflow.lake.types import schema_columns
from cdpflow.settings import Settings
from cdpflow.superset.bundles import (
    BundleError,
    FittedBundle,
    bundle_sources,
    fit_to_lake,
    read_bundle,
)
from cdpflow.superset.client import SupersetClient, SupersetError
from cdpflow.superset.lake_datasets import dataset_sql, published_tables
from cdpflow.superset.runtime import superset_credentials

log = logging.getLogger(__name__)

IMPORTS_TABLE = "superset_dashboard_imports"
IMPORTS = pa.schema(
    [
        ("superset_base_url", pa.string()),
        ("bundle", pa.string()),  # shipped/<name> or user/<file>
        ("source", pa.string()),
        ("checksum", pa.string()),
        ("dashboards", pa.string()),
        ("charts", pa.int64()),
        ("left_out", pa.string()),  # charts whose lake table did not exist yet
        ("imported_at", TS),
    ]
)


@dataclass
class SyncDashboardResult:
    imported: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # none of its tables exist yet
    failed: list[str] = field(default_factory=list)  # "<file>: <reason>"
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def changes(self) -> int:
        return len(self.imported)

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        lines = [
            f"sync_superset_dashboard: {len(self.imported)} bundle(s) {verb}, "
            f"{len(self.unchanged)} unchanged, {len(self.failed)} failed"
            + (f", {len(self.waiting)} waiting for their tables" if self.waiting else "")
        ]
        lines += [f"  {verb} {name}" for name in self.imported]
        lines += [f"  {note}" for note in self.notes]
        lines += [f"  waiting: {name} (none of its lake tables exist yet)" for name in self.waiting]
        lines += [f"  FAILED {failure}" for failure in self.failed]
        return "\n".join(lines)


def run(
    settings: Settings,
    interval: Interval | None = None,
    *,
    full_rebuild: bool = False,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SyncDashboardResult:
    """Import the bundles that are new or changed since they were last imported into this
    Superset (`full_rebuild`: every bundle); a failed bundle fails the run after the others."""
    with job_lock(settings, "sync_superset_dashboard", wait_seconds=60):
        result = sync_dashboards(settings, full_rebuild=full_rebuild, dry_run=dry_run)
    log.info(result.summary())
    if result.failed:
        raise TerminalError(result.summary())
    return result


def sync_dashboards(
    settings: Settings, *, full_rebuild: bool = False, dry_run: bool = False
) -> SyncDashboardResult:
    client = SupersetClient(settings.superset_base_url, superset_credentials(settings))
    lake = Lake(settings.lake_url)
    store = TableStore(lake)
    result = SyncDashboardResult(dry_run=dry_run)
    if not dry_run:
        sync_datasets(client, store)  # charts must never point at a missing or stale dataset
    tables = published_tables(store)
    imported = imported_bundles(store, client.base_url)
    records: dict[str, dict[str, object]] = {}
    for key, path in bundle_sources(settings):
        try:
            fitted = fit_to_lake(read_bundle(key, path), tables, lambda s: dataset_sql(store, s))
        except BundleError as err:
            result.failed.append(f"{err.source}: {err.reason}")
            continue
        name = f"{key} ({', '.join(fitted.dashboards)})"
        if fitted.charts == 0 and fitted.left_out:
            result.waiting.append(name)
            continue
        if not full_rebuild and imported.get(key) == fitted.checksum:
            result.unchanged.append(name)
            continue
        if not dry_run:
            try:
                import_fitted(client, fitted)
            except SupersetError as err:
                result.failed.append(f"{fitted.bundle.source}: {err.reason or err}")
                continue
            records[key] = record(client.base_url, fitted)
        result.imported.append(name)
        if fitted.left_out:
            result.notes.append(
                f"{key}: left out until their tables exist: "
                + ", ".join(
                    f"{chart} ({table})" for chart, table in sorted(fitted.left_out.items())
                )
            )
    if records:
        remember_imports(settings, store, client.base_url, records)
    return result


def import_fitted(client: SupersetClient, fitted: FittedBundle) -> None:
    """Datasets, charts, then dashboards, each with overwrite (see the module doc)."""
    name = fitted.bundle.key.replace("/", "_") + ".zip"
    for kind in ("dataset", "chart", "dashboard"):
        data = fitted.zip_for(kind)
        if data is not None:
            client.import_bundle(kind, name, data, overwrite=True)


def imported_bundles(store: TableStore, base_url: str) -> dict[str, str]:
    """bundle -> checksum last imported into the Superset at `base_url`."""
    rows = _read_imports(store)
    return {
        str(r["bundle"]): str(r["checksum"]) for r in rows if r["superset_base_url"] == base_url
    }


def record(base_url: str, fitted: FittedBundle) -> dict[str, object]:
    return {
        "superset_base_url": base_url,
        "bundle": fitted.bundle.key,
        "source": fitted.bundle.source,
        "checksum": fitted.checksum,
        "dashboards": ", ".join(fitted.dashboards),
        "charts": fitted.charts,
        "left_out": ", ".join(sorted(fitted.left_out)),
        "imported_at": datetime.now(UTC),
    }


def remember_imports(
    settings: Settings, store: TableStore, base_url: str, records: dict[str, dict[str, object]]
) -> None:
    """Replace this Superset's rows for the bundles in `records`, in one commit."""
    lake = store.lake
    for _ in range(20):
        base = store.current(IMPORTS_TABLE)
        kept = [
            r
            for r in _read_imports(store)
            if not (r["superset_base_url"] == base_url and r["bundle"] in records)
        ]
        rows = sorted(
            [*kept, *records.values()],
            key=lambda r: (str(r["superset_base_url"]), str(r["bundle"])),
        )
        imports = pa.Table.from_pylist(rows, schema=IMPORTS)
        added = promote_rows(lake, IMPORTS_TABLE, imports)
        try:
            store.commit(
                IMPORTS_TABLE,
                base,
                operation="sync_superset_dashboard",
                add=[added],
                remove=lambda f: True,
                columns=schema_columns(IMPORTS),
            )
            return
        except ConcurrentCommitError:
            lake.remove(f"{IMPORTS_TABLE}/{added.path}")
    raise ConcurrentCommitError(IMPORTS_TABLE, -1)


def _read_imports(store: TableStore) -> list[dict[str, object]]:
    snapshot = store.current(IMPORTS_TABLE)
    if snapshot is None:
        return []
    rows: list[dict[str, object]] = []
    for f in snapshot.files:
        with store.lake.open(f"{IMPORTS_TABLE}/{f.path}") as handle:
            rows.extend(pq.read_table(handle, schema=IMPORTS).to_pylist())
    return rows
