"""Report e-mails end to end: report files in CDPFLOW_HOME/reports, scans at chosen times, the
mails a real SMTP server (aiosmtpd) receives, and the `report_runs` rows, compared with what
`cdpflow sql` reads from the lake. The Superset chart report runs against a real Superset."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner
from fakes.smtp import Inbox, smtp_inbox
from support.airflow_run import parse_home_dags
from support.analytics import _write
from support.lake import lake_query
from support.ports import free_port
from support.superset import SupersetServer, start_superset, stop_superset, venv_missing

from cdpflow.cli.main import cli
from cdpflow.declared import DeclarationError
from cdpflow.errors import TerminalError, TransientError
from cdpflow.jobs import Interval, scan_report_runs_and_send_email, sync_superset_tables
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, TableStore
from cdpflow.report import build_report, render_html
from cdpflow.report.charts import images_available
from cdpflow.report.runs import CLAIM_LEASE, ReportRuns
from cdpflow.report.schedules import read_report
from cdpflow.settings import Settings, load_settings
from cdpflow.superset.client import SupersetClient
from cdpflow.superset.lake_datasets import DATABASE_NAME
from cdpflow.superset.runtime import Credentials

DAY = datetime(2026, 11, 20, tzinfo=UTC)
SLOT = DAY.replace(hour=8)  # the daily reports below fall due at 08:00 UTC


def at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    return DAY + timedelta(days=days, hours=hour, minutes=minute)


def scan(settings: Settings, now: datetime) -> scan_report_runs_and_send_email.ScanResult:
    return scan_report_runs_and_send_email.run(settings, Interval(end=now))


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_inbox() as box:
        yield box


def mail_settings(home: Path, port: int, **env: str) -> Settings:
    return load_settings(
        env={"CDPFLOW_SMTP_HOST": "127.0.0.1", "CDPFLOW_SMTP_PORT": str(port), **env}, home=home
    )


@pytest.fixture
def settings(tmp_path: Path, inbox: Inbox) -> Settings:
    return mail_settings(tmp_path / "home", inbox.port)


def write_lake_table(settings: Settings, name: str, table: pa.Table, columns: list[str]) -> None:
    """Publish `table` as lake table `name` with the engine types `columns`, as a job does."""
    lake = Lake(settings.lake_url)
    store = TableStore(lake)
    size = _write(lake, f"{name}/part-0.parquet", table)
    store.commit(
        name,
        store.current(name),
        operation="test",
        add=[DataFile("part-0.parquet", table.num_rows, size)],
        remove=lambda f: True,
        columns=list(zip(table.column_names, columns, strict=True)),
    )


def write_customers(settings: Settings) -> None:
    seen = [datetime(2026, 11, d, 10, tzinfo=UTC) for d in (2, 9, 15, 18, 19)]
    people = pa.table(
        {
            "global_user_id": ["p1", "p2", "p3", "p4", "p5"],
            "orders": [3, 0, 1, 0, 2],
            "revenue": [180.5, 0.0, 42.25, 0.0, 99.99],
            "first_seen_at": pa.array(seen, pa.timestamp("us", tz="UTC")),
        }
    )
    write_lake_table(
        settings,
        "customer_360",
        people,
        ["VARCHAR", "BIGINT", "DOUBLE", "TIMESTAMP WITH TIME ZONE"],
    )


def write_sessions(settings: Settings) -> None:
    days = pa.array([datetime(2026, 11, d).date() for d in (18, 18, 19, 19, 19)], pa.date32())
    sessions = pa.table(
        {
            "session_id": ["s1", "s2", "s3", "s4", "s5"],
            "session_date": days,
            "channel": ["Organic Search", "Email", "Organic Search", "Paid Social", "Email"],
            "revenue": [42.25, 0.0, 180.5, 0.0, 99.99],
        }
    )
    write_lake_table(settings, "sessions", sessions, ["VARCHAR", "DATE", "VARCHAR", "DOUBLE"])


def write_activation_stats(settings: Settings) -> None:
    """Two destinations' days; the 10th is before the daily report's week."""
    stats = pa.table(
        {
            "day": pa.array([datetime(2026, 11, d).date() for d in (10, 18, 19, 19)], pa.date32()),
            "destination": ["vip-klaviyo", "vip-klaviyo", "vip-klaviyo", "crm-hook"],
            "type": ["klaviyo", "klaviyo", "klaviyo", "webhook"],
            "runs": [5, 2, 1, 3],
            "succeeded_runs": [5, 2, 0, 3],
            "added": [40, 5, 0, 7],
            "updated": [0, 1, 0, 2],
            "removed": [0, 0, 0, 1],
            "failed": [0, 0, 4, 0],
            "acknowledged": [40, 45, 45, 6],
            "status": ["ok", "ok", "failing", "ok"],
        }
    )
    kinds = ["DATE", "VARCHAR", "VARCHAR", *["BIGINT"] * 7, "VARCHAR"]
    write_lake_table(settings, "activation_stats", stats, kinds)


def declare(settings: Settings, name: str, text: str) -> Path:
    folder = settings.home / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yml"
    path.write_text(text)
    return path


OVERVIEW = """
builtin: overview
cron: "0 8 * * *"
recipients: [marketing@shop.example.com, ceo@shop.example.com]
subject: Daily overview
days: 7
"""


def bodies(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert text is not None and rich is not None
    return str(text.get_content()), str(rich.get_content())


def table_after(document: str, title: str) -> list[list[str]]:
    """The cells of the first HTML table after heading `title` (header row first)."""
    section = document.split(f"<h2>{html.escape(title)}</h2>", 1)[1]
    table = section.split("<table>", 1)[1].split("</table>", 1)[0]
    return [
        [html.unescape(c) for c in re.findall(r"<t[hd]>(.*?)</t[hd]>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", table)
    ]


def attachment(message: EmailMessage, filename: str) -> list[dict[str, str]]:
    for part in message.iter_attachments():
        if part.get_filename() == filename:
            return list(csv.DictReader(io.StringIO(part.get_content())))
    names = [p.get_filename() for p in message.iter_attachments()]
    raise AssertionError(f"no attachment {filename}; attached: {names}")


def runs_of(settings: Settings, report: str) -> list[dict[str, Any]]:
    return lake_query(
        settings,
        "SELECT slot, status, recipients, error, late, missed_slots, sent_at FROM report_runs "
        f"WHERE report = '{report}' ORDER BY slot, claimed_at",
    )


def test_builtin_report_arrives_once_with_the_lake_numbers_even_when_the_job_runs_again(
    settings: Settings, inbox: Inbox
) -> None:
    write_customers(settings)
    write_sessions(settings)
    write_activation_stats(settings)
    declare(settings, "daily", OVERVIEW)
    declare(
        settings,
        "sales_chart",
        "chart: Sales by channel\ncron: '0 8 * * *'\nrecipients: [ops@shop.example.com]\n",
    )  # fmt: skip  (no Superset configured)

    with pytest.raises(
        TransientError, match=r"sales_chart slot 2026-11-20 08:00.*SUPERSET_BASE_URL"
    ):
        scan(settings, at(8, 5))
    assert len(inbox.messages) == 1
    recipients, message = inbox.messages[0]
    assert recipients == ["marketing@shop.example.com", "ceo@shop.example.com"]
    assert message["Subject"] == "Daily overview"
    text, document = bodies(message)
    assert "Sent late" not in text

    (counts,) = lake_query(
        settings,
        "SELECT count(*) AS people, count(*) FILTER (orders > 0) AS customers, sum(orders) AS "
        "orders, round(sum(revenue), 2) AS revenue FROM customer_360",
    )
    header, row = table_after(document, "Customer counts")
    shown = dict(zip(header, row, strict=True))
    assert shown["people"] == f"{counts['people']:,}" == "5"
    assert shown["customers"] == f"{counts['customers']:,}"
    assert shown["orders"] == f"{counts['orders']:,}"
    assert shown["revenue"] == f"{counts['revenue']:,.2f}" == "322.74"
    by_channel = lake_query(
        settings,
        "SELECT session_date, channel, count(*) AS sessions, round(sum(revenue), 2) AS revenue "
        "FROM sessions GROUP BY ALL ORDER BY session_date, channel",
    )
    csv_rows = attachment(message, "sessions-and-revenue-by-channel.csv")
    assert [(r["session_date"], r["channel"], int(r["sessions"]), float(r["revenue"]))
            for r in csv_rows] == [
        (str(r["session_date"]), r["channel"], r["sessions"], r["revenue"]) for r in by_channel
    ]  # fmt: skip
    assert "No attribution table in the lake yet" in document
    header, *activation = table_after(document, "Activation")
    assert [dict(zip(header, row, strict=True)) for row in activation] == [
        {
            "destination": "crm-hook",
            "type": "webhook",
            "runs": "3",
            "failed_runs": "0",
            "added": "7",
            "updated": "2",
            "removed": "1",
            "failed": "0",
            "acknowledged": "6",
            "status": "ok",
        },
        {
            "destination": "vip-klaviyo",
            "type": "klaviyo",
            "runs": "3",
            "failed_runs": "1",
            "added": "5",
            "updated": "1",
            "removed": "0",
            "failed": "4",
            "acknowledged": "45",
            "status": "failing",
        },
    ]  # fmt: skip  (the week 2026-11-13 to 2026-11-19; the 10th is outside it)
    # the mail and `cdpflow report --days 7` share their renderer: the very same tables
    page = render_html(build_report(settings, 7))
    for title in ("Customer counts", "Sessions and revenue by channel", "Activation"):
        assert table_after(page, title) == table_after(document, title)
    if images_available():  # Chromium is installed in CI: the charts arrive as inline PNGs
        images = [p for p in message.walk() if p.get_content_type() == "image/png"]
        assert len(images) == 2  # sessions and revenue by channel
        for image in images:
            assert image.get_payload(decode=True)[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"cid:{image['Content-ID'].strip('<>')}" in document

    # the Airflow retry, the next scans of the day: the sent slot is never sent again
    with pytest.raises(TransientError):
        scan(settings, at(8, 6))
    with pytest.raises(TransientError):
        scan(settings, at(8, 35))
    assert len(inbox.messages) == 1
    statuses = [(r["slot"], r["status"]) for r in runs_of(settings, "daily")]
    assert statuses == [(SLOT, "sent")]
    failed = runs_of(settings, "sales_chart")
    assert [r["status"] for r in failed] == ["failed"] * 3
    assert "SUPERSET_BASE_URL" in failed[0]["error"]

    (settings.home / "reports" / "sales_chart.yml").unlink()
    result = scan(settings, at(8, 2, days=1))  # the next day's slot
    assert result.sent == ["daily slot 2026-11-21 08:00 UTC"]
    assert len(inbox.messages) == 2
    assert [r["status"] for r in runs_of(settings, "daily")] == ["sent", "sent"]


def test_a_new_report_sends_only_its_latest_slot_not_its_history(
    settings: Settings, inbox: Inbox
) -> None:
    write_customers(settings)
    declare(
        settings, "hourly", "builtin: overview\ncron: '0 * * * *'\nrecipients: a@shop.example.com\n"
    )
    scan(settings, at(14, 20))
    assert len(inbox.messages) == 1
    assert [(r["slot"], r["late"]) for r in runs_of(settings, "hourly")] == [(at(14), False)]
    assert scan(settings, at(14, 50)).not_due == ["hourly"]


def test_cdpflow_run_sends_what_is_due_now(settings: Settings, inbox: Inbox) -> None:
    write_customers(settings)
    declare(
        settings, "hourly", "builtin: overview\ncron: '0 * * * *'\nrecipients: a@shop.example.com\n"
    )
    env = {
        "CDPFLOW_HOME": str(settings.home),
        "CDPFLOW_SMTP_HOST": "127.0.0.1",
        "CDPFLOW_SMTP_PORT": str(inbox.port),
    }
    ran = CliRunner().invoke(cli, ["run", "scan_report_runs_and_send_email"], env=env)
    assert ran.exit_code == 0, ran.output
    assert "1 sent, 0 failed" in ran.output
    assert [r["status"] for r in runs_of(settings, "hourly")] == ["sent"]
    ((recipients, _),) = inbox.messages
    assert recipients == ["a@shop.example.com"]


def test_slots_missed_while_airflow_was_down_are_sent_once_late_saying_so(
    settings: Settings, inbox: Inbox
) -> None:
    write_customers(settings)
    declare(settings, "daily", OVERVIEW)
    scan(settings, at(8, 5))
    # no scan for three days (Airflow down): the slots of day 1, 2 and 3 are due
    result = scan(settings, at(9, 40, days=3))
    assert result.sent == ["daily slot 2026-11-23 08:00 UTC (late)"]
    assert len(inbox.messages) == 2
    text, document = bodies(inbox.messages[1][1])
    assert "Sent late: this report fell due at 2026-11-23 08:00 UTC" in text
    assert "2 earlier slots fell due meanwhile" in text
    assert "Sent late" in document
    rows = runs_of(settings, "daily")
    assert [(r["slot"], r["status"], r["late"], r["missed_slots"]) for r in rows] == [
        (SLOT, "sent", False, 0),
        (at(8, days=3), "sent", True, 2),
    ]
    scan(settings, at(10, 10, days=3))
    assert len(inbox.messages) == 2


def test_smtp_down_records_a_failed_slot_that_the_next_scan_sends(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there yet
    settings = mail_settings(tmp_path / "home", port)
    write_customers(settings)
    declare(settings, "daily", OVERVIEW)
    with pytest.raises(TransientError, match=f"daily slot 2026-11-20 08:00 UTC.*127.0.0.1:{port}"):
        scan(settings, at(8, 5))
    (failed,) = runs_of(settings, "daily")
    assert failed["status"] == "failed" and failed["sent_at"] is None
    assert f"127.0.0.1:{port}" in failed["error"]

    with smtp_inbox(port) as inbox:
        result = scan(settings, at(8, 35))
        assert result.sent == ["daily slot 2026-11-20 08:00 UTC"]  # retried in time: not late
        assert len(inbox.messages) == 1
        scan(settings, at(9, 5))
        assert len(inbox.messages) == 1
    assert [r["status"] for r in runs_of(settings, "daily")] == ["failed", "sent"]


def test_a_bad_report_file_names_file_and_key_and_the_other_reports_still_go(
    settings: Settings, inbox: Inbox
) -> None:
    write_customers(settings)
    declare(settings, "daily", OVERVIEW)
    bad = declare(
        settings, "weekly", "builtin: overview\ncron: '0 25 * * 1'\nrecipients: [a@b.co]\n"
    )
    with pytest.raises(TerminalError) as failure:
        scan(settings, at(8, 5))
    assert f"`cron` in {bad}" in str(failure.value)
    assert "`0 25 * * 1`" in str(failure.value) and "hour field" in str(failure.value)
    assert len(inbox.messages) == 1  # `daily` went out all the same


EVERY_DAY = "cron: '@daily'\nrecipients: [a@b.co]\n"
OVERVIEW_EVERY_DAY = "builtin: overview\n" + EVERY_DAY


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (EVERY_DAY, "dashboard", "exactly one of"),
        ("chart: 3\ndashboard: Sales\n" + EVERY_DAY, "chart", "found dashboard, chart"),
        ("builtin: weekly\n" + EVERY_DAY, "builtin", "`weekly` is not a built-in"),
        (OVERVIEW_EVERY_DAY.replace("a@b.co", "a@b.co, nobody"), "recipients[1]", "`nobody`"),
        (OVERVIEW_EVERY_DAY + "format: pdf\n", "format", "`pdf` is not one of html, csv, both"),
        ("chart: 3\ndays: 7\n" + EVERY_DAY, "days", "applies to `builtin: overview` only"),
        (OVERVIEW_EVERY_DAY + "timezone: Mars/Base\n", "timezone", "`Mars/Base`"),
        (OVERVIEW_EVERY_DAY.replace("recipients", "recipient"), "recipient", "unknown key"),
    ],
)
def test_report_file_errors_name_the_key_and_the_value(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = tmp_path / "sales.yml"
    path.write_text(text)
    with pytest.raises(DeclarationError) as failure:
        read_report(path)
    assert failure.value.key == key
    assert str(path) in str(failure.value) and problem in str(failure.value)


def test_two_scans_claiming_one_slot_at_once_send_it_once(settings: Settings) -> None:
    now = at(8, 5)
    won: list[str | None] = []
    start = threading.Barrier(4)

    def claim() -> None:
        runs = ReportRuns(Lake(settings.lake_url))
        start.wait()
        won.append(runs.claim("daily", SLOT, "a@b.co", now))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([w for w in won if w]) == 1, won
    runs = ReportRuns(Lake(settings.lake_url))
    assert [r["status"] for r in runs.rows()] == ["pending"]
    # a claim whose scan died is taken over once its lease ran out, not before
    assert runs.claim("daily", SLOT, "a@b.co", now + CLAIM_LEASE / 2) is None
    assert runs.claim("daily", SLOT, "a@b.co", now + CLAIM_LEASE + timedelta(seconds=1))


def test_the_dag_scans_on_the_reporting_interval(tmp_path: Path) -> None:
    bag = parse_home_dags(tmp_path / "airflow", tmp_path / "cdp")
    assert bag["errors"] == {}
    dag = bag["dags"]["scan_report_runs_and_send_email"]
    assert dag["schedule"] == "*/30 * * * *"
    assert dag["tasks"] == {"scan_report_runs_and_send_email": ["report_runs"]}


# --- a Superset chart and dashboard as reports, against a real Superset --------------------


@pytest.fixture(scope="module")
def superset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupersetServer]:
    """One Superset for this module, with ALERT_REPORTS on so its report API answers."""
    missing = venv_missing()
    if missing:
        pytest.skip(missing)
    server = start_superset(
        tmp_path_factory.mktemp("superset-home"), feature_flags={"ALERT_REPORTS": True}
    )
    try:
        yield server
    finally:
        stop_superset(server)


def create_chart(client: SupersetClient, dataset_id: int) -> int:
    """A bar chart of revenue by channel over dataset `dataset_id`, with the query context the
    Superset UI saves (what the chart data API runs)."""
    metric = {"label": "revenue", "expressionType": "SQL", "sqlExpression": "SUM(revenue)"}
    params = {
        "viz_type": "echarts_timeseries_bar",
        "datasource": f"{dataset_id}__table",
        "x_axis": "channel",
        "metrics": [metric],
        "groupby": [],
        "row_limit": 1000,
    }
    query_context = {
        "datasource": {"id": dataset_id, "type": "table"},
        "force": False,
        "queries": [
            {
                "columns": ["channel"],
                "metrics": [metric],
                "orderby": [[metric, False]],
                "row_limit": 1000,
            }
        ],
        "form_data": params,
        "result_format": "json",
        "result_type": "full",
    }
    answer = client.request(
        "POST",
        "/api/v1/chart/",
        json={
            "slice_name": "Revenue by channel",
            "viz_type": "echarts_timeseries_bar",
            "datasource_id": dataset_id,
            "datasource_type": "table",
            "params": json.dumps(params),
            "query_context": json.dumps(query_context),
        },
    )
    return int(answer["id"])


@pytest.fixture(scope="module")
def revenue_chart(
    superset: SupersetServer, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int]:
    """A lake (its CDPFLOW_HOME) with `sessions`, synced to Superset by sync_superset_tables,
    and a chart made through the API over that dataset: the home and the chart's id."""
    home = tmp_path_factory.mktemp("superset-reports") / "home"
    settings = load_settings(env=superset.env(), home=home)
    write_sessions(settings)
    sync_superset_tables.run(settings)
    client = admin(superset)
    database = next(d for d in client.databases() if d["database_name"] == DATABASE_NAME)
    dataset = next(d for d in client.datasets(int(database["id"])) if d["table_name"] == "sessions")
    return home, create_chart(client, int(dataset["id"]))


def admin(superset: SupersetServer) -> SupersetClient:
    return SupersetClient(
        superset.url, Credentials("admin", "", superset.env()["SUPERSET_PASSWORD"])
    )


def revenue_by_channel(settings: Settings) -> list[dict[str, Any]]:
    return lake_query(
        settings,
        "SELECT channel, sum(revenue) AS revenue FROM sessions GROUP BY 1 ORDER BY 2 DESC",
    )


def superset_settings(
    superset: SupersetServer, revenue_chart: tuple[Path, int], inbox: Inbox
) -> Settings:
    home = revenue_chart[0]
    for old in (home / "reports").glob("*.yml"):
        old.unlink()
    return mail_settings(home, inbox.port, **superset.env())


def test_superset_chart_and_dashboard_reports_mail_the_cdpflow_sql_numbers(
    superset: SupersetServer, revenue_chart: tuple[Path, int], inbox: Inbox
) -> None:
    settings = superset_settings(superset, revenue_chart, inbox)
    client = admin(superset)
    dashboard = client.request(
        "POST", "/api/v1/dashboard/", json={"dashboard_title": "Channel revenue", "published": True}
    )
    client.request(
        "PUT", f"/api/v1/chart/{revenue_chart[1]}", json={"dashboards": [int(dashboard["id"])]}
    )
    declare(settings, "chart_mail", "chart: Revenue by channel\ncron: '0 8 * * *'\n"
            "recipients: [cmo@shop.example.com]\nformat: both\n")  # fmt: skip
    declare(settings, "board_mail", "dashboard: Channel revenue\ncron: '30 7 * * *'\n"
            "recipients: [cmo@shop.example.com]\nformat: csv\n")  # fmt: skip

    result = scan(settings, at(8, 5))
    assert sorted(result.sent) == [
        "board_mail slot 2026-11-20 07:30 UTC",
        "chart_mail slot 2026-11-20 08:00 UTC",
    ]
    expected = revenue_by_channel(settings)
    mails = {m["Subject"]: m for _, m in inbox.messages}
    assert set(mails) == {"[cdpflow] Revenue by channel", "[cdpflow] Channel revenue"}
    chart_mail = mails["[cdpflow] Revenue by channel"]
    _, document = bodies(chart_mail)
    header, *rows = table_after(document, "Revenue by channel")
    assert header == ["channel", "revenue"]
    assert rows == [[r["channel"], f"{r['revenue']:,.2f}"] for r in expected]
    for mail in mails.values():
        attached = attachment(mail, "revenue-by-channel.csv")
        assert [(r["channel"], float(r["revenue"])) for r in attached] == [
            (r["channel"], r["revenue"]) for r in expected
        ]
    board_text, board_html = bodies(mails["[cdpflow] Channel revenue"])
    assert "<table>" not in board_html  # format: csv sends the data as attachments only
    assert "Revenue by channel" in board_text and "3 rows (attached as CSV)" in board_text
    if images_available():
        assert any(p.get_content_type() == "image/png" for p in chart_mail.walk())
    assert superset.env()["SUPERSET_PASSWORD"] not in json.dumps(
        lake_query(settings, "SELECT * FROM report_runs"), default=str
    )


def test_superset_own_report_schedules_are_sent_where_alert_reports_is_on(
    superset: SupersetServer, revenue_chart: tuple[Path, int], inbox: Inbox
) -> None:
    settings = superset_settings(superset, revenue_chart, inbox)
    client = admin(superset)
    ids = {}
    for name, active in (("Revenue CSV", True), ("Paused revenue", False)):
        ids[name] = client.request(
            "POST",
            "/api/v1/report/",
            json={
                "type": "Report",
                "name": name,
                "crontab": "0 9 * * *",
                "timezone": "UTC",
                "chart": revenue_chart[1],
                "report_format": "CSV",
                "creation_method": "alerts_reports",
                "active": active,
                "recipients": [
                    {
                        "type": "Email",
                        "recipient_config_json": {"target": "board@shop.example.com"},
                    }
                ],
            },
        )["id"]

    result = scan(settings, at(9, 5))
    assert result.sent == [f"superset:{ids['Revenue CSV']} slot 2026-11-20 09:00 UTC"]
    ((recipients, mail),) = inbox.messages
    assert recipients == ["board@shop.example.com"]
    assert mail["Subject"] == "[Report] Revenue CSV"
    attached = attachment(mail, "revenue-by-channel.csv")
    assert [(r["channel"], float(r["revenue"])) for r in attached] == [
        (r["channel"], r["revenue"]) for r in revenue_by_channel(settings)
    ]
    scan(settings, at(9, 35))
    assert len(inbox.messages) == 1
