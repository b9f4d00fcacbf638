"""An airbyte pipeline in real Airflow: its DAG is trigger -> a reschedule-mode sensor -> land,
and `airflow dags test` syncs the fake Airbyte connection and lands its streams."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fakes.airbyte import airbyte_server
from support.airflow_run import airflow_env, home_dags_folder, run_airflow
from support.lake import lake_query

from cdpflow.secrets import open_secrets
from cdpflow.settings import load_settings

pytestmark = pytest.mark.e2e

SHAPE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags[sys.argv[2]]
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
  "tasks": {t.task_id: {"upstream": sorted(t.upstream_task_ids),
    "outlets": [o.name for o in t.outlets],
    "mode": getattr(t, "mode", None), "poke_interval": getattr(t, "poke_interval", None)}
    for t in dag.tasks}}))
"""


def test_the_dag_waits_in_a_reschedule_sensor_and_lands_the_streams(tmp_path: Path):
    airflow_home, cdp = tmp_path / "airflow", tmp_path / "cdp"
    dest = tmp_path / "destination"
    with airbyte_server(client_id="app-1", client_secret="cs-airflow-secret") as airbyte:
        connection = airbyte.add_connection(dest)
        connection.records = {
            "customers": [
                {"id": 1, "email": "ada@example.com"},
                {"id": 2, "email": "grace@example.com"},
            ]
        }
        (cdp / "pipelines").mkdir(parents=True)
        (cdp / "pipelines" / "warehouse.yml").write_text(
            f"type: airbyte\nconnection_id: {connection.id}\nurl: {airbyte.url}\n"
            "client_id_secret: wh_id\nclient_secret_secret: wh_secret\n"
            f"resources:\n  customers: {{primary_key: id, path: '{dest}/customers/*.jsonl'}}\n"
        )
        open_secrets(load_settings(env={}, home=cdp)).put_many(
            {"wh_id": "app-1", "wh_secret": "cs-airflow-secret"}
        )
        fast = {"CDPFLOW_AIRBYTE_POLL_SECONDS": "1"}
        run_airflow(airflow_home, cdp, "db", "migrate", **fast)
        folder = home_dags_folder(cdp)
        env = airflow_env(airflow_home, cdp, AIRFLOW__CORE__DAGS_FOLDER=folder, **fast)
        proc = subprocess.run(
            [sys.executable, "-c", SHAPE, folder, "elt_warehouse"],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        shape = json.loads(proc.stdout.strip().splitlines()[-1])
        assert shape["errors"] == {}
        tasks = shape["tasks"]
        assert tasks["trigger"]["upstream"] == []
        assert tasks["wait"]["upstream"] == ["trigger"]
        assert tasks["wait"]["mode"] == "reschedule" and tasks["wait"]["poke_interval"] == 1
        assert tasks["land"]["upstream"] == ["trigger", "wait"]
        assert tasks["land"]["outlets"] == ["warehouse__customers"]

        run = run_airflow(
            airflow_home, cdp, "dags", "test", "elt_warehouse",
            AIRFLOW__CORE__DAGS_FOLDER=folder, **fast,
        )  # fmt: skip

        [job] = airbyte.jobs.values()
    assert "state=success" in run.stdout + run.stderr
    assert job.status == "succeeded"
    rows = lake_query(
        load_settings(env={}, home=cdp), "SELECT id, email FROM warehouse__customers ORDER BY id"
    )
    assert rows == [{"id": 1, "email": "ada@example.com"}, {"id": 2, "email": "grace@example.com"}]
    metadata = sqlite3.connect(airflow_home / "airflow.db")
    [(reschedules,)] = metadata.execute(
        "SELECT count(*) FROM task_reschedule r JOIN task_instance t ON t.id = r.ti_id "
        "WHERE t.dag_id = 'elt_warehouse' AND t.task_id = 'wait'"
    ).fetchall()
    assert reschedules >= 1  # the sensor gave its slot back between pokes
