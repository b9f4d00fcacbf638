"""compression, cleanup_temp_tables and one_time_setup on a small lake."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from support.lake import LATER
from support.upkeep import CHECKSUM, DAY, a_file_per_hour, three_hours

from cdpflow.engine import open_engine, open_warehouse
from cdpflow.jobs import Interval, cleanup_temp_tables, compression, one_time_setup
from cdpflow.jobs.analytics import warehouse_path
from cdpflow.jobs.events_incremental import run as events_incremental
from cdpflow.lake.tables import TableStore
from cdpflow.secrets import open_secrets


@pytest.fixture(autouse=True)
def _a_file_per_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    a_file_per_hour(monkeypatch)


def _files(lake, partition: str) -> list:
    return [
        f
        for f in TableStore(lake).get("core_events").files
        if f.partition["event_date"] == partition
    ]


def test_compression_rewrites_closed_partitions_without_changing_rows(settings, land, lake, query):
    three_hours(land)
    events_incremental(settings, now=LATER)
    before = query(CHECKSUM)
    old = TableStore(lake).get("core_events")
    assert len(_files(lake, "2026-11-20")) == 3

    result = compression.run(settings, now=DAY + timedelta(days=2))
    core = result.tables[0]
    assert (core.table, core.partitions, core.files_before, core.files_after) == (
        "core_events",
        1,
        3,
        1,
    )
    assert core.bytes_before > 0 and core.bytes_after > 0
    assert "files 3 -> 1" in result.summary()
    assert query(CHECKSUM) == before
    (merged,) = _files(lake, "2026-11-20")
    assert merged.owners == {"2026-11-20T09", "2026-11-20T10", "2026-11-20T11"}

    # a reader still holding the old version reads the old files, whole
    engine = open_engine(settings, lake)
    try:
        uris = TableStore(lake).file_uris(old)
        listed = ", ".join(f"'{u}'" for u in uris)
        n = engine.query(f"SELECT count(*) AS n FROM read_parquet([{listed}])", TableStore(lake))
    finally:
        engine.close()
    assert n.to_pylist() == [{"n": before[0]["n"]}]

    sorted_times = query("SELECT event_time FROM core_events")
    assert [r["event_time"] for r in sorted_times] == sorted(r["event_time"] for r in sorted_times)
    assert compression.run(settings, now=DAY + timedelta(days=2)).tables[0].partitions == 0


def test_compression_leaves_todays_partition_alone(settings, land, lake):
    three_hours(land)
    events_incremental(settings, now=LATER)
    result = compression.run(settings, now=DAY + timedelta(hours=23))
    assert result.tables[0].partitions == 0
    assert len(_files(lake, "2026-11-20")) == 3


def test_rerunning_an_hour_after_compaction_rewrites_its_whole_file(settings, land, lake, query):
    three_hours(land)
    events_incremental(settings, now=LATER)
    before = query(CHECKSUM)
    compression.run(settings, now=DAY + timedelta(days=2))
    rerun = events_incremental(
        settings, Interval(DAY + timedelta(hours=10), DAY + timedelta(hours=11)), now=LATER
    )
    assert rerun.hours == ["2026-11-20T09", "2026-11-20T10", "2026-11-20T11"]
    assert rerun.duplicates == 0 and query(CHECKSUM) == before


def test_cleanup_removes_only_old_unreferenced_files(settings, land, lake, query):
    three_hours(land)
    events_incremental(settings, now=LATER)
    compression.run(settings, now=DAY + timedelta(days=2))
    referenced = {f"core_events/{f.path}" for f in TableStore(lake).get("core_events").files}
    replaced = [
        p
        for p, _ in lake.walk_files("core_events")
        if p.endswith(".parquet") and p not in referenced
    ]
    assert len(replaced) == 3
    lake.write_bytes("core_events/event_date=2026-11-20/.part-x.parquet.abc.tmp", b"half a file")
    TableStore(lake).commit("tmp_scratch", None, operation="test", columns=[("x", "BIGINT")])

    # young leftovers are kept: a writer may be about to commit them
    assert cleanup_temp_tables.run(settings, now=datetime.now(UTC)).removed == []

    later = datetime.now(UTC) + timedelta(hours=settings.temp_retention_hours + 1)
    listed = cleanup_temp_tables.run(settings, now=later, dry_run=True)
    assert {p for p, _ in listed.removed} >= set(replaced) | {"tmp_scratch"}
    assert all(lake.exists(p) for p in replaced)  # dry run deleted nothing
    assert "would remove" in listed.summary()

    done = cleanup_temp_tables.run(settings, now=later)
    removed = {p for p, _ in done.removed}
    assert set(replaced) <= removed and "tmp_scratch" in removed
    assert "core_events/event_date=2026-11-20/.part-x.parquet.abc.tmp" in removed
    assert not referenced & removed and all(lake.exists(p) for p in referenced)
    assert done.bytes_freed > 0 and "tmp_scratch" not in TableStore(lake).names()
    assert query("SELECT count(*) AS n FROM core_events") == [{"n": 120}]


def test_cleanup_removes_old_local_scratch(settings):
    stale = settings.work_dir / "events_incremental" / "deadbeef"
    stale.mkdir(parents=True)
    (stale / "events-00001.parquet").write_bytes(b"x" * 100)
    old = time.time() - 3600 * (settings.temp_retention_hours + 2)
    os.utime(stale, (old, old))
    result = cleanup_temp_tables.run(settings)
    assert (str(stale), 100) in result.removed and not stale.exists()


def test_cleanup_removes_what_killed_runs_left_staged(settings, lake):
    def stage(rel: str, hours_old: float) -> str:
        lake.write_bytes(rel, b"PAR1" + b"x" * 96)
        moment = time.time() - 3600 * hours_old
        os.utime(lake.full(rel), (moment, moment))
        return rel

    old = settings.temp_retention_hours + 2
    killed = stage("_staging/events_incremental/run-a/0/events/f.parquet", old)
    killed_rows = stage("_staging/core_events/0123abcd.parquet", old)  # promote_rows' leftover
    running = stage("_staging/events_incremental/run-b/0/events/f.parquet", 0)
    mixed = [
        stage("_staging/compression/run-c/2026-11-20/part-1.parquet", old),
        stage("_staging/compression/run-c/2026-11-20/part-2.parquet", 0),
    ]

    removed = {p for p, _ in cleanup_temp_tables.run(settings).removed}

    assert {"_staging/events_incremental/run-a", killed_rows} <= removed
    assert not lake.exists(killed) and not lake.exists("_staging/events_incremental/run-a")
    assert not lake.exists(killed_rows)
    # a run with a young file may still be writing: none of its files is touched
    assert lake.exists(running) and all(lake.exists(p) for p in mixed)
    assert not any(
        p.startswith(("_staging/events_incremental/run-b", "_staging/compression")) for p in removed
    )


def test_a_failed_run_leaves_nothing_staged(settings, land, lake, monkeypatch):
    three_hours(land)

    def refuse(*args, **kwargs):
        raise OSError("the lake went away")

    monkeypatch.setattr(TableStore, "commit", refuse)
    with pytest.raises(OSError, match="went away"):
        events_incremental(settings, now=LATER)
    assert list(lake.walk_files("_staging")) == []


def test_one_time_setup_is_idempotent(settings, land, lake, query):
    first = one_time_setup.run(settings, now=LATER)
    assert any("created the empty table core_events" in a for a in first.actions)
    assert any("Airflow admin password" in a for a in first.actions)
    assert open_secrets(settings).get("airflow_password")
    config = yaml.safe_load((settings.home / "cdpflow.yaml").read_text())
    assert config is None  # every line commented out: defaults stay defaults
    assert "# COMPUTATION_WINDOW: 90" in (settings.home / "cdpflow.yaml").read_text()
    assert query("SELECT count(*) AS n FROM core_events") == [{"n": 0}]
    assert query("SELECT count(*) AS n FROM quarantine_events") == [{"n": 0}]

    second = one_time_setup.run(settings, now=LATER)
    assert second.actions == [] and "nothing changed" in second.summary()

    three_hours(land)
    third = one_time_setup.run(settings, now=LATER)
    assert len(third.actions) == 1 and "backfilled raw data" in third.actions[0]
    assert query("SELECT count(*) AS n FROM core_events") == [{"n": 120}]


def test_compression_vacuums_the_analytics_warehouse(settings, lake):
    """Hourly analytics checkpoints leave row groups thinned by deletes as they are (merging
    them cost seconds of every run); compression merges them."""

    def row_groups() -> int:
        warehouse = open_warehouse(settings, lake, warehouse_path(settings))
        try:
            query = "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('main.t')"
            return warehouse.con.execute(query).fetchone()[0]
        finally:
            warehouse.close()

    assert compression.run(settings, now=DAY).warehouse_vacuum_seconds is None  # no warehouse
    warehouse = open_warehouse(settings, lake, warehouse_path(settings))
    warehouse.con.execute("CREATE TABLE main.t AS SELECT range AS i FROM range(1500000)")
    warehouse.con.execute("CHECKPOINT")
    warehouse.con.execute("DELETE FROM main.t WHERE i % 10 < 8")
    warehouse.close()  # a checkpoint as an analytics run's
    thinned = row_groups()
    assert thinned >= 12

    result = compression.run(settings, now=DAY)
    assert result.warehouse_vacuum_seconds is not None
    assert "analytics warehouse vacuumed" in result.summary()
    assert row_groups() <= thinned // 3
    warehouse = open_warehouse(settings, lake, warehouse_path(settings))
    try:
        assert warehouse.con.execute("SELECT count(*) FROM main.t").fetchone()[0] == 300_000
    finally:
        warehouse.close()
