"""Pipelines in a real Airflow DagBag: each file is DAG `elt_<name>` with its schedule and its
tables as outlets, and a broken file is one import error naming the file and the key."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from support.airflow_run import airflow_env, generate_sample, home_dags_folder, run_airflow
from support.airflow_run import parse_home_dags as parse
from support.lake import lake_query

from cdpflow.settings import load_settings

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).parents[2] / "examples"

SHOP = (
    "type: files\nschedule: '0 3 * * *'\nresources:\n"
    "  customers: {primary_key: customer_id, path: imports/shop/customers.csv}\n"
    "  orders: {primary_key: order_id, path: imports/shop/orders.csv}\n"
)


def test_a_pipeline_file_is_a_dag_and_a_broken_one_is_one_import_error(tmp_path: Path):
    airflow_home = tmp_path / "airflow"
    cdp = tmp_path / "cdp"
    run_airflow(airflow_home, cdp, "db", "migrate")
    folder = cdp / "pipelines"
    folder.mkdir(parents=True)
    (folder / "shop.yml").write_text(SHOP)
    (folder / "pos.yml").write_text(SHOP)

    bag = parse(airflow_home, cdp)
    assert bag["errors"] == {}
    shop = bag["dags"]["elt_shop"]
    assert shop["tasks"] == {"elt_shop": ["shop__customers", "shop__orders"]}
    assert "0 3 * * *" in shop["schedule"]

    (folder / "pos.yml").write_text(SHOP.replace("primary_key: order_id, ", ""))
    bag = parse(airflow_home, cdp)
    assert "elt_pos" not in bag["dags"] and "elt_shop" in bag["dags"]
    [(file, error)] = bag["errors"].items()
    assert file.endswith("elt_pos.py")
    assert "`resources[1].primary_key` in" in error and "pos.yml" in error


def test_dags_test_lands_the_demo_shop_and_its_assets_queue_stitching_and_analytics(
    tmp_path: Path,
):
    """The demo's pipeline (examples/pipelines/shop.yml) through `airflow dags test elt_shop`:
    its tables land, and their asset events queue id_stitching_incremental (every ELT table)
    and events_unified_view (tables with a role)."""
    airflow_home, cdp = tmp_path / "airflow", tmp_path / "cdp"
    unpaused = {"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False"}  # else nothing is queued
    run_airflow(airflow_home, cdp, "db", "migrate", **unpaused)
    generate_sample(airflow_env(airflow_home, cdp), 40)  # imports/shop/ with the traffic
    (cdp / "pipelines").mkdir()
    shutil.copy(EXAMPLES / "pipelines" / "shop.yml", cdp / "pipelines")
    folder = {"AIRFLOW__CORE__DAGS_FOLDER": home_dags_folder(cdp), **unpaused}
    run_airflow(airflow_home, cdp, "dags", "reserialize", **folder)

    run = run_airflow(airflow_home, cdp, "dags", "test", "elt_shop", **folder)
    assert "state=success" in run.stdout + run.stderr
    settings = load_settings(env={}, home=cdp)
    [landed] = lake_query(
        settings,
        "SELECT (SELECT count(*) FROM shop__customers) AS customers, "
        "(SELECT count(*) FROM shop__orders) AS orders",
    )
    with (cdp / "imports" / "shop" / "orders.csv").open() as f:
        assert landed["orders"] == sum(1 for _ in f) - 1 > 0 and landed["customers"] > 0
    metadata = sqlite3.connect(airflow_home / "airflow.db")
    queued = set(
        metadata.execute(
            "SELECT q.target_dag_id, a.name FROM asset_dag_run_queue q "
            "JOIN asset a ON a.id = q.asset_id"
        ).fetchall()
    )
    metadata.close()
    tables = ("shop__customers", "shop__orders")
    assert {
        (dag, t) for dag in ("id_stitching_incremental", "events_unified_view") for t in tables
    } <= queued
