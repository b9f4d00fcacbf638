"""id_stitching_incremental on Spark equals DuckDB's, row for row, on the same raw input."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from support.identity import IDENTITY_TABLES as TABLES
from support.identity import T, seg
from support.identity import stitching_traffic as _traffic
from support.lake import LATER, lake_query
from support.spark import SPARK_CONF, require_spark

from cdpflow.jobs import events_incremental, id_stitching_incremental
from cdpflow.lake.raw import RawWriter, Received
from cdpflow.lake.storage import Lake
from cdpflow.settings import load_settings

require_spark()


def _run(tmp_path, name: str, engine: str):  # type: ignore[no-untyped-def]
    settings = load_settings(env={}, home=tmp_path / name)
    settings = replace(settings, engine=engine, spark_master="local[2]", spark_conf=SPARK_CONF)
    with RawWriter(Lake(settings.lake_url)) as writer:
        for item in _traffic():
            writer.write(item)
    events_incremental.run(settings, now=LATER)
    id_stitching_incremental.run(settings, now=LATER)
    # a second run with a login that merges the laptop into the shopper
    with RawWriter(Lake(settings.lake_url)) as writer:
        at = T + timedelta(hours=1)
        writer.write(Received(at, "web", seg("l1", at, anonymousId="laptop-1", userId="cus_9")))
    events_incremental.run(settings, now=LATER)
    id_stitching_incremental.run(settings, now=LATER)
    return settings


def test_both_engines_write_the_same_identity_tables(tmp_path) -> None:  # type: ignore[no-untyped-def]
    duck = _run(tmp_path, "duck", "duckdb")
    spark = _run(tmp_path, "spark", "spark")
    for table in TABLES:
        a = sorted(
            map(repr, (tuple(r.values()) for r in lake_query(duck, f"SELECT * FROM {table}")))
        )
        b = sorted(
            map(repr, (tuple(r.values()) for r in lake_query(spark, f"SELECT * FROM {table}")))
        )
        assert a == b, table
    assert lake_query(spark, "SELECT reason FROM identity_merges") == [{"reason": "merge"}]
    held = lake_query(spark, "SELECT identifier_value FROM identities WHERE held_out")
    assert held == [{"identifier_value": "kiosk"}]


def _later_hours() -> list[Received]:
    """Hours 4-6: the laptop logs in (a merge), new tablets of known customers log in."""
    out = []
    for hour in (3, 4, 5):
        at = T + timedelta(hours=hour)
        out.append(Received(at, "web", seg(f"l{hour}", at, anonymousId="laptop-1", userId="cus_9")))
        out.append(
            Received(
                at, "web", seg(f"t{hour}", at, anonymousId=f"tab-{hour}", userId=f"cus_{hour:06d}")
            )
        )
    return out


def _two_steps(tmp_path, name: str, first: str, second: str):  # type: ignore[no-untyped-def]
    settings = load_settings(env={}, home=tmp_path / name)
    settings = replace(settings, spark_master="local[2]", spark_conf=SPARK_CONF)
    for engine, items in ((first, _traffic()), (second, _later_hours())):
        with RawWriter(Lake(settings.lake_url)) as writer:
            for item in items:
                writer.write(item)
        events_incremental.run(settings, now=LATER)
        id_stitching_incremental.run(replace(settings, engine=engine), now=LATER)
    return settings


def test_duckdb_then_spark_equals_duckdb_throughout(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A deployment that switches engines mid-way has the tables it would have had."""
    mixed = _two_steps(tmp_path, "mixed", "duckdb", "spark")
    duck = _two_steps(tmp_path, "duck", "duckdb", "duckdb")
    for table in TABLES:
        sql = f"SELECT * FROM {table}"
        assert sorted(map(repr, lake_query(mixed, sql))) == sorted(
            map(repr, lake_query(duck, sql))
        ), table
    merges = lake_query(mixed, "SELECT count(*) AS n FROM identity_merges")
    assert merges == [{"n": 1}]
