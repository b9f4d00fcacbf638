"""Report schedules: `$CDPFLOW_HOME/reports/<name>.yml`, one e-mailed report each.

Every report is scanned by the one DAG `scan_report_runs_and_send_email`, so reports are not a
`declared.Family` (a family is one DAG per file); they share its file rules: the file name is
the report's name, and a bad file fails naming the file, the key and the value, without
stopping the other reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cdpflow.cron import cron_problem
from cdpflow.declared import NAME, DeclarationError, read_declaration
from cdpflow.settings import Settings

FOLDER = "reports"
BUILTINS = ("overview",)
FORMATS = ("html", "csv", "both")
KEYS = (
    "dashboard",
    "chart",
    "builtin",
    "cron",
    "timezone",
    "recipients",
    "format",
    "subject",
    "days",
)
_EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+|[^@\s,]+@localhost")


@dataclass(frozen=True)
class ReportSpec:
    """One report file, read and checked. Exactly one of `dashboard`, `chart`, `builtin`."""

    name: str  # the file's name; `superset:<id>` for a schedule read from Superset
    origin: str  # where it was declared: the file, or the Superset schedule's address
    cron: str
    recipients: tuple[str, ...]
    format: str = "both"
    timezone: str = "UTC"
    dashboard: str | int | None = None  # a Superset dashboard's title or id
    chart: str | int | None = None  # a Superset chart's name or id
    builtin: str | None = None
    subject: str | None = None
    days: int = 28

    @property
    def source(self) -> str:
        """What the report shows, for messages: `dashboard Sales`, `builtin overview`."""
        for kind in ("dashboard", "chart", "builtin"):
            value = getattr(self, kind)
            if value is not None:
                return f"{kind} {value}"
        raise AssertionError("a report has a source")


def reports_dir(settings: Settings) -> Path:
    return settings.home / FOLDER


def load_reports(settings: Settings) -> tuple[list[ReportSpec], list[DeclarationError]]:
    """Every report file: those that read well, and the errors of those that do not."""
    folder = reports_dir(settings)
    specs: list[ReportSpec] = []
    errors: list[DeclarationError] = []
    for path in sorted(folder.glob("*.yml")) if folder.is_dir() else []:
        try:
            specs.append(read_report(path))
        except DeclarationError as err:
            errors.append(err)
    return specs, errors


def read_report(path: Path) -> ReportSpec:
    """The report in `path`; DeclarationError names the key and the value that are wrong."""
    if not NAME.fullmatch(path.stem):
        raise DeclarationError(
            path, None, "the file name is the report's name: lowercase letters, digits, _ and -"
        )
    data = read_declaration(path)
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise DeclarationError(path, unknown[0], f"unknown key; the keys are {', '.join(KEYS)}")
    sources = [k for k in ("dashboard", "chart", "builtin") if data.get(k) is not None]
    if len(sources) != 1:
        raise DeclarationError(
            path,
            sources[1] if sources else "dashboard",
            "give exactly one of `dashboard` (a Superset dashboard's title or id), `chart` "
            "(a Superset chart's name or id) or `builtin: overview`"
            + (f"; found {', '.join(sources)}" if sources else ""),
        )
    source = sources[0]
    value = data[source]
    if source == "builtin":
        if value not in BUILTINS:
            raise DeclarationError(
                path, "builtin", f"`{value}` is not a built-in report; use {', '.join(BUILTINS)}"
            )
    elif isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise DeclarationError(path, source, f"`{value}` is not a {source} title or id")
    cron = data.get("cron")
    if not isinstance(cron, str):
        raise DeclarationError(path, "cron", f"`{cron}` is not a cron expression, e.g. `0 8 * * 1`")
    if problem := cron_problem(cron):
        raise DeclarationError(path, "cron", f"`{cron}` is not a cron expression: {problem}")
    return ReportSpec(
        name=path.stem,
        origin=str(path),
        cron=cron.strip(),
        recipients=_recipients(path, data.get("recipients")),
        format=_choice(path, data, "format", FORMATS, "both"),
        timezone=_timezone(path, data.get("timezone", "UTC")),
        subject=_subject(path, data.get("subject")),
        days=_days(path, data, source),
        **{source: value},
    )


def _recipients(path: Path, value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise DeclarationError(path, "recipients", "list the e-mail addresses to send to")
    found = []
    for index, item in enumerate(items):
        text = str(item).strip()
        if not _EMAIL.fullmatch(text):
            raise DeclarationError(
                path, f"recipients[{index}]", f"`{item}` is not an e-mail address"
            )
        found.append(text)
    return tuple(found)


def _choice(
    path: Path, data: dict[str, Any], key: str, allowed: tuple[str, ...], default: str
) -> str:
    value = data.get(key, default)
    if value not in allowed:
        raise DeclarationError(path, key, f"`{value}` is not one of {', '.join(allowed)}")
    return str(value)


def _timezone(path: Path, value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise DeclarationError(
            path, "timezone", f"`{value}` is not a time zone name, e.g. Europe/Berlin"
        ) from None
    return str(value)


def _subject(path: Path, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\n" in value:
        raise DeclarationError(path, "subject", f"`{value}` is not a one-line subject")
    return value.strip()


def _days(path: Path, data: dict[str, Any], source: str) -> int:
    value = data.get("days")
    if value is None:
        return 28
    if source != "builtin":
        raise DeclarationError(
            path,
            "days",
            "applies to `builtin: overview` only; a Superset chart keeps its own time range",
        )
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DeclarationError(path, "days", f"`{value}` is not a whole number of days (1 or more)")
    return value
