"""Report e-mails: a report's sections (the built-in overview, or Superset charts' data) as an
HTML body with each section's table and image, and a CSV attachment per section.

The built-in overview comes from `build_report`, the same data and plotly figures as
`cdpflow report`; tables are drawn by the same `rows_html`, so a mail and the HTML file never
disagree.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import plotly.graph_objects as go

from cdpflow.notify.email import Attachment
from cdpflow.report import STYLE, Section, build_report, rows_html
from cdpflow.report.charts import NO_IMAGES, chart_figure, png_images
from cdpflow.report.schedules import ReportSpec
from cdpflow.settings import Settings


@dataclass
class Content:
    """What one report shows at one moment."""

    title: str
    period: str  # e.g. "2026-11-01 to 2026-11-28", or the source's own description
    sections: list[Section]


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str
    html: str
    attachments: list[Attachment]


def builtin_content(settings: Settings, spec: ReportSpec) -> Content:
    report = build_report(settings, spec.days)
    period = f"{report.start.isoformat()} to {report.end.isoformat()}"
    return Content("cdpflow overview", period, report.sections)


def superset_content(settings: Settings, spec: ReportSpec) -> Content:
    """The report's Superset chart, or each chart of its dashboard, with the chart's data."""
    from cdpflow.superset.client import SupersetClient
    from cdpflow.superset.report_sources import dashboard_charts, find_chart, read_chart_data
    from cdpflow.superset.runtime import superset_credentials

    client = SupersetClient(settings.superset_base_url, superset_credentials(settings))
    if spec.chart is not None:
        chart = find_chart(client, spec.chart)
        title, charts = str(chart["slice_name"]), [chart]
    else:
        assert spec.dashboard is not None
        title, charts = dashboard_charts(client, spec.dashboard)
    sections = []
    for chart in charts:
        data = read_chart_data(client, chart)
        note = f"Superset could not run this chart: {data.problem}" if data.problem else None
        figure = chart_figure(data.rows, data.viz_type)
        sections.append(Section(f"chart-{data.chart_id}", data.name, data.rows, figure, note))
    return Content(title, f"Superset {spec.source}", sections)


def report_content(settings: Settings, spec: ReportSpec) -> Content:
    render: Callable[[Settings, ReportSpec], Content]
    render = builtin_content if spec.builtin else superset_content
    return render(settings, spec)


def _figures(section: Section) -> list[go.Figure]:
    if section.note or not section.rows or section.figure is None:
        return []
    return section.figure if isinstance(section.figure, list) else [section.figure]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "data"


def rows_csv(section: Section) -> bytes:
    out = io.StringIO()
    if section.rows:
        writer = csv.DictWriter(out, fieldnames=list(section.rows[0]))
        writer.writeheader()
        for row in section.rows:
            writer.writerow(
                {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}
            )
    return out.getvalue().encode()


def compose(spec: ReportSpec, content: Content, slot: datetime, notice: str | None) -> Mail:
    """The message of `spec` for `slot`: `notice` (a late send) leads the body."""
    subject = spec.subject or f"[cdpflow] {content.title}"
    with_html, with_csv = spec.format in ("html", "both"), spec.format in ("csv", "both")
    figures = [(s, f) for s in content.sections for f in _figures(s)] if with_html else []
    images = png_images([f for _, f in figures])
    attachments: list[Attachment] = []
    image_ids: dict[str, list[str]] = {}
    for index, ((section, _), png) in enumerate(zip(figures, images or [], strict=False)):
        cid = f"chart{index}.{section.key}@cdpflow"
        image_ids.setdefault(section.key, []).append(cid)
        attachments.append(Attachment(f"{_slug(section.title)}-{index}.png", png, "image/png", cid))
    if with_csv:
        for section in content.sections:
            if section.rows:
                name = f"{_slug(section.title)}.csv"
                attachments.append(Attachment(name, rows_csv(section), "text/csv"))

    heading = (
        f"<h1>{html.escape(content.title)}</h1><p>Report <b>{html.escape(spec.name)}</b> "
        f"({html.escape(content.period)}), due {slot.strftime('%Y-%m-%d %H:%M %Z')}.</p>"
    )
    parts = [heading]
    lines = [content.title, f"Report {spec.name} ({content.period}), due {slot:%Y-%m-%d %H:%M %Z}."]
    if notice:
        parts.append(f"<p class='late'><b>{html.escape(notice)}</b></p>")
        lines.append(notice)
    if figures and images is None:
        parts.append(f"<p class='note'>{html.escape(NO_IMAGES)}</p>")
    for section in content.sections:
        parts.append(f"<section><h2>{html.escape(section.title)}</h2>")
        lines.append(f"\n{section.title}")
        if section.note:
            parts.append(f"<p class='note'>{html.escape(section.note)}</p>")
            lines.append(section.note)
        elif with_html:
            parts += [
                f"<img src='cid:{cid}' alt='{html.escape(section.title)}' width='900'>"
                for cid in image_ids.get(section.key, [])
            ]
            parts.append(rows_html(section.rows))
        if not section.note:
            lines.append(f"{len(section.rows):,} rows" + (" (attached as CSV)" if with_csv else ""))
        parts.append("</section>")
    document = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<style>{STYLE}.late{{color:#a40}}</style></head><body>{''.join(parts)}</body></html>"
    )
    return Mail(subject, "\n".join(lines) + "\n", document, attachments)
