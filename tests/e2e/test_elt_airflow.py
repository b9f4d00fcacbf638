"""Pipelines in a real Airflow DagBag: each file is DAG `elt_<name>` with its schedule and its
tables as outlets, and a broken file is one import error naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.airflow_run import parse_home_dags as parse
from support.airflow_run import run_airflow

pytestmark = pytest.mark.e2e

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
