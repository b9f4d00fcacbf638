"""cdpflow's DAGs in a real Airflow (SQLite metadata DB), each Airflow command in a subprocess."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fakes.smtp import smtp_inbox
from support.airflow_run import BIN, airflow_env, generate_sample, run_airflow
from support.ports import free_port

from cdpflow.airflow.dag_factory import DAGS_FOLDER, SPECS
from cdpflow.airflow.runtime import airflow_environment
from cdpflow.dbt.models import marts, models_of
from cdpflow.jobs import JOBS
from cdpflow.secrets import open_secrets
from cdpflow.settings import load_settings

pytestmark = pytest.mark.e2e

# the DAG ids issue #6 asks for
DAG_IDS = (
    "one_time_setup", "events_incremental", "id_stitching_incremental", "events_unified_view",
    "attribution", "campaign", "derived_views", "retention", "compression",
    "cleanup_temp_tables", "delete_idle_db_connections", "billing", "sync_superset_tables",
    "activation_stats", "entity_creation", "sync_superset_dashboard",
    "scan_report_runs_and_send_email",
)  # fmt: skip


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("airflow")
    run_airflow(home, home / "cdp", "db", "migrate")
    return home


DAGBAG = """
import json, sys
from airflow.dag_processing.dagbag import DagBag

def condition(c):
    if c is None or not hasattr(c, "objects"):
        return c and c.name
    return {type(c).__name__: [condition(o) for o in c.objects]}

bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
  "heavy_imports": sorted(m for m in sys.modules if m.split(".")[0] in ("dbt", "duckdb")),
  "dags": {d.dag_id: {"schedule": str(d.schedule), "catchup": d.catchup,
    "max_active_runs": d.max_active_runs, "start": d.start_date.isoformat(),
    "retries": d.default_args.get("retries"),
    "cron": getattr(getattr(d.timetable, "timetable", None), "expression", None),
    "assets": condition(getattr(d.timetable, "asset_condition", None)),
    "tasks": {t.task_id: {"upstream": sorted(t.upstream_task_ids),
      "outlets": [o.name for o in t.outlets]} for t in d.tasks}} for d in bag.dags.values()}}))
"""


def _dagbag(airflow_home: Path, tmp_path: Path, **extra: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", DAGBAG, str(DAGS_FOLDER)],
        env=airflow_env(airflow_home, tmp_path / "cdp", **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def bag(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The DAG folder as Airflow's DagBag reads it with the default settings."""
    tmp_path = tmp_path_factory.mktemp("bag")
    parsed = _dagbag(airflow_home, tmp_path)
    assert not (tmp_path / "cdp").exists()  # parsing touched neither the lake nor CDPFLOW_HOME
    return parsed


def test_dags_import_and_schedules_follow_the_variables(
    airflow_home: Path, bag: dict, tmp_path: Path
) -> None:
    assert bag["errors"] == {}
    dags = bag["dags"]
    assert set(dags) == set(SPECS) == set(JOBS) == set(DAG_IDS)
    assert dags["events_incremental"]["schedule"] == "0 * * * *"
    assert dags["compression"]["schedule"] == "@daily"
    assert dags["delete_idle_db_connections"]["schedule"] == "0 */3 * * *"
    assert dags["billing"]["schedule"] == "0 6 1 * *"
    assert dags["one_time_setup"]["schedule"] == "None"
    superset_sync = dags["sync_superset_tables"]
    assert {"core_events", "identities", "sessions", "campaign_performance"} <= set(
        superset_sync["assets"]["AssetAny"]
    )
    assert superset_sync["cron"] == "*/30 * * * *"
    for spec in dags.values():
        assert spec["catchup"] is False and spec["max_active_runs"] == 1 and spec["retries"] == 3
        assert spec["start"].startswith("1977-10-01T00:00:00")

    changed = _dagbag(
        airflow_home,
        tmp_path,
        AIRFLOW_VAR_EVENTS_INCREMENTAL_SCHEDULE_INTERVAL="*/15 * * * *",
        AIRFLOW_VAR_AIRFLOW_START_DATE="2024-01-01 00:00:00",
        AIRFLOW_VAR_SCHEDULE_INTERVAL_DELETE_IDLE_CONNECTIONS="30 1 * * *",
        AIRFLOW_VAR_USER_REPORTING_SCHEDULE_INTERVAL="5 * * * *",
    )
    assert changed["dags"]["sync_superset_tables"]["cron"] == "5 * * * *"
    assert changed["dags"]["events_incremental"]["schedule"] == "*/15 * * * *"
    assert changed["dags"]["delete_idle_db_connections"]["schedule"] == "30 1 * * *"
    assert changed["dags"]["compression"]["start"].startswith("2024-01-01")


def test_analytics_dags_run_a_task_per_dbt_model_when_their_inputs_change(bag: dict) -> None:
    dags = bag["dags"]
    assert bag["heavy_imports"] == []  # parsing imports neither dbt nor DuckDB
    assert dags["events_unified_view"]["assets"] == {"AssetAny": ["core_events", "identities"]}
    assert dags["attribution"]["assets"] == {"AssetAll": ["sessions", "conversions"]}
    assert dags["retention"]["assets"] == {"AssetAll": ["unique_events", "conversions"]}
    assert dags["campaign"]["assets"] == {"AssetAll": ["attribution"]}
    assert dags["derived_views"]["assets"] == {"AssetAny": list(marts())}
    assert dags["derived_views"]["tasks"] == {"derived_views": {"upstream": [], "outlets": []}}
    assert dags["entity_creation"]["assets"] == {"AssetAny": ["customer_360", "unique_events"]}
    assert dags["entity_creation"]["tasks"]["entity_creation"]["outlets"] == [
        "segment_members", "segment_changes", "segment_sizes", "funnel_people", "funnel_steps",
    ]  # fmt: skip
    unified = dags["events_unified_view"]["tasks"]
    assert unified["unique_events"] == {
        "upstream": [
            "stg_lake__identities",
            "stg_lake__identity_merges",
            "stg_lake__pending_events",
        ],
        "outlets": ["unique_events"],
    }
    assert unified["int_events_sessionized"] == {"upstream": ["unique_events"], "outlets": []}
    assert unified["sessions"] == {"upstream": ["int_events_sessionized"], "outlets": ["sessions"]}
    assert dags["campaign"]["tasks"] == {
        "campaign_performance": {"upstream": [], "outlets": ["campaign_performance"]}
    }
    # the whole task graphs, written out: a model moved to another DAG or a lost ref fails here
    assert unified == {
        "stg_lake__pending_events": {"upstream": [], "outlets": []},
        "stg_lake__identities": {"upstream": [], "outlets": []},
        "stg_lake__identity_merges": {"upstream": [], "outlets": []},
        "unique_events": unified["unique_events"],
        "int_events_sessionized": {"upstream": ["unique_events"], "outlets": []},
        "stg_lake__offline_orders": {"upstream": [], "outlets": []},
        "stg_lake__offline_customers": {"upstream": [], "outlets": []},
        "int_offline_orders_identified": {
            "upstream": ["stg_lake__identities", "stg_lake__offline_orders"],
            "outlets": [],
        },
        "int_offline_customers_identified": {
            "upstream": ["stg_lake__identities", "stg_lake__offline_customers"],
            "outlets": [],
        },
        "conversions": {
            "upstream": [
                "int_events_sessionized", "int_offline_orders_identified", "unique_events"
            ],
            "outlets": ["conversions"],
        },
        "int_people_identities": {"upstream": ["stg_lake__identities"], "outlets": []},
        "sessions": {"upstream": ["int_events_sessionized"], "outlets": ["sessions"]},
        "customer_360": {
            "upstream": [
                "conversions", "int_events_sessionized", "int_offline_customers_identified",
                "int_people_identities", "sessions",
            ],
            "outlets": ["customer_360"],
        },
        "page_views": {"upstream": ["int_events_sessionized"], "outlets": ["page_views"]},
    }  # fmt: skip
    assert dags["attribution"]["tasks"] == {
        "int_conversions_touchpoints": {"upstream": [], "outlets": []},
        "attribution": {"upstream": ["int_conversions_touchpoints"], "outlets": ["attribution"]},
    }
    assert dags["retention"]["tasks"] == {
        "int_people_active_days": {"upstream": [], "outlets": []},
        "retention": {"upstream": ["int_people_active_days"], "outlets": ["retention"]},
    }
    # every Asset a DAG waits for is updated by some task
    produced = {o for d in dags.values() for t in d["tasks"].values() for o in t["outlets"]}
    for dag_id in ("events_unified_view", "attribution", "campaign", "retention", "derived_views"):
        ((_, waited),) = dags[dag_id]["assets"].items()
        assert set(waited) <= produced, dag_id


def test_a_bad_variable_is_an_import_error_naming_it(airflow_home: Path, tmp_path: Path) -> None:
    bag = _dagbag(airflow_home, tmp_path, AIRFLOW_VAR_EVENTS_INCREMENTAL_SCHEDULE_INTERVAL="hourly")
    assert bag["errors"]
    assert all(
        "EVENTS_INCREMENTAL_SCHEDULE_INTERVAL has value `hourly`" in e
        for e in bag["errors"].values()
    )


def test_events_incremental_runs_through_airflow(airflow_home: Path, tmp_path: Path) -> None:
    cdp = tmp_path / "cdp"
    env = airflow_env(airflow_home, cdp)
    generate_sample(env, 40)
    run_airflow(airflow_home, cdp, "dags", "reserialize")
    run = run_airflow(airflow_home, cdp, "dags", "test", "events_incremental")
    assert "state=success" in run.stdout + run.stderr
    assert _lake_sql(env, "SELECT count(*) AS n FROM core_events")["n"] > 100


def _lake_sql(env: dict[str, str], query: str) -> dict:
    """The one row of `query` over the env's lake, through `cdpflow sql`."""
    proc = subprocess.run(
        [str(BIN / "cdpflow"), "sql", query, "--format", "json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    (row,) = json.loads(proc.stdout)
    return row


UNIFIED = "events_unified_view"
LAKE_CHECKS = """
SELECT
    (SELECT count(*) FROM unique_events) AS unique_rows,
    (SELECT count(DISTINCT event_id) FROM unique_events) AS unique_ids,
    (SELECT count(DISTINCT event_id) FROM core_events) AS core_ids,
    (SELECT count(DISTINCT event_id) FROM core_events
        WHERE event_id NOT IN (SELECT event_id FROM unique_events)) AS core_ids_missing,
    (SELECT count(*) FROM unique_events WHERE global_user_id IS NULL) AS events_without_person,
    (SELECT count(*) FROM sessions) AS sessions,
    (SELECT count(*) FROM sessions WHERE global_user_id IS NULL) AS sessions_without_person,
    (SELECT count(*) FROM page_views) AS page_views,
    (SELECT count(*) FROM customer_360) AS customers
"""


def test_events_unified_view_runs_model_by_model_after_its_inputs(tmp_path: Path) -> None:
    """events_incremental, id_stitching_incremental, then events_unified_view, each through
    `airflow dags test`; the marts' Assets queue the DAGs that wait for them."""
    home, cdp = tmp_path / "airflow", tmp_path / "cdp"
    # asset events queue runs of unpaused DAGs only
    unpaused = {"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False"}
    run_airflow(home, cdp, "db", "migrate", **unpaused)
    generate_sample(airflow_env(home, cdp), 40)
    run_airflow(home, cdp, "dags", "reserialize", **unpaused)
    metadata = sqlite3.connect(home / "airflow.db")

    def queued() -> set[tuple[str, str]]:
        rows = metadata.execute(
            "SELECT q.target_dag_id, a.name FROM asset_dag_run_queue q "
            "JOIN asset a ON a.id = q.asset_id"
        )
        return set(rows.fetchall())

    for dag_id in ("events_incremental", "id_stitching_incremental"):
        run = run_airflow(home, cdp, "dags", "test", dag_id, **unpaused)
        assert "state=success" in run.stdout + run.stderr
    analytics = {q for q in queued() if q[0] != "sync_superset_tables"}
    assert analytics == {(UNIFIED, "core_events"), (UNIFIED, "identities")}
    # the Superset sync waits for every lake table the two jobs wrote
    assert {("sync_superset_tables", t) for t in ("core_events", "identities")} <= queued()

    run = run_airflow(home, cdp, "dags", "test", UNIFIED, **unpaused)
    assert "state=success" in run.stdout + run.stderr
    states = metadata.execute(
        "SELECT task_id, state FROM task_instance WHERE dag_id = ?", (UNIFIED,)
    ).fetchall()
    assert dict(states) == {m.name: "success" for m in models_of(UNIFIED)}
    assert {
        ("attribution", "sessions"),
        ("attribution", "conversions"),
        ("retention", "unique_events"),
        ("retention", "conversions"),
        ("derived_views", "sessions"),
    } <= queued()
    metadata.close()

    lake = _lake_sql(airflow_env(home, cdp), LAKE_CHECKS)
    assert lake["core_ids"] > 100
    assert lake["unique_rows"] == lake["unique_ids"] == lake["core_ids"]
    assert lake["core_ids_missing"] == lake["events_without_person"] == 0
    assert lake["sessions"] > 0 and lake["sessions_without_person"] == 0
    assert lake["page_views"] > 0 and lake["customers"] > 0


def test_a_failed_task_emails_the_configured_address(airflow_home: Path, tmp_path: Path) -> None:
    cdp = tmp_path / "cdp"
    latest = cdp / "lake" / "core_events" / "_snapshots" / "LATEST"
    latest.parent.mkdir(parents=True)
    latest.write_text("not a version")  # a damaged table: the job fails
    port = free_port()
    with smtp_inbox(port) as inbox:
        run_airflow(airflow_home, cdp, "dags", "reserialize")
        run = run_airflow(
            airflow_home,
            cdp,
            "dags",
            "test",
            "events_incremental",
            check=False,
            AIRFLOW_DAG_FAILED_EMAIL="oncall@shop.example.com",
            CDPFLOW_SMTP_HOST="127.0.0.1",
            CDPFLOW_SMTP_PORT=str(port),
            CDPFLOW_TASK_RETRIES="0",
        )
    assert "state=failed" in run.stdout + run.stderr
    assert len(inbox.messages) == 1
    recipients, message = inbox.messages[0]
    assert recipients == ["oncall@shop.example.com"]
    assert message["Subject"] == "[cdpflow] events_incremental.events_incremental failed"
    body = message.get_content()
    assert "DAG: events_incremental" in body and "not a version" in body


def _login(port: int, password: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/auth/token",
        data=json.dumps({"username": "admin", "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, {}


def test_admin_logs_in_with_the_password_from_the_secrets_store(tmp_path: Path) -> None:
    settings = load_settings(env={}, home=tmp_path / "cdp")
    port = free_port()
    env = airflow_environment(settings, port)
    subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True
    )
    password = open_secrets(settings).get("airflow_password")
    assert password and len(password) >= 24
    assert stat.S_IMODE((settings.home / "secrets.json").stat().st_mode) == 0o600
    log = tmp_path / "api-server.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [str(BIN / "airflow"), "api-server", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        status, body = _login(port, password)
        assert status == 201 and body["access_token"]
        dags = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v2/dags",
            headers={"Authorization": f"Bearer {body['access_token']}"},
        )
        with urllib.request.urlopen(dags, timeout=10) as response:
            assert response.status == 200
        assert _login(port, password + "x")[0] == 401
    finally:
        server.terminate()
        server.wait(30)
    assert password not in log.read_text()
    # the same password stays across restarts, and the CLI hands it out on request
    assert (
        airflow_environment(settings, port)
        and open_secrets(settings).get("airflow_password") == password
    )
    shown = subprocess.run(
        [str(BIN / "cdpflow"), "--home", str(settings.home), "secrets", "get", "airflow_password"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == password
