"""The built-in report: the CDP overview computed from the lake marts, as one self-contained
HTML file (plotly.js inlined, so it opens without a server or network).

`build_report` gathers the sections' data; `render_html` draws them. The report e-mails reuse
both, so the file and the mails never disagree.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import plotly.graph_objects as go
import pyarrow as pa
from plotly.offline import get_plotlyjs

from cdpflow.engine import open_query_engine
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.settings import Settings

Rows = list[dict[str, Any]]


@dataclass
class Section:
    """One part of the report: its data as a table, a chart drawn from it, or a note why not."""

    key: str
    title: str
    rows: Rows = field(default_factory=list)
    figure: go.Figure | list[go.Figure] | None = None
    note: str | None = None


@dataclass
class Report:
    start: date
    end: date
    generated_at: datetime
    sections: list[Section]


def _missing(tables: Sequence[str], present: set[str]) -> str | None:
    absent = [t for t in tables if t not in present]
    if not absent:
        return None
    names = ", ".join(absent)
    return f"No {names} table in the lake yet; this section appears once a job builds it."


def _customers(q: Callable[[str], Rows], start: date, end: date) -> Section:
    rows = q(
        "SELECT count(*) AS people, count(*) FILTER (orders > 0) AS customers,"
        " coalesce(sum(orders), 0)::BIGINT AS orders,"
        " round(coalesce(sum(revenue), 0), 2) AS revenue,"
        f" count(*) FILTER (first_seen_at::DATE BETWEEN DATE '{start}' AND DATE '{end}')"
        " AS new_people FROM customer_360"
    )
    return Section("customers", "Customer counts", rows)


def _channels(q: Callable[[str], Rows], start: date, end: date) -> Section:
    rows = q(
        "SELECT session_date, channel, count(*) AS sessions, round(sum(revenue), 2) AS revenue"
        f" FROM sessions WHERE session_date BETWEEN DATE '{start}' AND DATE '{end}'"
        " GROUP BY ALL ORDER BY session_date, channel"
    )
    channels = sorted({r["channel"] for r in rows})
    by_sessions, by_revenue = go.Figure(), go.Figure()
    for channel in channels:
        mine = [r for r in rows if r["channel"] == channel]
        days = [r["session_date"] for r in mine]
        by_sessions.add_bar(x=days, y=[r["sessions"] for r in mine], name=channel)
        by_revenue.add_bar(x=days, y=[r["revenue"] for r in mine], name=channel)
    by_sessions.update_layout(barmode="stack", title="Sessions", xaxis_title="day")
    by_revenue.update_layout(barmode="stack", title="Revenue", xaxis_title="day")
    fig = [by_sessions, by_revenue]
    return Section("channels", "Sessions and revenue by channel", rows, fig)


def _attribution(q: Callable[[str], Rows], start: date, end: date) -> Section:
    rows = q(
        "SELECT channel, model, round(sum(revenue_credit), 2) AS revenue_credit FROM attribution"
        f" WHERE conversion_time::DATE BETWEEN DATE '{start}' AND DATE '{end}'"
        " GROUP BY ALL ORDER BY model, channel"
    )
    fig = go.Figure()
    for model in sorted({r["model"] for r in rows}):
        mine = [r for r in rows if r["model"] == model]
        fig.add_bar(
            x=[r["channel"] for r in mine], y=[r["revenue_credit"] for r in mine], name=model
        )
    fig.update_layout(barmode="group", xaxis_title="channel", yaxis_title="revenue credited")
    return Section("attribution", "Attribution model comparison", rows, fig)


def _campaigns(q: Callable[[str], Rows], start: date, end: date) -> Section:
    rows = q(
        "SELECT coalesce(source, '(none)') AS source, coalesce(medium, '(none)') AS medium,"
        " coalesce(campaign, '(none)') AS campaign, sum(sessions)::BIGINT AS sessions,"
        " sum(engaged_sessions)::BIGINT AS engaged_sessions,"
        " sum(conversions)::BIGINT AS conversions,"
        " round(sum(revenue), 2) AS revenue,"
        " round(sum(attributed_revenue_last_touch), 2) AS last_touch_revenue"
        f" FROM campaign_performance WHERE date BETWEEN DATE '{start}' AND DATE '{end}'"
        " GROUP BY ALL ORDER BY sessions DESC, source, medium, campaign LIMIT 50"
    )
    return Section("campaigns", "Campaigns", rows)


def _retention(q: Callable[[str], Rows], start: date, end: date) -> Section:
    rows = q(
        "SELECT cohort_start, period_number, cohort_size, retained_users,"
        " round(retention_rate * 100, 1) AS retention_pct FROM retention"
        " WHERE retention_type = 'activity' AND granularity = 'week'"
        f" AND cohort_start BETWEEN DATE '{start}' - INTERVAL 6 DAY AND DATE '{end}'"
        " ORDER BY cohort_start, period_number"
    )
    cohorts = sorted({r["cohort_start"] for r in rows})
    periods = sorted({r["period_number"] for r in rows})
    cell = {(r["cohort_start"], r["period_number"]): r["retention_pct"] for r in rows}
    fig = go.Figure(
        go.Heatmap(
            x=[f"week {p}" for p in periods],
            y=[str(c) for c in cohorts],
            z=[[cell.get((c, p)) for p in periods] for c in cohorts],
            colorscale="Blues",
            texttemplate="%{z}%",
            colorbar={"title": "% retained"},
        )
    )
    fig.update_layout(xaxis_title="weeks since first activity", yaxis_title="weekly cohort")
    return Section("retention", "Weekly activity retention", rows, fig)


def _segments(q: Callable[[str], Rows], start: date, end: date) -> Section:
    """Each segment's size on the last day entity_creation computed it, with the people who
    entered and left it since the period's start. A segment is the lake as it was when the job
    ran, so its days can run past the traffic's last session day (`end`): sizes computed just
    after midnight UTC, before the day's first hour of traffic closes, have no row for `end`."""
    rows = q(
        "SELECT segment, arg_max(size, day) AS size,"
        f" coalesce(sum(entered) FILTER (day >= DATE '{start}'), 0)::BIGINT AS entered,"
        f" coalesce(sum(exited) FILTER (day >= DATE '{start}'), 0)::BIGINT AS exited"
        " FROM segment_sizes GROUP BY segment ORDER BY size DESC, segment LIMIT 200"
    )
    (latest,) = q("SELECT max(day) AS day FROM segment_sizes")
    fig = go.Figure(go.Bar(x=[r["segment"] for r in rows], y=[r["size"] for r in rows]))
    on = latest["day"].isoformat() if latest["day"] else end.isoformat()
    fig.update_layout(xaxis_title="segment", yaxis_title=f"people on {on}")
    return Section("segments", "Segment sizes", rows, fig)


def _funnel(q: Callable[[str], Rows], start: date, end: date) -> Section:
    """The `purchase` funnel (the shop pack's, as the Superset chart shows it): people who
    entered it during the period, by the step they reached."""
    rows = q(
        "SELECT step, step_label, sum(users)::BIGINT AS users FROM funnel_steps"
        f" WHERE funnel = 'purchase' AND entry_day BETWEEN DATE '{start}' AND DATE '{end}'"
        " GROUP BY ALL ORDER BY step"
    )
    fig = go.Figure(
        go.Funnel(
            y=[r["step_label"] for r in rows],
            x=[r["users"] for r in rows],
            textinfo="value+percent initial",
        )
    )
    return Section("funnel", "Purchase funnel", rows, fig)


def _activation(q: Callable[[str], Rows], start: date, end: date) -> Section:
    """Per destination over the period: what its runs did, and where it stood at the end."""
    rows = q(
        "SELECT destination, any_value(type) AS type, sum(runs)::BIGINT AS runs,"
        " (sum(runs) - sum(succeeded_runs))::BIGINT AS failed_runs,"
        " sum(added)::BIGINT AS added, sum(updated)::BIGINT AS updated,"
        " sum(removed)::BIGINT AS removed, sum(failed)::BIGINT AS failed,"
        " arg_max(acknowledged, day) AS acknowledged, arg_max(status, day) AS status"
        f" FROM activation_stats WHERE day BETWEEN DATE '{start}' AND DATE '{end}'"
        " GROUP BY destination ORDER BY destination"
    )
    return Section("activation", "Activation", rows)


# key, title, the tables the section reads, how it is computed
SECTIONS: list[tuple[str, str, tuple[str, ...], Callable[..., Section]]] = [
    ("customers", "Customer counts", ("customer_360",), _customers),
    ("channels", "Sessions and revenue by channel", ("sessions",), _channels),
    ("attribution", "Attribution model comparison", ("attribution",), _attribution),
    ("campaigns", "Campaigns", ("campaign_performance",), _campaigns),
    ("retention", "Weekly activity retention", ("retention",), _retention),
    ("segments", "Segment sizes", ("segment_sizes",), _segments),
    ("funnel", "Purchase funnel", ("funnel_steps",), _funnel),
    ("activation", "Activation", ("activation_stats",), _activation),
]


def _latest_day(q: Callable[[str], Rows], present: set[str]) -> date | None:
    if "sessions" not in present:
        return None
    latest = q("SELECT max(session_date) AS d FROM sessions")[0]["d"]
    return latest if isinstance(latest, date) else None


def build_report(settings: Settings, days: int = 28, now: datetime | None = None) -> Report:
    """The overview of the `days` days up to the latest session day in the lake (so a lake fed
    with older data still shows its results), each section noting a table not built yet."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    lake = Lake(settings.lake_url)
    store = TableStore(lake)
    engine = open_query_engine(settings, lake)
    try:

        def q(sql: str) -> Rows:
            result: pa.Table = engine.query(sql, store)
            return result.to_pylist()

        present = set(store.names())
        generated = now or datetime.now(UTC)
        end = _latest_day(q, present) or generated.date()
        start = end - timedelta(days=days - 1)
        sections = []
        for key, title, needs, compute in SECTIONS:
            note = _missing(needs, present)
            sections.append(Section(key, title, note=note) if note else compute(q, start, end))
        return Report(start, end, generated, sections)
    finally:
        engine.close()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def rows_html(rows: Rows, limit: int = 100) -> str:
    """`rows` as an HTML table (the first `limit`), the way the report and the mails show data."""
    if not rows:
        return "<p class='note'>No rows in this period.</p>"
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in r.values()) + "</tr>"
        for r in rows[:limit]
    )
    more = (
        f"<p class='note'>{len(rows) - limit:,} more rows not shown.</p>"
        if len(rows) > limit
        else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
section{margin-bottom:2.5rem}h2{border-bottom:1px solid #ddd;padding-bottom:.3rem}
table{border-collapse:collapse;font-size:.9rem}
th,td{padding:.25rem .6rem;border-bottom:1px solid #eee;text-align:left}
td{font-variant-numeric:tabular-nums}.note{color:#666;font-style:italic}"""


def section_html(section: Section, charts: bool = True) -> str:
    parts = [f"<section id='{section.key}'><h2>{html.escape(section.title)}</h2>"]
    if section.note:
        parts.append(f"<p class='note'>{html.escape(section.note)}</p>")
    else:
        figures = section.figure if isinstance(section.figure, list) else [section.figure]
        drawn = [f for f in figures if f is not None] if charts and section.rows else []
        for figure in drawn:
            parts.append(
                figure.to_html(full_html=False, include_plotlyjs=False, default_height=420)
            )
        table = rows_html(section.rows)
        # under a chart the numbers are one click away; alone they are the section
        parts.append(f"<details><summary>data</summary>{table}</details>" if drawn else table)
    parts.append("</section>")
    return "".join(parts)


def render_html(report: Report, charts: bool = True) -> str:
    """The whole report as one HTML document; with `charts`, plotly.js is inlined once."""
    script = f"<script>{get_plotlyjs()}</script>" if charts else ""
    period = f"{report.start.isoformat()} to {report.end.isoformat()}"
    body = "".join(section_html(s, charts) for s in report.sections)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>cdpflow report {period}</title><style>{STYLE}</style>{script}</head><body>"
        f"<h1>cdpflow overview</h1><p>{period}, generated "
        f"{report.generated_at.strftime('%Y-%m-%d %H:%M UTC')}</p>{body}</body></html>"
    )
