"""Benchmark: a query over one day of core_events spread over 1,000 small files, before and after
compression.

    .venv/bin/python bench/compression.py [--files 1000] [--visitors 20000]

Generates a day of sample traffic, runs events_incremental, then re-publishes that day's rows as
`--files` small files (what a day of minute-level Spark or streaming writes looks like), times
a few typical queries, runs the compression job, and times them again on the same rows.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cdpflow.engine import open_engine
from cdpflow.jobs import compression
from cdpflow.jobs.events_incremental import CORE_EVENTS
from cdpflow.jobs.events_incremental import run as events_incremental
from cdpflow.lake.raw import RawWriter, Received
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, TableStore
from cdpflow.sample import SampleSpec, generate_events
from cdpflow.settings import Settings, load_settings

END = datetime(2026, 11, 21, tzinfo=UTC)
DAY = "2026-11-20"
QUERIES = {
    "count a day": f"SELECT count(*) FROM core_events WHERE event_date = '{DAY}'",
    "revenue by source": (
        "SELECT utm_source, count(DISTINCT anonymous_id), sum(revenue) FROM core_events "
        f"WHERE event_date = '{DAY}' GROUP BY 1"
    ),
    "one hour's page views": (
        "SELECT count(*) FROM core_events WHERE event_type = 'page' AND event_time "
        f"BETWEEN TIMESTAMPTZ '{DAY} 14:00:00+00' AND TIMESTAMPTZ '{DAY} 15:00:00+00'"
    ),
}


def split_day(lake: Lake, store: TableStore, files: int) -> None:
    """Replace the day's files by `files` small ones holding the same rows."""
    snapshot = store.get(CORE_EVENTS)
    day = [f for f in snapshot.files if f.partition["event_date"] == DAY]
    rows = pa.concat_tables([pq.read_table(lake.full(f"{CORE_EVENTS}/{f.path}")) for f in day])
    step = max(1, -(-rows.num_rows // files))
    owner = ",".join(sorted(set().union(*(f.owners for f in day))))
    added = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, start in enumerate(range(0, rows.num_rows, step)):
            local = Path(tmp) / f"{n}.parquet"
            pq.write_table(rows.slice(start, step), local, compression="zstd")
            rel = f"event_date={DAY}/part-small-{uuid.uuid4().hex[:12]}.parquet"
            size = local.stat().st_size
            count = min(step, rows.num_rows - start)
            lake.put(local, f"{CORE_EVENTS}/{rel}")
            added.append(DataFile(rel, count, size, owner, {"event_date": DAY}))
    store.commit(
        CORE_EVENTS,
        snapshot,
        operation="bench-split",
        add=added,
        remove=lambda f: f.partition["event_date"] == DAY,
    )


def time_queries(
    settings: Settings, lake: Lake, store: TableStore, repeat: int = 3
) -> dict[str, float]:
    engine = open_engine(settings, lake)
    try:
        out = {}
        for name, sql in QUERIES.items():
            best = float("inf")
            for _ in range(repeat):
                started = time.perf_counter()
                engine.query(sql, store)
                best = min(best, time.perf_counter() - started)
            out[name] = best
        return out
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--visitors", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cdpflow-bench-") as home:
        settings = load_settings(env={}, home=home)
        lake = Lake(settings.lake_url)
        spec = SampleSpec(days=1, visitors=args.visitors, seed=7, end=END)
        with RawWriter(lake) as writer:
            for raw in generate_events(spec):
                writer.write(Received(raw.received_at, raw.source, raw.message))
        events_incremental(settings, now=END + timedelta(days=1))
        store = TableStore(lake)
        split_day(lake, store, args.files)
        day = [f for f in store.get(CORE_EVENTS).files if f.partition["event_date"] == DAY]
        rows = sum(f.rows for f in day)
        before = time_queries(settings, lake, store)
        started = time.perf_counter()
        result = compression.run(settings, now=END + timedelta(days=2))
        took = time.perf_counter() - started
        after_files = [f for f in store.get(CORE_EVENTS).files if f.partition["event_date"] == DAY]
        after = time_queries(settings, lake, store)
    core = result.tables[0]
    print(f"day {DAY}: {rows:,} rows; compression took {took:.2f}s")
    print(f"files {len(day):,} -> {len(after_files):,}; ", end="")
    print(f"bytes {core.bytes_before:,} -> {core.bytes_after:,}")
    print(f"{'query':<24}{'before (s)':>12}{'after (s)':>12}{'speed-up':>10}")
    for name in QUERIES:
        speedup = before[name] / after[name]
        print(f"{name:<24}{before[name]:>12.4f}{after[name]:>12.4f}{speedup:>9.1f}x")


if __name__ == "__main__":
    main()
