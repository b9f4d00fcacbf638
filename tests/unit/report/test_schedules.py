"""Report files read into the schedule the scan uses: defaults, recipients, and the errors a
user meets at load rather than at the first send."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdpflow.declared import DeclarationError
from cdpflow.report.schedules import ReportSpec, load_reports, read_report
from cdpflow.settings import Settings


def report_file(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yml"
    path.write_text(text)
    return path


def test_a_builtin_report_gets_the_documented_defaults(tmp_path: Path) -> None:
    path = report_file(
        tmp_path,
        "daily",
        "builtin: overview\ncron: ' 0 8 * * * '\nrecipients: [a@shop.example.com]\n",
    )
    assert read_report(path) == ReportSpec(
        name="daily",
        origin=str(path),
        cron="0 8 * * *",
        recipients=("a@shop.example.com",),
        format="both",
        timezone="UTC",
        builtin="overview",
        subject=None,
        days=28,
    )


def test_every_key_of_a_dashboard_report_is_read(tmp_path: Path) -> None:
    path = report_file(
        tmp_path,
        "sales-weekly",
        "dashboard: 7\ncron: '0 9 * * mon'\ntimezone: Europe/Berlin\nformat: csv\n"
        "recipients: ' cfo@shop.example.com, ops@localhost '\nsubject: '  Weekly sales  '\n",
    )
    spec = read_report(path)
    assert spec.dashboard == 7 and spec.chart is None and spec.builtin is None
    assert spec.source == "dashboard 7"
    assert spec.recipients == ("cfo@shop.example.com", "ops@localhost")
    assert (spec.timezone, spec.format, spec.subject, spec.cron) == (
        "Europe/Berlin",
        "csv",
        "Weekly sales",
        "0 9 * * mon",
    )


@pytest.mark.parametrize(
    ("name", "text", "key", "problem"),
    [
        ("Daily", "builtin: overview\ncron: '@daily'\nrecipients: [a@b.co]\n", None, "file name"),
        ("d", "builtin: overview\nrecipients: [a@b.co]\n", "cron", "`None` is not a cron"),
        ("d", "builtin: overview\ncron: '0 8 * *'\nrecipients: [a@b.co]\n", "cron", "5 fields"),
        ("d", "builtin: overview\ncron: '@daily'\nrecipients: []\n", "recipients", "list the"),
        ("d", "builtin: overview\ncron: '@daily'\n", "recipients", "list the e-mail addresses"),
        ("d", "chart: ''\ncron: '@daily'\nrecipients: [a@b.co]\n", "chart", "not a chart title"),
        ("d", "chart: true\ncron: '@daily'\nrecipients: [a@b.co]\n", "chart", "`True` is not"),
        (
            "d",
            "builtin: overview\ncron: '@daily'\nrecipients: [a@b.co]\nsubject: 'a\n\n  b'\n",
            "subject",
            "not a one-line subject",
        ),
        (
            "d",
            "builtin: overview\ncron: '@daily'\nrecipients: [a@b.co]\ndays: 0\n",
            "days",
            "`0` is not a whole number of days (1 or more)",
        ),
        (
            "d",
            "builtin: overview\ncron: '@daily'\nrecipients: [a@b.co]\ndays: true\n",
            "days",
            "`True` is not a whole number",
        ),
    ],
)
def test_a_bad_file_names_its_key(
    tmp_path: Path, name: str, text: str, key: str | None, problem: str
) -> None:
    path = report_file(tmp_path, name, text)
    with pytest.raises(DeclarationError) as failure:
        read_report(path)
    assert failure.value.key == key
    assert problem in failure.value.problem


def test_load_reports_keeps_the_good_files_and_lists_the_bad_ones(settings: Settings) -> None:
    folder = settings.home / "reports"
    report_file(folder, "b-good", "builtin: overview\ncron: '@daily'\nrecipients: [a@b.co]\n")
    bad = report_file(folder, "a-bad", "builtin: overview\ncron: '@often'\nrecipients: [a@b.co]\n")
    report_file(folder, "c-good", "chart: Revenue\ncron: '@hourly'\nrecipients: x@y.io\n")
    (folder / "notes.txt").write_text("not a report")
    specs, errors = load_reports(settings)
    assert [s.name for s in specs] == ["b-good", "c-good"]
    assert [(e.path, e.key) for e in errors] == [(bad, "cron")]
