"""billing: e-mail what running the deployment cost in the previous month.

Compute is the task run time Airflow recorded × the hourly price of the instance type; storage
is the lake's bytes × the GB-month price. Each month's figures are kept in the `billing_reports`
lake table, so the next report can show the trend against this one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from cdpflow.billing.airflow_runs import usage_by_dag
from cdpflow.billing.aws_costs import tagged_monthly_cost
from cdpflow.billing.report import MonthFigures, month_figures, render_html, render_text, subject
from cdpflow.errors import TerminalError
from cdpflow.jobs import Interval, job_lock
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore, promote_rows
from cdpflow.notify.email import send_email
from cdpflow.settings import Settings

log = logging.getLogger(__name__)
REPORTS = "billing_reports"
REPORT_COLUMNS = (  # lake types (cdpflow.lake.types)
    ("month", "string"),
    ("figures", "json"),
    ("sent_to", "string"),
    ("sent_at", "string"),
)


@dataclass
class BillingResult:
    figures: MonthFigures
    previous: MonthFigures | None
    sent_to: str

    def summary(self) -> str:
        return (
            f"billing: {self.figures.month}: total ${self.figures.total:,.4f} "
            f"(compute ${self.figures.compute_cost:,.4f}, storage "
            f"${self.figures.storage_cost or 0:,.4f}); e-mailed to {self.sent_to}"
        )


def _month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _shift(month: datetime, months: int) -> datetime:
    index = month.year * 12 + month.month - 1 + months
    return month.replace(year=index // 12, month=index % 12 + 1)


def run(
    settings: Settings,
    interval: Interval | None = None,
    *,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BillingResult:
    """Report the month that `interval.start` falls in (default: the month before now)."""
    now = now or datetime.now(UTC)
    start = (
        _month_start(interval.start)
        if interval and interval.start
        else _shift(_month_start(now), -1)
    )
    end, before = _shift(start, 1), _shift(start, -1)
    to = settings.billing_email or settings.airflow_dag_failed_email
    if not to:
        raise TerminalError(
            "billing has nobody to e-mail: set CDPFLOW_BILLING_EMAIL (or AIRFLOW_DAG_FAILED_EMAIL)."
        )
    instance = settings.instance_type or settings.emr_ec2_instance_type
    if instance not in settings.instance_hourly_prices:
        raise TerminalError(
            f"No hourly price for instance type `{instance}`: add `{instance}=<USD per hour>` to "
            "CDPFLOW_INSTANCE_HOURLY_PRICES."
        )
    price = settings.instance_hourly_prices[instance]
    db_url = settings.airflow_db_url or f"sqlite:///{settings.home / 'airflow' / 'airflow.db'}"
    lake = Lake(settings.lake_url)
    store = TableStore(lake)
    storage = sum(size for _, size in lake.walk_files(""))
    figures = month_figures(
        f"{start:%Y-%m}",
        usage_by_dag(db_url, start, end),
        instance,
        price,
        storage,
        settings.storage_gb_month_price,
        (f"Storage is the lake's size when this report ran ({now:%Y-%m-%d %H:%M} UTC).",),
    )
    if settings.aws_cost_tag:
        aws = tagged_monthly_cost(
            settings.aws_cost_tag, start, end, endpoint_url=settings.aws_ce_endpoint or None
        )
        note = (
            f"AWS Cost Explorer: resources tagged {settings.aws_cost_tag}."
            if aws is not None
            else "AWS Cost Explorer skipped: no AWS credentials are configured."
        )
        figures = replace(figures, aws_cost=aws, notes=(*figures.notes, note))
    previous = _stored(lake, store, f"{before:%Y-%m}") or month_figures(
        f"{before:%Y-%m}", usage_by_dag(db_url, before, start), instance, price, None, 0.0
    )
    send_email(
        settings,
        to,
        subject(figures),
        render_text(figures, previous),
        render_html(figures, previous),
    )
    with job_lock(settings, "billing"):
        _store(settings, lake, store, figures, to, now)
    result = BillingResult(figures, previous, to)
    log.info(result.summary())
    return result


def _stored(lake: Lake, store: TableStore, month: str) -> MonthFigures | None:
    snapshot = store.current(REPORTS)
    if snapshot is None:
        return None
    for f in snapshot.files:
        if f.owner == month:
            with lake.open(f"{REPORTS}/{f.path}") as handle:
                row = pq.read_table(handle).to_pylist()[0]
            return MonthFigures.from_row(json.loads(row["figures"]))
    return None


def _store(
    settings: Settings, lake: Lake, store: TableStore, figures: MonthFigures, to: str, now: datetime
) -> None:
    """Keep this month's figures (re-running a month replaces them)."""
    table = pa.table(
        {
            "month": [figures.month],
            "figures": [json.dumps(figures.to_row())],
            "sent_to": [to],
            "sent_at": [now.isoformat()],
        }
    )
    month = {"month": figures.month}
    added = promote_rows(lake, REPORTS, table, owner=figures.month, partition=month)
    base = store.current(REPORTS)
    store.commit(
        REPORTS,
        base,
        operation="billing",
        add=[added],
        remove=lambda f: f.owner == figures.month,
        columns=REPORT_COLUMNS,
    )
    if base:
        for f in base.files:
            if f.owner == figures.month:
                lake.remove(f"{REPORTS}/{f.path}")
