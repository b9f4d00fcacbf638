"""compression: rewrite each closed partition's many small files into a few sorted ones.

Hourly runs and backfills leave a file per (partition, raw hour). Compaction rewrites a closed
partition (not today's; the writer's lock keeps a running job out) into files near the target
size, sorted so row-group statistics prune well, and commits them as one new table version. A
query that resolved the old version keeps reading the old files: they stay on disk until
cleanup_temp_tables removes them after the retention period. It also folds the identities
table's and the ELT tables' deltas into their bases (see `lake.merge_on_read`), and vacuums the
analytics warehouse, whose hourly checkpoints leave the row groups thinned by deletes as they are.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cdpflow.elt.land import fold_delta
from cdpflow.engine import Engine, open_elt_merge, open_engine, open_warehouse
from cdpflow.events.names import CORE_EVENTS, QUARANTINE_EVENTS
from cdpflow.identity.store import IDENTITIES_TABLE
from cdpflow.jobs import Interval, id_stitching_incremental, job_lock
from cdpflow.jobs.analytics import ANALYTICS_LOCK, warehouse_path
from cdpflow.lake.merge_on_read import delta_files
from cdpflow.lake.storage import Lake, staging_dir
from cdpflow.lake.tables import DataFile, TableStore, promote
from cdpflow.settings import Settings

log = logging.getLogger(__name__)

# table -> (sort order of its compacted files, the lock its writer holds)
COMPACTED_TABLES = {
    CORE_EVENTS: ("event_time", "events_incremental"),
    QUARANTINE_EVENTS: ("received_at", "events_incremental"),
    # hourly analytics runs add a file a day they touch (see cdpflow.jobs.analytics)
    "unique_events": ("event_time", ANALYTICS_LOCK),
    "sessions": ("started_at", ANALYTICS_LOCK),
    "page_views": ("viewed_at", ANALYTICS_LOCK),
}


@dataclass
class TableCompaction:
    table: str
    partitions: int = 0
    files_before: int = 0
    files_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    version: int | None = None


@dataclass
class CompressionResult:
    tables: list[TableCompaction] = field(default_factory=list)
    warehouse_vacuum_seconds: float | None = None  # None: no analytics warehouse yet
    seconds: float = 0.0

    def summary(self) -> str:
        lines = []
        for t in self.tables:
            if not t.partitions:
                lines.append(f"compression: {t.table}: nothing to compact.")
                continue
            lines.append(
                f"compression: {t.table}: {t.partitions} partition(s), files "
                f"{t.files_before:,} -> {t.files_after:,}, bytes {t.bytes_before:,} -> "
                f"{t.bytes_after:,} (version {t.version})"
            )
        if self.warehouse_vacuum_seconds is not None:
            lines.append(
                f"compression: analytics warehouse vacuumed in {self.warehouse_vacuum_seconds:.1f}s"
            )
        return "\n".join(lines) or "compression: no tables."


def run(
    settings: Settings,
    interval: Interval | None = None,
    *,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CompressionResult:
    """Compact every closed partition (within `interval`, if given) that has small files."""
    started = time.monotonic()
    lake = Lake(settings.lake_url)
    tables = TableStore(lake)
    today = (now or datetime.now(UTC)).astimezone(UTC).date().isoformat()
    result = CompressionResult()
    engine = open_engine(settings, lake)
    try:
        for table, (order_by, writer) in COMPACTED_TABLES.items():
            with job_lock(settings, writer):
                result.tables.append(
                    _compact_table(settings, lake, tables, engine, table, order_by, today, interval)
                )
        result.tables.append(_fold_identities(settings, tables, engine))
        result.tables.extend(_fold_elt_deltas(settings, lake, tables))
    finally:
        engine.close()
    result.warehouse_vacuum_seconds = _vacuum_warehouse(settings, lake)
    result.seconds = time.monotonic() - started
    log.info(result.summary())
    return result


def _fold_identities(settings: Settings, tables: TableStore, engine: Engine) -> TableCompaction:
    """identities keeps its changes in a delta over a base (see lake.merge_on_read): fold it."""
    report = TableCompaction(IDENTITIES_TABLE)
    before = tables.current(IDENTITIES_TABLE)
    after = id_stitching_incremental.fold_identities(settings, engine, tables)
    if before is not None and after is not None:
        report.partitions, report.version = 1, after.version
        report.files_before, report.files_after = len(before.files), len(after.files)
        report.bytes_before, report.bytes_after = before.total_bytes, after.total_bytes
    return report


def _fold_elt_deltas(settings: Settings, lake: Lake, tables: TableStore) -> list[TableCompaction]:
    """ELT tables keep their incremental merges in a delta over a base: fold each, under its
    pipeline's lock so no run of it merges meanwhile."""
    reports = []
    merger = open_elt_merge(settings, tables)
    try:
        for name in tables.names():
            snapshot = tables.current(name)
            pipeline = snapshot.properties.get("pipeline") if snapshot else None
            if snapshot is None or not pipeline or not delta_files(snapshot):
                continue
            with job_lock(settings, f"elt_{pipeline}"):
                before = tables.get(name)
                if not delta_files(before):
                    continue
                after = fold_delta(merger, lake, tables, before)
            reports.append(
                TableCompaction(
                    name,
                    partitions=1,
                    files_before=len(before.files),
                    files_after=len(after.files),
                    bytes_before=before.total_bytes,
                    bytes_after=after.total_bytes,
                    version=after.version,
                )
            )
    finally:
        merger.close()
    return reports


def _vacuum_warehouse(settings: Settings, lake: Lake) -> float | None:
    """Merge the warehouse's thinned row groups (analytics runs skip it to stay fast); the
    seconds it took, or None when analytics never ran."""
    path = warehouse_path(settings)
    if not path.exists():
        return None
    started = time.monotonic()
    with job_lock(settings, ANALYTICS_LOCK):
        warehouse = open_warehouse(settings, lake, path)
        try:
            warehouse.vacuum()
        finally:
            warehouse.close()
    return time.monotonic() - started


def _candidates(
    files: tuple[DataFile, ...], today: str, target: int, interval: Interval | None
) -> dict[str, list[DataFile]]:
    by_partition: dict[str, list[DataFile]] = defaultdict(list)
    for f in files:
        ((_, value),) = f.partition.items()
        by_partition[value].append(f)
    chosen = {}
    for value, group in sorted(by_partition.items()):
        if value >= today:
            continue  # still being written to
        if interval and not _in_interval(value, interval):
            continue
        small = [f for f in group if f.bytes < target // 2]
        if len(group) > 1 and small:
            chosen[value] = group
    return chosen


def _in_interval(day: str, interval: Interval) -> bool:
    start = interval.start.date().isoformat() if interval.start else "0000-00-00"
    end = interval.end.date().isoformat() if interval.end else "9999-99-99"
    return start <= day <= end


def _compact_table(
    settings: Settings,
    lake: Lake,
    tables: TableStore,
    engine: Engine,
    table: str,
    order_by: str,
    today: str,
    interval: Interval | None,
) -> TableCompaction:
    report = TableCompaction(table)
    base = tables.current(table)
    if base is None:
        return report
    target = settings.compaction_target_bytes
    chosen = _candidates(base.files, today, target, interval)
    if not chosen:
        report.version = base.version
        return report
    staging = staging_dir("compression")
    added: list[DataFile] = []
    try:
        for value, group in chosen.items():
            uris = [lake.uri(f"{table}/{f.path}") for f in group]
            written = engine.rewrite_sorted(uris, order_by, f"{staging}/{value}", target)
            owner = ",".join(sorted(set().union(*(f.owners for f in group))))
            ((column, _),) = group[0].partition.items()
            for staged, rows in written:
                added.append(
                    promote(
                        lake, table, staged, rows, owner=owner, partition={column: value}, tag="c"
                    )
                )
            report.files_before += len(group)
            report.bytes_before += sum(f.bytes for f in group)
        replaced = {f.path for group in chosen.values() for f in group}
        before_rows = sum(f.rows for group in chosen.values() for f in group)
        after_rows = sum(f.rows for f in added)
        if before_rows != after_rows:  # never publish a rewrite that lost or gained rows
            raise AssertionError(f"{table}: compaction read {before_rows} rows, wrote {after_rows}")
        snapshot = tables.commit(
            table, base, operation="compression", add=added, remove=lambda f: f.path in replaced
        )
    finally:
        lake.remove(staging)
    report.partitions = len(chosen)
    report.files_after = len(added)
    report.bytes_after = sum(f.bytes for f in added)
    report.version = snapshot.version
    return report
