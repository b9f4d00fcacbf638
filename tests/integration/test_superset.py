"""The Superset DAGs against a real Superset (started once per session from its cached venv)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.lake import lake_query
from support.superset import SupersetServer

from cdpflow.errors import TerminalError, TransientError
from cdpflow.jobs import sync_superset_tables
from cdpflow.lake.merge_on_read import delta_file, layout_properties
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, TableStore
from cdpflow.settings import Settings, load_settings
from cdpflow.superset.client import SupersetClient
from cdpflow.superset.lake_datasets import DATABASE_NAME
from cdpflow.superset.runtime import Credentials


def test_cdpflow_superset_keeps_a_generated_password_in_the_secrets_store_and_out_of_logs(
    superset: SupersetServer,
) -> None:
    printed = superset.log()
    port = superset.url.rsplit(":", 1)[1]
    assert f"Superset UI: http://localhost:{port}" in printed
    assert "User:        admin" in printed
    assert "Password:    cdpflow secrets get superset_password" in printed
    assert f"SUPERSET_BASE_URL=http://localhost:{port}" in printed
    assert len(superset.password) >= 24 and superset.password not in printed
    assert (superset.home / "superset" / "superset.db").is_file()  # SQLite metadata in the home
    assert superset.password not in (superset.home / "superset" / "superset_config.py").read_text()
    admin(superset).databases()  # the admin logs in with the generated password


@pytest.fixture
def job_settings(superset: SupersetServer, tmp_path: Path) -> Settings:
    return load_settings(env=superset.env(), home=tmp_path / "home")


def admin(superset: SupersetServer) -> SupersetClient:
    return SupersetClient(superset.url, Credentials("admin", "", superset.password))


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
    shown = revenue_by_channel(client, int(ours(client)["channel_revenue"]["id"]))
    assert shown == lake_revenue_by_channel(job_settings)


def revenue_by_channel(client: SupersetClient, dataset_id: int) -> dict[str, float]:
    """SUM(revenue) per channel, as Superset's chart data API computes it on the dataset."""
    answer = client.request(
        "POST",
        "/api/v1/chart/data",
        json={
            "datasource": {"id": dataset_id, "type": "table"},
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
    return {row["channel"]: row["revenue"] for row in answer["result"][0]["data"]}


def lake_revenue_by_channel(settings: Settings) -> dict[str, float]:
    expected = lake_query(
        settings, "SELECT channel, SUM(revenue) AS revenue FROM channel_revenue GROUP BY channel"
    )
    return {row["channel"]: row["revenue"] for row in expected}


def test_rewritten_files_are_followed_and_a_users_dataset_holding_a_tables_name_is_left_alone(
    job_settings: Settings, superset: SupersetServer
) -> None:
    write_table(job_settings, "channel_revenue", revenue())
    sync_superset_tables.run(job_settings)
    client = admin(superset)
    database_id = next(
        int(d["id"]) for d in client.databases() if d["database_name"] == DATABASE_NAME
    )
    client.request(
        "POST",
        "/api/v1/dataset/",
        json={"database": database_id, "table_name": "ad_spend", "sql": "SELECT 7 AS spend"},
    )

    # as compression does: the table's rows move to a new file and the old one is deleted
    lake = Lake(job_settings.lake_url)
    changed = revenue().set_column(2, "revenue", pa.array([99.5, 80.25, 42.0]))
    write_table(job_settings, "channel_revenue", changed, part=7)
    lake.remove("channel_revenue/part-0000.parquet")
    write_table(job_settings, "ad_spend", pa.table({"spend": [1.5]}))
    result = sync_superset_tables.run(job_settings)

    assert result.repointed == ["channel_revenue"] and result.refreshed == []
    assert result.skipped == ["ad_spend"] and "ad_spend" not in result.created
    datasets = ours(client)
    shown = revenue_by_channel(client, int(datasets["channel_revenue"]["id"]))
    assert shown == lake_revenue_by_channel(job_settings) and shown["email"] == 99.5
    assert datasets["ad_spend"]["sql"] == "SELECT 7 AS spend"
    assert sync_superset_tables.run(job_settings).changes == 0


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
    assert superset.password not in str(unreachable.value)
    assert time.monotonic() - started < 30


def test_a_merge_on_read_table_reads_as_one_in_superset(
    job_settings: Settings, superset: SupersetServer
) -> None:
    """`identities` keeps a base and a delta that supersedes it by key; Superset's DuckDB 1.x
    runs the same merging scan as `cdpflow sql`."""
    lake = Lake(job_settings.lake_url)
    lake.makedirs("people_graph")
    files = []
    for name, rows in (("base", [("a", 1), ("b", 2), ("c", 3)]), ("delta", [("b", 20), ("d", 4)])):
        part = pa.table({"person": [k for k, _ in rows], "score": [v for _, v in rows]})
        pq.write_table(part, lake.full(f"people_graph/{name}.parquet"))
        size = lake.size(f"people_graph/{name}.parquet")
        files.append(
            delta_file(f"{name}.parquet", len(rows), size, "test")
            if name == "delta"
            else DataFile(f"{name}.parquet", len(rows), size)
        )
    TableStore(lake).commit(
        "people_graph",
        None,
        operation="test",
        add=files,
        columns=[("person", "VARCHAR"), ("score", "BIGINT")],
        properties=layout_properties(["person"], superseded_rows=1),
    )
    sync_superset_tables.run(job_settings)
    client = admin(superset)
    answer = client.request(
        "POST",
        "/api/v1/chart/data",
        json={
            "datasource": {"id": int(ours(client)["people_graph"]["id"]), "type": "table"},
            "queries": [{"columns": ["person", "score"], "metrics": [], "orderby": []}],
            "result_format": "json",
            "result_type": "full",
        },
    )
    shown = sorted((r["person"], r["score"]) for r in answer["result"][0]["data"])
    expected = lake_query(job_settings, "SELECT person, score FROM people_graph")
    assert shown == sorted((r["person"], r["score"]) for r in expected)
    assert shown == [("a", 1), ("b", 20), ("c", 3), ("d", 4)]
