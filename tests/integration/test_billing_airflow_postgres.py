"""Billing's compute figures from an Airflow metadata DB on a real PostgreSQL, as production
Airflow keeps it (timestamptz columns, a SQLAlchemy URL with its driver)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from support.postgres import PostgresServer, running_server

from cdpflow.billing.airflow_runs import DagUsage, usage_by_dag
from cdpflow.errors import TerminalError, TransientError

NOVEMBER = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
SECRET = "airflow-S3cret"


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with running_server() as server:
        yield server


def _metadata_db(pg: PostgresServer, name: str, history: bool) -> str:
    """A database with Airflow's task tables (the columns billing reads, Airflow's types) and
    a role `airflow` that owns it; the URL as Airflow's sql_alchemy_conn spells it."""
    with psycopg.connect(pg.url(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'airflow'").fetchone():
            admin.execute(f"CREATE ROLE airflow LOGIN PASSWORD '{SECRET}'")
        admin.execute(f"ALTER DATABASE {name} OWNER TO airflow")
    url = pg.url("airflow", name, SECRET)
    tables = ["task_instance", *(["task_instance_history"] if history else [])]
    with psycopg.connect(url, autocommit=True) as con:
        for table in tables:
            con.execute(
                f"""CREATE TABLE {table} (id serial PRIMARY KEY, dag_id varchar(250) NOT NULL,
                task_id varchar(250), start_date timestamptz, end_date timestamptz,
                duration double precision)"""
            )
        rows = {
            "task_instance": [
                ("events_incremental", "2026-11-01 00:00:00+00", "2026-11-01 00:02:00+00", 120.0),
                ("events_incremental", "2026-11-30 23:59:59.5+00", "2026-12-01 00:00:30+00", 30.5),
                ("events_incremental", "2026-12-01 00:00:00+00", "2026-12-01 00:10:00+00", 600.0),
                ("compression", "2026-11-01 00:30:00+01", "2026-11-01 00:31:00+01", 60.0),
                ("compression", "2026-11-02 01:00:00+01", "2026-11-02 01:00:10+01", 10.0),
                ("billing", None, None, None),  # queued, never started
                ("killed", "2026-11-05 10:00:00+00", "2026-11-05 10:01:30+00", None),
            ],
            "task_instance_history": [
                ("events_incremental", "2026-11-01 00:00:00+00", "2026-11-01 00:01:00+00", 60.0)
            ],
        }
        for table in tables:
            with con.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {table} (dag_id, start_date, end_date, duration)"
                    " VALUES (%s, %s, %s, %s)",
                    rows[table],
                )
    return "postgresql+psycopg2://" + url.split("://", 1)[1]


def test_task_tries_are_summed_per_dag_from_both_tables(pg: PostgresServer) -> None:
    url = _metadata_db(pg, "airflow_full", history=True)
    assert usage_by_dag(url, *NOVEMBER) == {
        "compression": DagUsage("compression", 1, 10.0),  # the other started in October (UTC)
        "events_incremental": DagUsage("events_incremental", 3, 210.5),
        "killed": DagUsage("killed", 1, 90.0),
    }


def test_an_airflow_without_the_history_table_reads_the_latest_tries(pg: PostgresServer) -> None:
    url = _metadata_db(pg, "airflow_old", history=False)
    assert usage_by_dag(url, *NOVEMBER)["events_incremental"] == DagUsage(
        "events_incremental", 2, 150.5
    )


def test_refused_or_unreachable_names_the_setting_without_the_password(
    pg: PostgresServer,
) -> None:
    missing = "postgresql+psycopg2://" + pg.url("airflow", "no_such_db", SECRET).split("://")[1]
    with pytest.raises(TerminalError) as refused:
        usage_by_dag(missing, *NOVEMBER)
    assert "CDPFLOW_AIRFLOW_DB_URL" in str(refused.value)
    assert "no_such_db" in str(refused.value) and SECRET not in str(refused.value)
    gone = f"postgresql://airflow:{SECRET}@127.0.0.1:1/airflow"
    with pytest.raises(TransientError) as unreachable:
        usage_by_dag(gone, *NOVEMBER)
    assert "CDPFLOW_AIRFLOW_DB_URL" in str(unreachable.value)
    assert SECRET not in str(unreachable.value)
