"""Cost figures of one month and their rendering as an e-mail (HTML with a text alternative)."""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from typing import Any

from cdpflow.billing.airflow_runs import DagUsage

GB = 1_000_000_000


@dataclass(frozen=True)
class DagCost:
    dag_id: str
    task_runs: int
    hours: float
    cost: float


@dataclass(frozen=True)
class MonthFigures:
    """Costs of one calendar month. `storage_bytes` is None when it was not measured."""

    month: str  # YYYY-MM
    instance_type: str
    hourly_price: float
    dags: tuple[DagCost, ...]
    storage_bytes: int | None
    storage_gb_month_price: float
    aws_cost: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def compute_hours(self) -> float:
        return sum(d.hours for d in self.dags)

    @property
    def compute_cost(self) -> float:
        return sum(d.cost for d in self.dags)

    @property
    def storage_cost(self) -> float | None:
        if self.storage_bytes is None:
            return None
        return self.storage_bytes / GB * self.storage_gb_month_price

    @property
    def total(self) -> float:
        return self.compute_cost + (self.storage_cost or 0.0)

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["dags"] = [asdict(d) for d in self.dags]
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> MonthFigures:
        return cls(
            month=row["month"],
            instance_type=row["instance_type"],
            hourly_price=row["hourly_price"],
            dags=tuple(DagCost(**d) for d in row["dags"]),
            storage_bytes=row["storage_bytes"],
            storage_gb_month_price=row["storage_gb_month_price"],
            aws_cost=row.get("aws_cost"),
            notes=tuple(row.get("notes") or ()),
        )


def month_figures(
    month: str,
    usage: dict[str, DagUsage],
    instance_type: str,
    hourly_price: float,
    storage_bytes: int | None,
    storage_gb_month_price: float,
    notes: tuple[str, ...] = (),
) -> MonthFigures:
    dags = tuple(
        DagCost(u.dag_id, u.task_runs, u.seconds / 3600, u.seconds / 3600 * hourly_price)
        for u in sorted(usage.values(), key=lambda u: -u.seconds)
    )
    return MonthFigures(
        month, instance_type, hourly_price, dags, storage_bytes, storage_gb_month_price, None, notes
    )


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.4f}"


def _trend(now: float, before: float | None) -> str:
    if before is None:
        return "n/a (no report for the month before)"
    delta = now - before
    if before == 0:
        return f"{'+' if delta >= 0 else '-'}${abs(delta):,.4f} (the month before cost nothing)"
    return f"{'+' if delta >= 0 else '-'}${abs(delta):,.4f} ({delta / before:+.1%})"


def subject(figures: MonthFigures) -> str:
    return f"[cdpflow] Cost report {figures.month}: {_money(figures.total)}"


def render_text(figures: MonthFigures, previous: MonthFigures | None) -> str:
    before = previous.total if previous else None
    lines = [
        f"cdpflow cost report for {figures.month}",
        "",
        f"Total:    {_money(figures.total)}",
        f"Trend:    {_trend(figures.total, before)} against the month before",
        f"Compute:  {_money(figures.compute_cost)} = {figures.compute_hours:,.4f} task hours x "
        f"${figures.hourly_price}/h ({figures.instance_type})",
        f"Storage:  {_money(figures.storage_cost)} = "
        + (
            f"{figures.storage_bytes / GB:,.4f} GB x ${figures.storage_gb_month_price}/GB-month"
            if figures.storage_bytes is not None
            else "not measured"
        ),
    ]
    if figures.aws_cost is not None:
        lines.append(f"AWS Cost Explorer: {_money(figures.aws_cost)}")
    lines += ["", "Per DAG (task runs, hours, cost):"]
    for d in figures.dags:
        lines.append(f"  {d.dag_id}: {d.task_runs} runs, {d.hours:,.4f} h, {_money(d.cost)}")
    if not figures.dags:
        lines.append("  no task ran this month")
    lines += [f"Note: {n}" for n in figures.notes]
    return "\n".join(lines) + "\n"


def render_html(figures: MonthFigures, previous: MonthFigures | None) -> str:
    before = previous.total if previous else None
    prev_dags = {d.dag_id: d.cost for d in previous.dags} if previous else {}
    current = {d.dag_id for d in figures.dags}
    gone = [d for d in (previous.dags if previous else ()) if d.dag_id not in current]
    rows = "".join(
        f"<tr><td>{html.escape(d.dag_id)}</td><td>{d.task_runs}</td><td>{d.hours:,.4f}</td>"
        f"<td>{_money(d.cost)}</td><td>{_money(prev_dags.get(d.dag_id))}</td></tr>"
        for d in figures.dags
    ) + "".join(  # DAGs that ran only the month before still show their trend
        f"<tr><td>{html.escape(d.dag_id)}</td><td>0</td><td>0.0000</td><td>$0.0000</td>"
        f"<td>{_money(d.cost)}</td></tr>"
        for d in gone
    )
    if not figures.dags:
        rows = "<tr><td colspan='5'>no task ran this month</td></tr>" + rows
    notes = "".join(f"<p><em>{html.escape(n)}</em></p>" for n in figures.notes)
    aws = (
        f"<tr><th>AWS Cost Explorer</th><td>{_money(figures.aws_cost)}</td></tr>"
        if figures.aws_cost is not None
        else ""
    )
    storage = (
        f"{figures.storage_bytes / GB:,.4f} GB × ${figures.storage_gb_month_price}/GB-month"
        if figures.storage_bytes is not None
        else "not measured"
    )
    return f"""<html><body style="font-family: sans-serif">
<h2>cdpflow cost report for {figures.month}</h2>
<table border="1" cellpadding="4" cellspacing="0">
<tr><th>Total</th><td><b>{_money(figures.total)}</b></td></tr>
<tr><th>Trend vs the month before</th><td>{html.escape(_trend(figures.total, before))}</td></tr>
<tr><th>Compute</th><td>{_money(figures.compute_cost)}: {figures.compute_hours:,.4f} task hours
 × ${figures.hourly_price}/h ({html.escape(figures.instance_type)})</td></tr>
<tr><th>Storage</th><td>{_money(figures.storage_cost)}: {storage}</td></tr>{aws}
</table>
<h3>Per DAG</h3>
<table border="1" cellpadding="4" cellspacing="0">
<tr><th>DAG</th><th>task runs</th><th>hours</th><th>cost</th><th>month before</th></tr>{rows}
</table>{notes}
</body></html>"""
