"""scan_report_runs_and_send_email: e-mail each report of `$CDPFLOW_HOME/reports/` whose cron
slot fell due since it was last sent.

Per report, the slot to send is the latest one due: on a report's first scan, the latest slot
(not its history); later, the latest slot after the last one recorded in `report_runs`, or a
slot whose send failed. When several fell due while no scan ran (Airflow down), one mail goes,
late, saying so and counting the slots it stands for. A slot is claimed in `report_runs` before
anything is rendered, so an Airflow retry or an overlapping scan never sends it twice; a send
that fails (SMTP, Superset) is recorded `failed` and retried by the next scan.

The scan time is the interval's end when given (`cdpflow run` and Airflow give none: now).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from cdpflow.declared import DeclarationError
from cdpflow.errors import TerminalError, TransientError
from cdpflow.jobs import Interval, job_lock
from cdpflow.lake.storage import Lake
from cdpflow.notify.email import send_email
from cdpflow.report.runs import FAILED, PENDING, SENT, ReportRuns, SlotState, slot_states
from cdpflow.report.schedules import ReportSpec, load_reports
from cdpflow.settings import Settings

log = logging.getLogger(__name__)
JOB = "scan_report_runs_and_send_email"
LATE_SLACK = timedelta(minutes=10)  # a scan that starts a little behind its cron is not late
MAX_COUNTED_SLOTS = 10_000


@dataclass(frozen=True)
class Due:
    """The slot of a report this scan sends."""

    slot: datetime  # UTC
    late: bool
    missed: int  # other due slots this send stands for
    retry: bool  # the slot's last send failed


@dataclass
class ScanResult:
    now: datetime
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # another scan holds the slot
    not_due: list[str] = field(default_factory=list)
    invalid: list[DeclarationError] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"{JOB} at {self.now:%Y-%m-%d %H:%M} UTC: {len(self.sent)} sent, "
            f"{len(self.failed)} failed, {len(self.not_due)} not due, {len(self.held)} held by "
            f"another scan, {len(self.invalid)} invalid"
        ]
        lines += [f"  sent {s}" for s in self.sent]
        lines += [f"  FAILED {s}" for s in self.failed]
        lines += [f"  invalid: {e}" for e in self.invalid]
        return "\n".join(lines)


def _slot_after(cron: str, start: datetime, tz: ZoneInfo) -> croniter:
    return croniter(cron, start.astimezone(tz))


def latest_slot(cron: str, now: datetime, tz: ZoneInfo) -> datetime:
    """The last slot of `cron` at or before `now`, in UTC."""
    slot: datetime = _slot_after(cron, now + timedelta(seconds=1), tz).get_prev(datetime)
    return slot.astimezone(UTC)


def slots_between(cron: str, after: datetime, now: datetime, tz: ZoneInfo) -> list[datetime]:
    """The slots in (after, now], the latest last; counting stops at MAX_COUNTED_SLOTS."""
    slots: list[datetime] = []
    series = _slot_after(cron, after, tz)
    while len(slots) < MAX_COUNTED_SLOTS:
        slot = series.get_next(datetime).astimezone(UTC)
        if slot > now:
            return slots
        slots.append(slot)
    return [*slots[:-1], latest_slot(cron, now, tz)]


def scan_gap(scan_cron: str, now: datetime) -> timedelta:
    """How far apart the scans run: a slot older than this (and a little) was missed."""
    series = croniter(scan_cron, now)
    last: datetime = series.get_prev(datetime)
    before: datetime = series.get_prev(datetime)
    return last - before


def held(states: dict[datetime, SlotState], now: datetime) -> bool:
    """Whether another scan holds a slot of the report (it may be sending it right now)."""
    return any(s.status == PENDING and s.taken(now) for s in states.values())


def due_slot(
    spec: ReportSpec, states: dict[datetime, SlotState], now: datetime, late_after: timedelta
) -> Due | None:
    """The slot this scan sends, or None when none is due."""
    tz = ZoneInfo(spec.timezone)
    if not states:  # a new report: its latest slot, not its history
        return Due(latest_slot(spec.cron, now, tz), late=False, missed=0, retry=False)
    last_sent = max((slot for slot, s in states.items() if s.status == SENT), default=None)
    retried = [
        slot
        for slot, s in states.items()
        if s.status in (FAILED, PENDING) and (last_sent is None or slot > last_sent)
    ]
    candidates = sorted({*retried, *slots_between(spec.cron, max(states), now, tz)})
    if not candidates:
        return None
    slot = candidates[-1]
    return Due(slot, now - slot > late_after, len(candidates) - 1, slot in retried)


def late_notice(spec: ReportSpec, due: Due, now: datetime) -> str | None:
    if not due.late:
        return None
    tz = ZoneInfo(spec.timezone)
    text = (
        f"Sent late: this report fell due at {due.slot.astimezone(tz):%Y-%m-%d %H:%M %Z} and "
        f"goes out at {now.astimezone(tz):%Y-%m-%d %H:%M %Z}, because "
        + (
            "its send failed until now."
            if due.retry
            else "no scan ran in between (Airflow was down or paused)."
        )
    )
    if due.missed:
        text += (
            f" {due.missed} earlier slot{'s' if due.missed > 1 else ''} fell due meanwhile; "
            "this one mail stands for them, with the data as of now."
        )
    return text


def superset_reports(settings: Settings) -> list[ReportSpec]:
    """Superset's own e-mail report schedules, where SUPERSET_BASE_URL names a Superset whose
    ALERT_REPORTS flag is on (cdpflow's own Superset keeps it off)."""
    if not settings.superset_base_url:
        return []
    from cdpflow.superset.client import SupersetClient
    from cdpflow.superset.report_sources import superset_schedules
    from cdpflow.superset.runtime import superset_credentials

    client = SupersetClient(settings.superset_base_url, superset_credentials(settings))
    return superset_schedules(client) or []


def run(
    settings: Settings,
    interval: Interval | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ScanResult:
    """Send every report slot that is due, once (`progress`: `cdpflow run`'s bar, unused)."""
    from cdpflow.report.mail import compose, report_content

    now = (interval.end if interval and interval.end else datetime.now(UTC)).astimezone(UTC)
    result = ScanResult(now)
    with job_lock(settings, JOB):
        specs, result.invalid = load_reports(settings)
        try:
            specs += superset_reports(settings)
        except (TerminalError, TransientError) as err:  # the report files still go out
            result.failed.append(f"Superset's report schedules: {err}")
        runs = ReportRuns(Lake(settings.lake_url))
        rows = runs.rows()
        late_after = scan_gap(settings.user_reporting_schedule_interval, now) + LATE_SLACK
        for spec in specs:
            states = slot_states(rows, spec.name)
            if held(states, now):
                result.held.append(spec.name)
                continue
            due = due_slot(spec, states, now, late_after)
            if due is None:
                result.not_due.append(spec.name)
                continue
            recipients = ", ".join(spec.recipients)
            run_id = runs.claim(spec.name, due.slot, recipients, now)
            if run_id is None:
                result.held.append(spec.name)
                continue
            slot_text = f"{spec.name} slot {due.slot:%Y-%m-%d %H:%M} UTC"
            try:
                mail = compose(
                    spec,
                    report_content(settings, spec),
                    due.slot.astimezone(ZoneInfo(spec.timezone)),
                    late_notice(spec, due, now),
                )
                send_email(
                    settings, recipients, mail.subject, mail.text, mail.html, mail.attachments
                )
            except Exception as err:  # recorded and retried next scan, whatever it was
                error = str(err) if isinstance(err, TerminalError | TransientError) else repr(err)
                runs.record(
                    spec.name, due.slot, run_id, status=FAILED, recipients=recipients,
                    now=now, error=error,
                )  # fmt: skip
                result.failed.append(f"{slot_text}: {error}")
                log.warning("report %s failed: %s", slot_text, error)
                continue
            runs.record(
                spec.name, due.slot, run_id, status=SENT, recipients=recipients,
                now=now, late=due.late, missed_slots=due.missed,
            )  # fmt: skip
            result.sent.append(slot_text + (" (late)" if due.late else ""))
    log.info(result.summary())
    if result.failed:
        raise TransientError(
            "Report e-mails failed and are retried by the next scan:\n" + "\n".join(result.failed)
        )
    if result.invalid:
        raise TerminalError(
            "Report files that cannot be used (the other reports were sent):\n"
            + "\n".join(str(e) for e in result.invalid)
        )
    return result
