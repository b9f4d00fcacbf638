"""billing end to end: real Airflow task runs, a real SMTP server, figures checked by hand."""

from __future__ import annotations

import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fakes.cost_explorer import CostExplorer
from fakes.smtp import smtp_inbox
from support.airflow_run import BIN, airflow_env, generate_sample, run_airflow
from support.ports import free_port

pytestmark = pytest.mark.e2e


def _seconds_by_dag(db: Path, month: str) -> dict[str, float]:
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT dag_id, start_date, duration FROM task_instance").fetchall()
    out: dict[str, float] = {}
    for dag_id, started, duration in rows:
        if started.startswith(month):
            out[dag_id] = out.get(dag_id, 0.0) + float(duration)
    return out


def test_monthly_cost_report_is_emailed_with_its_figures(tmp_path: Path) -> None:
    airflow_home, cdp = tmp_path / "airflow", tmp_path / "cdp"
    run_airflow(airflow_home, cdp, "db", "migrate")
    env = airflow_env(airflow_home, cdp)
    generate_sample(env, 30)
    run_airflow(airflow_home, cdp, "dags", "reserialize")
    run_airflow(airflow_home, cdp, "dags", "test", "events_incremental")
    run_airflow(airflow_home, cdp, "dags", "test", "compression")
    now = datetime.now(UTC)
    month = f"{now:%Y-%m}"
    seconds = _seconds_by_dag(airflow_home / "airflow.db", month)
    assert set(seconds) == {"events_incremental", "compression"}
    lake_bytes = sum(p.stat().st_size for p in (cdp / "lake").rglob("*") if p.is_file())

    port = free_port()
    settings_env = {
        **env,
        "CDPFLOW_SMTP_HOST": "127.0.0.1",
        "CDPFLOW_SMTP_PORT": str(port),
        "CDPFLOW_BILLING_EMAIL": "finance@shop.example.com",
        "CDPFLOW_AIRFLOW_DB_URL": f"sqlite:///{airflow_home / 'airflow.db'}",
        "CDPFLOW_INSTANCE_TYPE": "m5.xlarge",
    }
    with smtp_inbox(port) as inbox:
        report = subprocess.run(
            [str(BIN / "cdpflow"), "run", "billing", "--start", f"{month}-01"],
            env=settings_env,
            capture_output=True,
            text=True,
        )
        assert report.returncode == 0, report.stderr
        # the next month's only cost is storage: the lake as it is now, this report included
        lake_after = sum(p.stat().st_size for p in (cdp / "lake").rglob("*") if p.is_file())
        following = f"{now.year + now.month // 12}-{now.month % 12 + 1:02d}"
        nxt = subprocess.run(
            [str(BIN / "cdpflow"), "run", "billing", "--start", f"{following}-01"],
            env=settings_env,
            capture_output=True,
            text=True,
        )
        assert nxt.returncode == 0, nxt.stderr

    assert len(inbox.messages) == 2
    recipients, message = inbox.messages[0]
    assert recipients == ["finance@shop.example.com"]
    compute = {dag: s / 3600 * 0.192 for dag, s in seconds.items()}
    storage = lake_bytes / 1e9 * 0.023
    total = sum(compute.values()) + storage
    assert message["Subject"] == f"[cdpflow] Cost report {month}: ${total:,.4f}"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    for dag, cost in compute.items():
        hours = seconds[dag] / 3600
        assert f"<td>{dag}</td><td>1</td><td>{hours:,.4f}</td><td>${cost:,.4f}</td>" in html
    assert f"Storage:  ${storage:,.4f} = {lake_bytes / 1e9:,.4f} GB x $0.023/GB-month" in text
    assert "(m5.xlarge)" in text and "n/a (no report for the month before)" not in text

    # the next month compares against the stored report of this one
    _, second = inbox.messages[1]
    later = second.get_body(("plain",)).get_content()
    assert f"-${total - lake_after / 1e9 * 0.023:,.4f}" in later
    assert "no task ran this month" in later
    assert (
        f"<td>${compute['events_incremental']:,.4f}</td>"
        in second.get_body(("html",)).get_content()
    )


def test_aws_cost_explorer_figure_is_added_when_credentials_exist(tmp_path: Path) -> None:
    airflow_home, cdp = tmp_path / "airflow", tmp_path / "cdp"
    run_airflow(airflow_home, cdp, "db", "migrate")
    port = free_port()
    base = {
        **airflow_env(airflow_home, cdp),
        "CDPFLOW_SMTP_HOST": "127.0.0.1",
        "CDPFLOW_SMTP_PORT": str(port),
        "CDPFLOW_BILLING_EMAIL": "finance@shop.example.com",
        "CDPFLOW_AIRFLOW_DB_URL": f"sqlite:///{airflow_home / 'airflow.db'}",
        "CDPFLOW_AWS_COST_TAG": "app=cdpflow",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    base = {
        k: v
        for k, v in base.items()
        if not k.startswith("AWS_ACCESS") and k != "AWS_SECRET_ACCESS_KEY"
    }
    explorer = CostExplorer("AKIDCDPFLOWTEST", {("app", "cdpflow"): "12.34"})
    with smtp_inbox(port) as inbox, explorer as ce:
        signed = {
            **base,
            "CDPFLOW_AWS_CE_ENDPOINT": ce.url,
            "AWS_ACCESS_KEY_ID": "AKIDCDPFLOWTEST",
            "AWS_SECRET_ACCESS_KEY": "not-a-real-secret",
        }
        done = subprocess.run(
            [str(BIN / "cdpflow"), "run", "billing", "--start", "2026-02-01"],
            env=signed,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        assert ce.requests == [
            {
                "TimePeriod": {"Start": "2026-02-01", "End": "2026-03-01"},
                "Granularity": "MONTHLY",
                "Metrics": ["UnblendedCost"],
                "Filter": {
                    "Tags": {"Key": "app", "Values": ["cdpflow"], "MatchOptions": ["EQUALS"]}
                },
            }
        ]
        wrong_key = subprocess.run(
            [str(BIN / "cdpflow"), "run", "billing", "--start", "2026-02-01"],
            env={**signed, "AWS_ACCESS_KEY_ID": "AKIDSOMEONEELSE"},
            capture_output=True,
            text=True,
        )
        assert wrong_key.returncode != 0 and "UnrecognizedClientException" in wrong_key.stderr
        unsigned = subprocess.run(
            [str(BIN / "cdpflow"), "run", "billing", "--start", "2026-02-01"],
            env={**base, "CDPFLOW_AWS_CE_ENDPOINT": ce.url},
            capture_output=True,
            text=True,
        )
        assert unsigned.returncode == 0, unsigned.stderr
        assert len(ce.requests) == 1  # no credentials: Cost Explorer is not asked
    assert len(inbox.messages) == 2
    with_aws = inbox.messages[0][1].get_body(("plain",)).get_content()
    assert "AWS Cost Explorer: $12.3400" in with_aws and "tagged app=cdpflow" in with_aws
    without = inbox.messages[1][1].get_body(("plain",)).get_content()
    assert "AWS Cost Explorer skipped: no AWS credentials are configured." in without
