"""Task run time per DAG, read from an Airflow SQLite metadata DB written here with the columns
billing reads, as Airflow stores them (naive UTC text, durations in seconds)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cdpflow.billing.airflow_runs import DagUsage, usage_by_dag
from cdpflow.errors import TerminalError

NOVEMBER = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
Row = tuple[str, str | None, str | None, float | None]


def metadata_db(path: Path, latest: list[Row], history: list[Row] | None = None) -> str:
    with sqlite3.connect(path) as con:
        tables = {"task_instance": latest} | (
            {} if history is None else {"task_instance_history": history}
        )
        for table, rows in tables.items():
            con.execute(f"CREATE TABLE {table} (dag_id, start_date, end_date, duration)")
            con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?)", rows)
    return f"sqlite:///{path}"


def test_tries_that_started_in_the_month_are_summed_per_dag(tmp_path: Path) -> None:
    url = metadata_db(
        tmp_path / "airflow.db",
        [
            ("events_incremental", "2026-11-01 00:00:00.000000", "2026-11-01 00:02:00", 120.0),
            ("events_incremental", "2026-11-30 23:59:59.999999", "2026-12-01 00:00:30", 30.5),
            ("events_incremental", "2026-12-01 00:00:00.000000", "2026-12-01 00:10:00", 600.0),
            ("compression", "2026-10-31 23:59:59", "2026-11-01 00:05:00", 301.0),
            ("compression", "2026-11-01T00:30:00+01:00", "2026-11-01T00:31:00+01:00", 60.0),
            ("compression", "2026-11-02T01:00:00+01:00", "2026-11-02T01:00:10+01:00", 10.0),
            ("billing", None, None, None),  # queued, never started
        ],
        history=[("events_incremental", "2026-11-01 00:00:00", "2026-11-01 00:01:00", 60.0)],
    )
    assert usage_by_dag(url, *NOVEMBER) == {
        "compression": DagUsage("compression", 1, 10.0),
        "events_incremental": DagUsage("events_incremental", 3, 210.5),
    }


def test_a_try_without_a_duration_counts_until_its_end_or_nothing(tmp_path: Path) -> None:
    url = metadata_db(
        tmp_path / "airflow.db",
        [
            ("killed", "2026-11-05 10:00:00", "2026-11-05 10:01:30", None),
            ("running", "2026-11-05 10:00:00", None, None),
            ("clock_skew", "2026-11-05 10:00:00", "2026-11-05 09:59:00", None),
        ],
    )
    assert usage_by_dag(url, *NOVEMBER) == {
        "clock_skew": DagUsage("clock_skew", 1, 0.0),
        "killed": DagUsage("killed", 1, 90.0),
        "running": DagUsage("running", 1, 0.0),
    }


def test_a_missing_db_or_another_database_is_terminal_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(TerminalError, match="does not exist; set CDPFLOW_AIRFLOW_DB_URL"):
        usage_by_dag(f"sqlite:///{tmp_path / 'none.db'}", *NOVEMBER)
    with pytest.raises(TerminalError) as failure:
        usage_by_dag("mysql://airflow:S3cretPassw0rd@db/airflow", *NOVEMBER)
    assert str(failure.value).startswith("CDPFLOW_AIRFLOW_DB_URL `mysql://…`: billing reads")
    assert "S3cretPassw0rd" not in str(failure.value)
