"""A report's mail as composed from its content: subject, the body's lines, the notice of a
late send, and a CSV per section with data (no images here: the sections carry no figure, so
no browser is started)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from cdpflow.report import Section
from cdpflow.report.mail import Content, compose, rows_csv
from cdpflow.report.schedules import ReportSpec

FIRST = datetime(2026, 11, 19, 10, 4, tzinfo=UTC)
SLOT = datetime(2026, 11, 20, 8, tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
CHANNELS = Section(
    "channels",
    "Sessions & revenue by channel",
    [
        {"session_date": date(2026, 11, 19), "channel": "Email", "revenue": 99.99, "at": FIRST},
        {"session_date": date(2026, 11, 19), "channel": "<Direct>", "revenue": None, "at": None},
    ],
)
BROKEN = Section("chart-7", "Refunds", [], None, "Superset could not run this chart: timeout")
EMPTY = Section("segments", "Segment sizes", [])


def spec(**overrides: object) -> ReportSpec:
    fields: dict[str, object] = {
        "name": "daily",
        "origin": str(Path("reports/daily.yml")),
        "cron": "0 9 * * *",
        "recipients": ("a@shop.example.com",),
        "timezone": "Europe/Berlin",
        "builtin": "overview",
    }
    return ReportSpec(**{**fields, **overrides})  # type: ignore[arg-type]


CONTENT = Content("cdpflow overview", "2026-11-13 to 2026-11-19", [CHANNELS, BROKEN, EMPTY])


def test_rows_become_csv_with_times_as_iso_text_and_none_as_empty() -> None:
    assert rows_csv(CHANNELS) == (
        b"session_date,channel,revenue,at\r\n"
        b"2026-11-19,Email,99.99,2026-11-19T10:04:00+00:00\r\n"
        b"2026-11-19,<Direct>,,\r\n"
    )
    assert rows_csv(EMPTY) == b""


def test_the_text_body_lists_each_section_and_a_late_notice_leads() -> None:
    mail = compose(spec(), CONTENT, SLOT, "Sent late: no scan ran in between.")
    assert mail.subject == "[cdpflow] cdpflow overview"
    assert mail.text == (
        "cdpflow overview\n"
        "Report daily (2026-11-13 to 2026-11-19), due 2026-11-20 09:00 CET.\n"
        "Sent late: no scan ran in between.\n"
        "\nSessions & revenue by channel\n"
        "2 rows (attached as CSV)\n"
        "\nRefunds\n"
        "Superset could not run this chart: timeout\n"
        "\nSegment sizes\n"
        "0 rows (attached as CSV)\n"
    )
    assert "<p class='late'><b>Sent late: no scan ran in between.</b></p>" in mail.html


def test_both_formats_attach_a_csv_per_section_with_rows_and_escape_the_html() -> None:
    mail = compose(spec(subject="Daily numbers"), CONTENT, SLOT, None)
    assert mail.subject == "Daily numbers"
    assert [(a.filename, a.mime_type, a.content_id) for a in mail.attachments] == [
        ("sessions-revenue-by-channel.csv", "text/csv", None)
    ]
    assert mail.attachments[0].data == rows_csv(CHANNELS)
    assert "<h2>Sessions &amp; revenue by channel</h2>" in mail.html
    assert "<td>&lt;Direct&gt;</td>" in mail.html
    assert "<p class='note'>Superset could not run this chart: timeout</p>" in mail.html
    assert "class='late'" not in mail.html and "Sent late" not in mail.text


def test_html_only_attaches_nothing_and_csv_only_shows_no_tables() -> None:
    html_only = compose(spec(format="html"), CONTENT, SLOT, None)
    assert html_only.attachments == []
    assert "2 rows\n" in html_only.text and "attached as CSV" not in html_only.text
    assert "<td>Email</td>" in html_only.html
    csv_only = compose(spec(format="csv"), CONTENT, SLOT, None)
    assert [a.filename for a in csv_only.attachments] == ["sessions-revenue-by-channel.csv"]
    assert "<table>" not in csv_only.html and "<td>Email</td>" not in csv_only.html
