"""The Spark jobs on a real standalone cluster (a master and a worker on loopback, started with
PySpark's own scripts), not only `local[N]`: the tables equal DuckDB's for the same input."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.identity import IDENTITY_TABLES, T, seg, stitching_traffic
from support.lake import LATER, lake_query
from support.spark import SPARK_CONF, require_spark, standalone_cluster

from cdpflow.jobs import compression, events_incremental, id_stitching_incremental
from cdpflow.lake.raw import RawWriter, Received
from cdpflow.lake.storage import Lake
from cdpflow.sample import SampleSpec, generate_events
from cdpflow.settings import Settings, load_settings

require_spark()

TABLES = ("core_events", "quarantine_events", *IDENTITY_TABLES)
SPEC = SampleSpec(days=2, visitors=60, seed=3, end=datetime(2026, 11, 20, tzinfo=UTC))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from pyspark.sql import SparkSession

    # as a deployment names its executors' Python (the worker runs on this machine)
    patch = pytest.MonkeyPatch()
    patch.setenv("PYSPARK_PYTHON", sys.executable)

    # a session this process made earlier (local[2]) would be reused by getOrCreate
    if (active := SparkSession.getActiveSession()) is not None:
        active.stop()
    with standalone_cluster(tmp_path_factory.mktemp("spark-cluster")) as url:
        yield url
        if (active := SparkSession.getActiveSession()) is not None:
            active.stop()
    patch.undo()


def _land(settings: Settings, items: list[Received]) -> None:
    with RawWriter(Lake(settings.lake_url)) as writer:
        for item in items:
            writer.write(item)


def _pipeline(home: Path, engine: str, master: str) -> Settings:
    """Two rounds of landed traffic through events_incremental and id_stitching_incremental,
    then compression of the closed days: what a deployment runs."""
    settings = replace(
        load_settings(env={}, home=home), engine=engine, spark_master=master, spark_conf=SPARK_CONF
    )
    sample = [Received(m.received_at, m.source, m.message) for m in generate_events(SPEC)]
    later = T + timedelta(hours=2)
    login = Received(later, "web", seg("login", later, anonymousId="laptop-1", userId="cus_9"))
    bad = Received(later, "web", {"type": "track", "messageId": "no-event", "timestamp": "x"})
    for items in (stitching_traffic() + sample, [login, bad]):
        _land(settings, items)
        events_incremental.run(settings, now=LATER)
        id_stitching_incremental.run(settings, now=LATER)
    compression.run(settings, now=LATER)
    return settings


def _rows(settings: Settings, table: str) -> list[str]:
    # quarantined_at is the wall-clock time of the run that refused the line, and raw file
    # names end in a random suffix per writer
    columns = "* EXCLUDE (quarantined_at, raw_file)" if table == "quarantine_events" else "*"
    return sorted(map(repr, lake_query(settings, f"SELECT {columns} FROM {table}")))


def test_the_jobs_on_a_standalone_cluster_equal_duckdb(cluster: str, tmp_path: Path) -> None:
    from pyspark.sql import SparkSession

    spark = _pipeline(tmp_path / "spark", "spark", cluster)
    session = SparkSession.getActiveSession()
    assert session is not None and session.sparkContext.master == cluster
    # the driver and the worker's executor: the work left this process
    assert session.sparkContext._jsc.sc().getExecutorMemoryStatus().size() >= 2  # type: ignore[union-attr]
    duck = _pipeline(tmp_path / "duck", "duckdb", "")
    for table in TABLES:
        assert _rows(spark, table) == _rows(duck, table), table
    assert lake_query(spark, "SELECT count(*) AS n FROM identity_merges") == [{"n": 1}]
    reasons = lake_query(spark, "SELECT DISTINCT reason_code FROM quarantine_events")
    assert {"reason_code": "invalid_timestamp"} in reasons
