"""cdpflow's DAGs in a real Airflow (SQLite metadata DB), each Airflow command in a subprocess."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from airflow_support import BIN, airflow_env, free_port, generate_sample, run_airflow
from fakes.smtp import smtp_inbox

from cdpflow.airflow.dag_factory import DAGS_FOLDER
from cdpflow.airflow.runtime import airflow_environment
from cdpflow.secrets import open_secrets
from cdpflow.settings import load_settings

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("airflow")
    run_airflow(home, home / "cdp", "db", "migrate")
    return home


DAGBAG = """
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={folder!r})
print(json.dumps({{"errors": {{k: str(v) for k, v in bag.import_errors.items()}},
  "dags": {{d.dag_id: {{"schedule": str(d.schedule), "catchup": d.catchup,
    "max_active_runs": d.max_active_runs, "start": d.start_date.isoformat(),
    "retries": d.default_args.get("retries")}} for d in bag.dags.values()}}}}))
"""


def _dagbag(airflow_home: Path, tmp_path: Path, **extra: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", DAGBAG.format(folder=str(DAGS_FOLDER))],
        env=airflow_env(airflow_home, tmp_path / "cdp", **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_dags_import_and_schedules_follow_the_variables(airflow_home: Path, tmp_path: Path) -> None:
    bag = _dagbag(airflow_home, tmp_path)
    assert bag["errors"] == {}
    dags = bag["dags"]
    assert {"one_time_setup", "events_incremental", "compression", "cleanup_temp_tables"} <= set(
        dags
    )
    assert dags["events_incremental"]["schedule"] == "0 * * * *"
    assert dags["compression"]["schedule"] == "@daily"
    assert dags["delete_idle_db_connections"]["schedule"] == "0 */3 * * *"
    assert dags["billing"]["schedule"] == "0 6 1 * *"
    assert dags["one_time_setup"]["schedule"] == "None"
    for spec in dags.values():
        assert spec["catchup"] is False and spec["max_active_runs"] == 1 and spec["retries"] == 3
        assert spec["start"].startswith("1977-10-01T00:00:00")

    changed = _dagbag(
        airflow_home,
        tmp_path,
        AIRFLOW_VAR_EVENTS_INCREMENTAL_SCHEDULE_INTERVAL="*/15 * * * *",
        AIRFLOW_VAR_AIRFLOW_START_DATE="2024-01-01 00:00:00",
        AIRFLOW_VAR_SCHEDULE_INTERVAL_DELETE_IDLE_CONNECTIONS="30 1 * * *",
    )
    assert changed["dags"]["events_incremental"]["schedule"] == "*/15 * * * *"
    assert changed["dags"]["delete_idle_db_connections"]["schedule"] == "30 1 * * *"
    assert changed["dags"]["compression"]["start"].startswith("2024-01-01")


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
    counted = subprocess.run(
        [str(BIN / "cdpflow"), "sql", "SELECT count(*) AS n FROM core_events", "--format", "json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert json.loads(counted.stdout)[0]["n"] > 100


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
