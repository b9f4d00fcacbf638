"""cleanup_temp_tables: remove what failed or old runs left behind, never what a table uses.

Removed once older than CDPFLOW_TEMP_RETENTION_HOURS:
- files in a table's folder that its current version does not list (replaced by compaction or
  a re-run, or published by a run that died before its commit);
- hidden `.*.tmp` files of writes that never finished, anywhere in the lake;
- what runs killed before their end left staged in the lake (`_staging/<job>/<run>/`), each
  run's folder whole once none of its files is younger (a run removes its own when it ends);
- temporary tables (names starting with `tmp_`), whole;
- local scratch under $CDPFLOW_HOME/work (staging folders and engine spill files).
A file a current table version refers to is never touched, whatever its age.
"""

from __future__ import annotations

import logging
import posixpath
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cdpflow.jobs import Interval
from cdpflow.lake.storage import STAGING_DIR, Lake
from cdpflow.lake.tables import SNAPSHOTS_DIR, TableStore
from cdpflow.settings import Settings

log = logging.getLogger(__name__)
TEMP_TABLE_PREFIX = "tmp_"
# events_incremental and compression staged here before the lake's _staging; _staging holds
# what DuckDB writes on its way to a lake that is not on this machine
_SCRATCH = (
    "events_incremental",
    "compression",
    "duckdb_spill",
    "events_scratch",
    STAGING_DIR,
)


@dataclass
class CleanupResult:
    dry_run: bool = False
    removed: list[tuple[str, int]] = field(default_factory=list)  # (path, bytes)
    kept_referenced: int = 0
    seconds: float = 0.0

    @property
    def bytes_freed(self) -> int:
        return sum(size for _, size in self.removed)

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        head = (
            f"cleanup_temp_tables: {verb} {len(self.removed):,} path(s), "
            f"{self.bytes_freed / 1e6:,.1f} MB; {self.kept_referenced:,} file(s) in use kept."
        )
        shown = [f"  {path} ({size:,} bytes)" for path, size in self.removed[:50]]
        if len(self.removed) > 50:
            shown.append(f"  ... and {len(self.removed) - 50:,} more")
        return "\n".join([head, *shown])


def run(
    settings: Settings,
    interval: Interval | None = None,
    *,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    dry_run: bool = False,
) -> CleanupResult:
    """Remove leftovers older than the retention period (list them only, with `dry_run`)."""
    started = time.monotonic()
    lake = Lake(settings.lake_url)
    store = TableStore(lake)
    cutoff = (now or datetime.now(UTC)) - timedelta(hours=settings.temp_retention_hours)
    result = CleanupResult(dry_run=dry_run)

    def old(rel: str) -> bool:
        return _modified(lake, rel) < cutoff

    def remove(rel: str, size: int) -> None:
        result.removed.append((rel, size))
        if not dry_run:
            lake.remove(rel)

    for name in store.names():
        snapshot = store.get(name)
        if name.startswith(TEMP_TABLE_PREFIX):
            if datetime.fromisoformat(snapshot.committed_at) < cutoff:
                remove(name, sum(size for _, size in lake.walk_files(name)))
            continue
        referenced = {posixpath.join(name, f.path) for f in snapshot.files}
        for rel, size in lake.walk_files(name):
            if rel in referenced:
                result.kept_referenced += 1
            elif _is_data(name, rel) and old(rel):
                remove(rel, size)
    for rel, size in lake.walk_files(""):
        if _is_unfinished(rel) and old(rel) and not rel.startswith(f"{STAGING_DIR}/"):
            remove(rel, size)
    for job in lake.listdir(STAGING_DIR):
        for run_name in lake.listdir(f"{STAGING_DIR}/{job}"):
            rel = f"{STAGING_DIR}/{job}/{run_name}"
            files = _files(lake, rel)
            if all(old(p) for p, _ in files) and (files or old(rel)):
                remove(rel, sum(size for _, size in files))
    for scratch in _SCRATCH:
        for entry in sorted((settings.work_dir / scratch).glob("*")):
            if datetime.fromtimestamp(entry.stat().st_mtime, UTC) < cutoff:
                size = _local_size(entry)
                result.removed.append((str(entry), size))
                if not dry_run:
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    result.seconds = time.monotonic() - started
    log.info(result.summary())
    return result


def _is_data(table: str, rel: str) -> bool:
    """A table's own file: not its snapshot log, not an unfinished write (handled apart)."""
    return not rel.startswith(f"{table}/{SNAPSHOTS_DIR}/") and not _is_unfinished(rel)


def _is_unfinished(rel: str) -> bool:
    return posixpath.basename(rel).startswith(".") and rel.endswith(".tmp")


def _modified(lake: Lake, rel: str) -> datetime:
    moment = lake.fs.modified(lake.full(rel))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _files(lake: Lake, rel: str) -> list[tuple[str, int]]:
    """(path, size) of the file `rel`, or of every file below the folder `rel`."""
    if lake.fs.isfile(lake.full(rel)):
        return [(rel, lake.size(rel))]
    return list(lake.walk_files(rel))


def _local_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
