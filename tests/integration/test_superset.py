"""The Superset DAGs against a real Superset (started once per session from its cached venv)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.lake import lake_query
from support.superset import (
    ADMIN_PASSWORD,
    SupersetServer,
    start_superset,
    stop_superset,
    venv_missing,
)

from cdpflow.errors import TerminalError, TransientError
from cdpflow.jobs import sync_superset_tables
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, TableStore
from cdpflow.settings import Settings, load_settings
from cdpflow.superset.client import SupersetClient
from cdpflow.superset.lake_datasets import DATABASE_NAME
from cdpflow.superset.runtime import Credentials


@pytest.fixture(scope="session")
def superset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupersetServer]:
    missing = venv_missing()
    if missing:
        pytest.skip(missing)
    server = start_superset(tmp_path_factory.mktemp("superset-home"))
    print(f"\nSuperset started in {server.started_seconds:.1f} s at {server.url}")
    try:
        yield server
    finally:
        stop_superset(server)


@pytest.fixture
def job_settings(superset: SupersetServer, tmp_path: Path) -> Settings:
    return load_settings(env=superset.env(), home=tmp_path / "home")


def admin(superset: SupersetServer) -> SupersetClient:
    return SupersetClient(superset.url, Credentials("admin", "", ADMIN_PASSWORD))


def write_table(settings: Settings, name: str, table: pa.Table, part: int = 0) -> None:
    """Publish `table` as lake table `name` (replacing its files), as a job commits one."""
    lake = Lake(settings.lake_url)
    store = TableStore(lake)
    rel = f"{name}/part-{part:04d}.parquet"
    lake.makedirs(name)
    pq.write_table(table, lake.full(rel))
    columns = [(f.name, duck_type(f.type)) for f in table.schema]
    store.commit(
        name,
        store.current(name),
        operation="overwrite",
        add=[DataFile(f"part-{part:04d}.parquet", table.num_rows, lake.size(rel))],
        remove=lambda f: True,
        columns=columns,
    )


def duck_type(kind: pa.DataType) -> str:
    if pa.types.is_integer(kind):
        return "BIGINT"
    if pa.types.is_floating(kind):
        return "DOUBLE"
    if pa.types.is_date(kind):
        return "DATE"
    return "VARCHAR"


def revenue(days: int = 3) -> pa.Table:
    return pa.table(
        {
            "day": pa.array([f"2026-11-0{d + 1}" for d in range(days)]),
            "channel": pa.array(["email", "paid", "organic"][:days]),
            "revenue": pa.array([120.5, 80.25, 42.0][:days]),
        }
    )


def ours(client: SupersetClient) -> dict[str, dict[str, Any]]:
    """Datasets of the cdpflow database by table name, with their columns."""
    database = next(d for d in client.databases() if d["database_name"] == DATABASE_NAME)
    return {
        row["table_name"]: client.dataset(int(row["id"]))
        for row in client.datasets(int(database["id"]))
    }


def test_every_lake_table_becomes_a_dataset_and_a_second_run_changes_nothing(
    job_settings: Settings, superset: SupersetServer
) -> None:
    write_table(job_settings, "channel_revenue", revenue())
    write_table(job_settings, "customers", pa.table({"customer_id": ["a", "b"], "orders": [1, 4]}))

    first = sync_superset_tables.run(job_settings)
    assert {"channel_revenue", "customers"} <= set(first.created)
    datasets = ours(admin(superset))
    assert sorted(c["column_name"] for c in datasets["customers"]["columns"]) == [
        "customer_id",
        "orders",
    ]

    second = sync_superset_tables.run(job_settings)
    assert second.changes == 0, second.summary()
    assert second.unchanged >= 2


def test_new_table_changed_schema_and_removed_table_follow_the_lake_users_dataset_survives(
    job_settings: Settings, superset: SupersetServer
) -> None:
    write_table(job_settings, "channel_revenue", revenue())
    write_table(job_settings, "old_table", pa.table({"x": [1]}))
    sync_superset_tables.run(job_settings)
    client = admin(superset)
    database_id = next(
        int(d["id"]) for d in client.databases() if d["database_name"] == DATABASE_NAME
    )
    users = client.request(
        "POST",
        "/api/v1/dataset/",
        json={"database": database_id, "table_name": "my_own_query", "sql": "SELECT 42 AS answer"},
    )["id"]

    Lake(job_settings.lake_url).remove("old_table")
    with_margin = revenue().append_column("margin", pa.array([1.0, 2.0, 3.0]))
    write_table(job_settings, "channel_revenue", with_margin, part=1)
    write_table(job_settings, "segments", pa.table({"segment": ["vip"], "size": [3]}))
    result = sync_superset_tables.run(job_settings)

    assert result.created == ["segments"]
    assert result.refreshed == ["channel_revenue"]
    assert "old_table" in result.removed
    datasets = ours(client)
    assert "old_table" not in datasets
    assert "margin" in {c["column_name"] for c in datasets["channel_revenue"]["columns"]}
    assert "part-0001.parquet" in datasets["channel_revenue"]["sql"]
    assert datasets["my_own_query"]["id"] == users
    assert datasets["my_own_query"]["sql"] == "SELECT 42 AS answer"


def test_dataset_reads_the_same_numbers_as_cdpflow_sql(
    job_settings: Settings, superset: SupersetServer
) -> None:
    """Superset's own DuckDB (1.x) reads the files cdpflow's DuckDB (2.x) wrote."""
    write_table(job_settings, "channel_revenue", revenue())
    sync_superset_tables.run(job_settings)
    client = admin(superset)
    dataset = ours(client)["channel_revenue"]
    answer = client.request(
        "POST",
        "/api/v1/chart/data",
        json={
            "datasource": {"id": dataset["id"], "type": "table"},
            "queries": [
                {
                    "columns": ["channel"],
                    "metrics": [
                        {
                            "label": "revenue",
                            "expressionType": "SQL",
                            "sqlExpression": "SUM(revenue)",
                        }
                    ],
                    "orderby": [["channel", True]],
                }
            ],
            "result_format": "json",
            "result_type": "full",
        },
    )
    shown = {row["channel"]: row["revenue"] for row in answer["result"][0]["data"]}
    expected = lake_query(
        job_settings,
        "SELECT channel, SUM(revenue) AS revenue FROM channel_revenue GROUP BY channel",
    )
    assert shown == {row["channel"]: row["revenue"] for row in expected}


def test_wrong_password_and_superset_down_name_the_url_never_the_password(
    superset: SupersetServer, tmp_path: Path
) -> None:
    wrong = "not-the-Password-42"
    settings = load_settings(
        env={**superset.env(), "SUPERSET_PASSWORD": wrong}, home=tmp_path / "home"
    )
    with pytest.raises(TerminalError) as refused:
        sync_superset_tables.run(settings)
    assert superset.url in str(refused.value)
    assert "SUPERSET_PASSWORD" in str(refused.value)
    assert wrong not in str(refused.value)

    down = load_settings(
        env={**superset.env(), "SUPERSET_BASE_URL": "http://127.0.0.1:9"}, home=tmp_path / "h2"
    )
    started = time.monotonic()
    with pytest.raises(TransientError) as unreachable:
        sync_superset_tables.run(down)
    assert "SUPERSET_BASE_URL=http://127.0.0.1:9" in str(unreachable.value)
    assert ADMIN_PASSWORD not in str(unreachable.value)
    assert time.monotonic() - started < 30
