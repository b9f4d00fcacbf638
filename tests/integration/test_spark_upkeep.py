"""compression on Spark: the same rows, files sorted and in order, the same owners as DuckDB's;
and a table Spark compacted is extended by DuckDB's events_incremental."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta

import pytest
from support.lake import LATER, lake_query
from support.spark import SPARK_CONF, require_spark
from support.upkeep import CHECKSUM, DAY, a_file_per_hour, three_hours
from support.upkeep import event as _event

from cdpflow.jobs import compression
from cdpflow.jobs.events_incremental import run as events_incremental
from cdpflow.lake.raw import RawWriter, Received
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.settings import load_settings

require_spark()


@pytest.fixture(autouse=True)
def _a_file_per_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    a_file_per_hour(monkeypatch)


ORDERED = "SELECT event_time, event_id FROM core_events"


def _compacted(tmp_path, engine: str):  # type: ignore[no-untyped-def]
    settings = load_settings(env={}, home=tmp_path / engine)
    settings = replace(settings, engine=engine, spark_master="local[2]", spark_conf=SPARK_CONF)
    lake = Lake(settings.lake_url)

    def land(items):  # type: ignore[no-untyped-def]
        with RawWriter(lake) as writer:
            for item in items:
                writer.write(item)

    three_hours(land)
    events_incremental(settings, now=LATER)
    before = lake_query(settings, CHECKSUM)
    # a target that makes each hour's file small but the day larger than one file: the day is
    # range-split over two sorted files
    largest = max(f.bytes for f in TableStore(lake).get("core_events").files)
    settings = replace(settings, compaction_target_bytes=2 * largest + 2)
    result = compression.run(settings, now=DAY + timedelta(days=2))
    assert lake_query(settings, CHECKSUM) == before
    return settings, lake, result.tables[0]


def test_spark_compression_matches_duckdb(tmp_path) -> None:  # type: ignore[no-untyped-def]
    duck, _, _ = _compacted(tmp_path, "duckdb")
    spark, spark_lake, spark_result = _compacted(tmp_path, "spark")
    assert (spark_result.files_before, spark_result.partitions) == (3, 1)
    assert spark_result.files_after == 2  # Spark sizes files by input bytes, DuckDB by output
    assert lake_query(spark, f"{ORDERED} ORDER BY ALL") == lake_query(
        duck, f"{ORDERED} ORDER BY ALL"
    )

    files = TableStore(spark_lake).get("core_events").files
    assert {o for f in files for o in f.owners} == {
        "2026-11-20T09", "2026-11-20T10", "2026-11-20T11",
    }  # fmt: skip
    # each file sorted, and the files in the table's order hold consecutive time ranges
    uris = TableStore(spark_lake).file_uris(TableStore(spark_lake).get("core_events"))
    times = []
    for uri in uris:
        rows = lake_query(spark, f"SELECT event_time FROM read_parquet('{uri}')")
        chunk = [r["event_time"] for r in rows]
        assert chunk == sorted(chunk)
        times.append((chunk[0], chunk[-1]))
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(times))

    # DuckDB extends what Spark compacted
    later = DAY + timedelta(days=1, hours=3)
    with RawWriter(spark_lake) as writer:
        writer.write(Received(later, "web", _event(5000, later)))
    events_incremental(replace(spark, engine="duckdb"), now=LATER)
    assert lake_query(spark, "SELECT count(*) AS n FROM core_events") == [{"n": 121}]
