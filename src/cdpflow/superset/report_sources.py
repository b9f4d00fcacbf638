"""Superset charts and dashboards as the sources of report e-mails: found by name or id, their
data read through the chart data API (the chart's saved query, run by Superset); and Superset's
own report schedules (Alerts & Reports, where its ALERT_REPORTS flag is on) read as reports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

from cdpflow.errors import TerminalError
from cdpflow.report.schedules import ReportSpec
from cdpflow.superset.client import SupersetClient, SupersetError

TEMPORAL = 2  # Superset's GenericDataType.TEMPORAL: values come as epoch milliseconds


@dataclass(frozen=True)
class ChartData:
    chart_id: int
    name: str
    viz_type: str
    rows: list[dict[str, Any]]
    problem: str | None = None  # why there are no rows, in Superset's words


def _one(client: SupersetClient, resource: str, column: str, ref: str | int) -> dict[str, Any]:
    """The row of `resource` whose id is `ref` (an int, or digits) or whose `column` equals it."""
    noun = "chart" if resource == "chart" else "dashboard"
    if isinstance(ref, int) or str(ref).isdigit():
        try:
            return dict(client.request("GET", f"/api/v1/{resource}/{int(ref)}")["result"])
        except SupersetError as err:
            if err.status != 404:
                raise
            raise TerminalError(f"Superset has no {noun} with id {ref}.") from None
    found = client.rows(resource, [{"col": column, "opr": "eq", "value": str(ref)}])
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise TerminalError(
            f"Superset has {what} {noun}s named `{ref}`; name it by its id in the report file"
            + (" instead." if found else ".")
        )
    return dict(found[0])


def find_chart(client: SupersetClient, ref: str | int) -> dict[str, Any]:
    """A chart (id, slice_name, viz_type) by its id or its exact name."""
    return _one(client, "chart", "slice_name", ref)


def dashboard_charts(client: SupersetClient, ref: str | int) -> tuple[str, list[dict[str, Any]]]:
    """A dashboard's title and its charts (id, slice_name, viz_type), by its id or exact title."""
    dashboard = _one(client, "dashboard", "dashboard_title", ref)
    charts = client.request("GET", f"/api/v1/dashboard/{int(dashboard['id'])}/charts")["result"]
    listed = [
        {
            "id": int(c["id"]),
            "slice_name": c.get("slice_name", ""),
            "viz_type": (c.get("form_data") or {}).get("viz_type", ""),
        }
        for c in charts
    ]
    return str(dashboard.get("dashboard_title", ref)), sorted(listed, key=lambda c: c["id"])


def read_chart_data(client: SupersetClient, chart: dict[str, Any]) -> ChartData:
    """A chart's rows from its saved query context; Superset's reason when it cannot run it
    (e.g. a chart saved without a query context), so one bad chart does not stop a report."""
    chart_id = int(chart["id"])
    name = str(chart.get("slice_name") or f"chart {chart_id}")
    viz = str(chart.get("viz_type") or "")
    try:
        results = client.chart_data(chart_id)
    except SupersetError as err:
        if err.status in (400, 404, 422):
            return ChartData(chart_id, name, viz, [], err.reason or str(err))
        raise
    result = results[0] if results else {}
    temporal = {
        column
        for column, kind in zip(
            result.get("colnames", []), result.get("coltypes", []), strict=False
        )
        if kind == TEMPORAL
    }
    rows = [
        {k: _time(v) if k in temporal else v for k, v in row.items()}
        for row in result.get("data", [])
    ]
    return ChartData(chart_id, name, viz, rows)


def _time(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    return value


# Superset's report formats as cdpflow's: a CSV stays CSV; an image or text report gets the
# body with each chart's table and image (cdpflow draws the image, no Superset worker needed)
SUPERSET_FORMATS = {"CSV": "csv", "PNG": "html", "PDF": "html", "TEXT": "html"}


def superset_schedules(client: SupersetClient) -> list[ReportSpec] | None:
    """Superset's own active e-mail report schedules as cdpflow reports; None when Superset's
    ALERT_REPORTS feature flag is off (its report API answers 404)."""
    try:
        listed = client.rows(
            "report",
            [
                {"col": "type", "opr": "eq", "value": "Report"},
                {"col": "active", "opr": "eq", "value": True},
            ],
        )
    except SupersetError as err:
        if err.status == 404:
            return None
        raise
    specs = []
    for row in listed:
        detail = client.request("GET", f"/api/v1/report/{int(row['id'])}")["result"]
        if spec := _schedule_spec(client.base_url, detail):
            specs.append(spec)
    return specs


def _schedule_spec(base_url: str, detail: dict[str, Any]) -> ReportSpec | None:
    """One Superset schedule as a report: its e-mail addresses (To and Cc; Bcc is not sent),
    cron, time zone, chart or dashboard, format and subject; None when it e-mails nobody."""
    recipients: list[str] = []
    for recipient in detail.get("recipients") or []:
        if recipient.get("type") != "Email":
            continue
        config = json.loads(recipient.get("recipient_config_json") or "{}")
        for key in ("target", "ccTarget"):
            recipients += [a.strip() for a in str(config.get(key) or "").split(",") if a.strip()]
    chart, dashboard = detail.get("chart") or {}, detail.get("dashboard") or {}
    if not recipients or not (chart.get("id") or dashboard.get("id")):
        return None
    crontab = str(detail["crontab"])
    if not croniter.is_valid(crontab):
        raise TerminalError(
            f"Superset report schedule {detail['id']}: crontab `{crontab}` is invalid"
        )
    return ReportSpec(
        name=f"superset:{detail['id']}",
        origin=f"{base_url}/api/v1/report/{detail['id']}",
        cron=crontab,
        recipients=tuple(recipients),
        format=SUPERSET_FORMATS.get(str(detail.get("report_format")), "both"),
        timezone=str(detail.get("timezone") or "UTC"),
        chart=int(chart["id"]) if chart.get("id") else None,
        dashboard=None if chart.get("id") else int(dashboard["id"]),
        subject=detail.get("email_subject") or f"[Report] {detail.get('name', detail['id'])}",
    )
