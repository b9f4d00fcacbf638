"""events_incremental: flatten raw clickstream hours into the `core_events` lake table.

The unit of work is a received hour of the raw zone. Every file written is owned by the hour it
came from, so re-running an interval replaces exactly that interval's output; and the hours
processed are recorded in the same snapshot that publishes their rows, so the state can never
disagree with the data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from cdpflow.engine import EventsBatch, StagedFile, open_engine
from cdpflow.errors import TerminalError
from cdpflow.events.names import CORE_EVENTS, QUARANTINE_EVENTS
from cdpflow.events.schema import CORE_EVENTS_COLUMNS, QUARANTINE_COLUMNS
from cdpflow.jobs import Interval, job_lock
from cdpflow.lake.raw import RawFile, RawHour, last_closed_hour, list_raw_hours
from cdpflow.lake.storage import Lake, staging_dir
from cdpflow.lake.tables import DataFile, Snapshot, TableStore, promote
from cdpflow.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass
class EventsIncrementalResult:
    """What a run did; `read == written + duplicates + quarantined` always holds."""

    hours: list[str] = field(default_factory=list)
    raw_bytes: int = 0
    read: int = 0
    written: int = 0
    duplicates: int = 0
    quarantined: int = 0
    seconds: float = 0.0
    core_events_version: int | None = None
    # Messages (raw lines) landed in hours that are still open, which a default run leaves.
    waiting: int = 0
    waiting_until: datetime | None = None  # when the last of those hours closes

    def summary(self) -> str:
        if not self.hours:
            done = "events_incremental: no raw hours to process."
        else:
            span = self.hours[0] if len(self.hours) == 1 else f"{self.hours[0]} .. {self.hours[-1]}"
            rate = self.read / self.seconds if self.seconds else 0.0
            done = (
                f"events_incremental: {len(self.hours)} raw hour(s) {span}: read {self.read:,}, "
                f"written {self.written:,}, duplicates {self.duplicates:,}, "
                f"quarantined {self.quarantined:,} in {self.seconds:.1f}s ({rate:,.0f} events/s)"
            )
        if not self.waiting_until:
            return done
        until = self.waiting_until.strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f"{done}\n{self.waiting:,} message(s) wait in raw hours that are still open; the "
            f"first run after {until} processes them, or `--end {until}` takes them now."
        )


def select_hours(
    hours: list[RawHour], processed: dict[str, str], interval: Interval, now: datetime
) -> list[RawHour]:
    """Hours to (re)process: those in an explicit interval, or else every closed hour whose
    files are new or changed since it was last processed."""
    if interval.start or interval.end:
        start = interval.start or datetime.min.replace(tzinfo=UTC)
        end = interval.end or datetime.max.replace(tzinfo=UTC)
        return [h for h in hours if start <= h.hour < end]
    closed = last_closed_hour(now)
    return [h for h in hours if h.hour <= closed and processed.get(h.key) != h.fingerprint]


def run(
    settings: Settings,
    interval: Interval | None = None,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> EventsIncrementalResult:
    """Process the raw hours of `interval` (default: all pending closed hours)."""
    started = time.monotonic()
    lake = Lake(settings.lake_url)
    tables = TableStore(lake)
    result = EventsIncrementalResult()
    with job_lock(settings, "events_incremental"):
        snapshot = tables.current(CORE_EVENTS)
        processed = dict(snapshot.properties.get("raw_hours", {})) if snapshot else {}
        raw_hours = list_raw_hours(lake)
        interval = interval or Interval()
        now = now or datetime.now(UTC)
        todo = select_hours(raw_hours, processed, interval, now)
        if not (interval.start or interval.end):
            _note_open_hours(lake, raw_hours, now, result)
        if not todo:
            result.core_events_version = snapshot.version if snapshot else None
            return result
        shared = [s.files for s in (snapshot, tables.current(QUARANTINE_EVENTS)) if s]
        units = _units(todo, raw_hours, [f for files in shared for f in files])
        total = sum(h.bytes for unit in units for h in unit)
        engine = open_engine(settings, lake)
        try:
            groups = _groups(units, settings.chunk_bytes // 4)
            files = [[RawFile(p, h.key, size) for h in g for p, size in h.files] for g in groups]
            for group, batch in zip(groups, engine.events_batches(files), strict=True):
                snapshot = _process_group(settings, lake, tables, group, batch, result)
                result.core_events_version = snapshot.version
                if progress:
                    progress(result.raw_bytes, total)
        finally:
            engine.close()
    result.seconds = time.monotonic() - started
    log.info(result.summary())
    return result


def _note_open_hours(
    lake: Lake, hours: list[RawHour], now: datetime, result: EventsIncrementalResult
) -> None:
    """Count the messages a default run leaves in hours still open (an import without
    `receivedAt` lands in the current hour), so the summary can say when they are processed."""
    closed = last_closed_hour(now)
    open_hours = [h for h in hours if h.hour > closed]
    if open_hours:
        from cdpflow.lake.raw_reader import count_lines  # numpy and pyarrow: after the workers

        result.waiting = sum(count_lines(lake, path) for h in open_hours for path, _ in h.files)
        result.waiting_until = open_hours[-1].hour + timedelta(hours=1)


def _units(todo: list[RawHour], hours: list[RawHour], files: list[DataFile]) -> list[list[RawHour]]:
    """Hours that must be processed together: compaction merges several hours' rows into one
    file, so re-running one of them re-runs all the hours of such a file, in one commit."""
    by_key = {h.key: h for h in hours}
    parent = {h.key: h.key for h in todo}

    def find(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    changed = True
    while changed:  # grow to a closure: new hours may share other files
        changed = False
        for f in files:
            owners = f.owners
            if len(owners) < 2 or not owners & parent.keys():
                continue
            missing = sorted(owners - by_key.keys())
            if missing:
                raise TerminalError(
                    f"Re-running raw hour(s) {sorted(owners & parent.keys())} means rewriting "
                    f"a compacted file that also holds hours {missing[:3]}, whose raw files are "
                    "gone; nothing was changed."
                )
            anchor = next(iter(owners & parent.keys()))
            for key in owners:
                if key not in parent:
                    parent[key] = key
                    changed = True
                root, other = find(anchor), find(key)
                if root != other:
                    parent[other] = root
    units: dict[str, list[RawHour]] = {}
    for key in sorted(parent):
        units.setdefault(find(key), []).append(by_key[key])
    return sorted(units.values(), key=lambda unit: unit[0].hour)


def _groups(units: list[list[RawHour]], max_bytes: int) -> list[list[RawHour]]:
    """Units batched up to `max_bytes` of compressed input (one commit each); a unit is never
    split across commits, and a last group under a quarter of `max_bytes` joins the one before.

    A group's flattened rows wait in the engine until its dedup and write, so groups are kept
    to a size whose rows fit the engine's memory instead of spilling. A small last group would
    cost a whole group's fixed work (a dedup, a write per event date, two commits) for little.
    """
    groups: list[list[RawHour]] = []
    size = 0
    for unit in units:
        unit_bytes = sum(h.bytes for h in unit)
        if not groups or size + unit_bytes > max_bytes:
            groups.append([])
            size = 0
        groups[-1].extend(unit)
        size += unit_bytes
    if len(groups) > 1 and size < max_bytes // 4:
        groups[-2].extend(groups.pop())
    return groups


def _process_group(
    settings: Settings,
    lake: Lake,
    tables: TableStore,
    group: list[RawHour],
    batch: EventsBatch,
    result: EventsIncrementalResult,
) -> Snapshot:
    staging = staging_dir("events_incremental")
    keys = {h.key for h in group}
    try:
        counts = batch.flattened()
        result.read += counts.events + counts.quarantined
        result.quarantined += counts.quarantined
        base = tables.current(CORE_EVENTS)
        existing = _dedup_candidates(tables, base, batch.event_date_range(), keys, settings)
        output = batch.write(existing, staging)
        result.duplicates += output.duplicates
        result.written += sum(f.rows for f in output.events)

        quarantine_base = tables.current(QUARANTINE_EVENTS)
        tables.commit(
            QUARANTINE_EVENTS,
            quarantine_base,
            operation="events_incremental",
            add=_publish(lake, QUARANTINE_EVENTS, output.quarantine),
            remove=lambda f: bool(f.owners & keys),
            columns=QUARANTINE_COLUMNS,
        )
        raw_hours = dict(base.properties.get("raw_hours", {})) if base else {}
        raw_hours.update({h.key: h.fingerprint for h in group})
        snapshot = tables.commit(
            CORE_EVENTS,
            base,
            operation="events_incremental",
            add=_publish(lake, CORE_EVENTS, output.events),
            remove=lambda f: bool(f.owners & keys),
            columns=CORE_EVENTS_COLUMNS,
            properties={"raw_hours": dict(sorted(raw_hours.items()))},
        )
        _drop_replaced(lake, base, keys)
        _drop_replaced(lake, quarantine_base, keys)
        result.hours.extend(h.key for h in group)
        result.raw_bytes += sum(h.bytes for h in group)
        return snapshot
    finally:
        lake.remove(staging)  # what was not promoted: nothing, unless the group failed


def _dedup_candidates(
    tables: TableStore,
    base: Snapshot | None,
    date_range: tuple[str, str] | None,
    keys: set[str],
    settings: Settings,
) -> list[str]:
    """Files of core_events that could hold an earlier copy of the new events: those of other
    raw hours, within the dedup window of the new events' dates. Bounded by the new data."""
    if base is None or date_range is None:
        return []
    window = timedelta(days=settings.dedup_window_days)
    first, last = (_partition_date(value) for value in date_range)
    if first is None or last is None:  # the flatten gives every event a date in 2000-2100
        raise ValueError(f"new events have event dates {date_range}, which are not dates")
    low, high = first - window, last + window

    def near(f: DataFile) -> bool:
        day = _partition_date(f.partition.get("event_date", ""))
        return day is None or low <= day <= high  # an odd partition may hold anything

    chosen = [f for f in base.files if not f.owners & keys and near(f)]
    return [tables.lake.uri(f"{CORE_EVENTS}/{f.path}") for f in chosen]


def _partition_date(value: str) -> date | None:
    """A partition value as a date, or None when it is not one: an older version could write
    `event_date=10000-01-01` or `infinity`, which must not stop every later run."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _publish(lake: Lake, table: str, staged: list[StagedFile]) -> list[DataFile]:
    """Move staged files into the table folder under fresh names; nothing references them yet."""
    published = []
    for item in staged:
        ((column, value),) = item.partition.items()
        hours = sorted(item.owner.split(","))  # a file of several hours is named by its span
        span = hours[0] if len(hours) == 1 else f"{hours[0]}_{hours[-1]}"
        published.append(
            promote(
                lake,
                table,
                item.path,
                item.rows,
                owner=item.owner,
                partition={column: value},
                tag=span,
            )
        )
    return published


def _drop_replaced(lake: Lake, base: Snapshot | None, keys: set[str]) -> None:
    """Delete the files a commit replaced; the new snapshot no longer refers to them."""
    if base is None:
        return
    for f in base.files:
        if f.owners & keys:
            lake.remove(f"{base.table}/{f.path}")
