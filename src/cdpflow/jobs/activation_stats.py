"""activation_stats: per destination and day, what the syncs did and whether the channel agrees.

One row per destination and day in the lake table `activation_stats`: the day's runs and their
counts (from activation_runs), the members acknowledged at the end of the day (replayed from
activation_log), the size the channel itself reports (Klaviyo's list profile count; Meta's
approximate bounds) and the drift between them. A destination whose channel holds a different
number of people than cdpflow believes it sent, or whose every run of the day failed, is
e-mailed once per run to AIRFLOW_DAG_FAILED_EMAIL. Re-running a day replaces that day's rows.
The channel is asked for its size only while the day is recent (its count is a count of now,
not of a day long past).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from cdpflow.activation.destination import DESTINATIONS, load_destination
from cdpflow.activation.records import (
    LOG_TABLE,
    RUNS,
    RUNS_TABLE,
    TS,
    ActivationTables,
)
from cdpflow.errors import CdpflowError, ConcurrentCommitError
from cdpflow.jobs import Interval, job_lock
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, TableStore, promote_rows
from cdpflow.lake.types import schema_columns
from cdpflow.notify.email import send_email
from cdpflow.settings import Settings

log = logging.getLogger(__name__)
STATS_TABLE = "activation_stats"
RECENT = timedelta(hours=36)  # the channel's size is asked for while the day ended this recently
STATS = pa.schema(
    [
        ("day", pa.date32()),
        ("destination", pa.string()),
        ("type", pa.string()),
        ("runs", pa.int64()),
        ("succeeded_runs", pa.int64()),
        ("added", pa.int64()),
        ("updated", pa.int64()),
        ("removed", pa.int64()),
        ("skipped", pa.int64()),
        ("failed", pa.int64()),
        ("retried", pa.int64()),
        ("acknowledged", pa.int64()),
        ("reported_low", pa.int64()),
        ("reported_high", pa.int64()),
        ("drift", pa.int64()),
        ("status", pa.string()),  # ok, drift, failing
        ("note", pa.string()),
        ("computed_at", TS),
    ]
)
COUNTS = ("added", "updated", "removed", "skipped", "failed", "retried")
SizeReader = Callable[[Settings, str], tuple[int, int] | None]


@dataclass
class StatsResult:
    day: date
    rows: list[dict[str, object]] = field(default_factory=list)
    alerted: str = ""

    def summary(self) -> str:
        flagged = [f"{r['destination']} {r['status']}" for r in self.rows if r["status"] != "ok"]
        text = f"activation_stats {self.day}: {len(self.rows)} destinations"
        text += f"; {', '.join(flagged)}" if flagged else ", all ok"
        return text + (f"; e-mailed {self.alerted}" if self.alerted else "")


def channel_size(settings: Settings, name: str) -> tuple[int, int] | None:
    """What the destination's channel reports holding (None when it reports nothing)."""
    from cdpflow.activation.job import open_channel

    channel = open_channel(load_destination(settings, name), settings)
    try:
        return channel.reported_size()
    finally:
        channel.close()


def run(
    settings: Settings,
    interval: Interval | None = None,
    *,
    now: datetime | None = None,
    size_of: SizeReader = channel_size,
    progress: Callable[[int, int], None] | None = None,
) -> StatsResult:
    """The stats of the day `interval.start` falls in (default: yesterday, UTC)."""
    now = now or datetime.now(UTC)
    day = (interval.start if interval and interval.start else now - timedelta(days=1)).date()
    start = datetime.combine(day, time(), UTC)
    end = start + timedelta(days=1)
    lake = Lake(settings.lake_url)
    result = StatsResult(day)
    with job_lock(settings, "activation_stats"):
        runs = _read_all(lake, RUNS_TABLE, RUNS)
        runs = runs.filter(
            pc.and_(pc.greater_equal(runs["started_at"], start), pc.less(runs["started_at"], end))
        ).to_pylist()
        declared = set(DESTINATIONS.names(settings))
        names = sorted(declared | {str(r["destination"]) for r in runs})
        for done, name in enumerate(names, 1):
            mine = [r for r in runs if r["destination"] == name]
            row = _stats_row(settings, lake, name, mine, day, end, now, name in declared, size_of)
            result.rows.append(row)
            if progress:
                progress(done, len(names))
        _replace_day(lake, day, result.rows)
        flagged = [r for r in result.rows if r["status"] != "ok"]
        if flagged and settings.airflow_dag_failed_email:
            send_email(
                settings,
                settings.airflow_dag_failed_email,
                f"cdpflow activation_stats {day}: {len(flagged)} destination(s) need a look",
                _alert_text(day, flagged, settings.activation_drift_percent),
            )
            result.alerted = settings.airflow_dag_failed_email
        elif flagged:
            log.warning(
                "activation_stats: %d flagged, AIRFLOW_DAG_FAILED_EMAIL unset", len(flagged)
            )
    return result


def _stats_row(
    settings: Settings,
    lake: Lake,
    name: str,
    runs: list[dict[str, object]],
    day: date,
    end: datetime,
    now: datetime,
    declared: bool,
    size_of: SizeReader,
) -> dict[str, object]:
    tables = ActivationTables(lake, name)
    acknowledged = members_at(tables, end)
    row: dict[str, object] = {
        "day": day, "destination": name,
        "type": str(runs[-1]["type"]) if runs else _type_of(settings, name),
        "runs": len(runs), "succeeded_runs": sum(r["status"] == "succeeded" for r in runs),
        "acknowledged": acknowledged, "reported_low": None, "reported_high": None,
        "drift": None, "note": "", "computed_at": now,
    }  # fmt: skip
    for count in COUNTS:
        row[count] = sum(int(r[count] or 0) for r in runs)  # type: ignore[call-overload]
    if not declared:
        row["note"] = "the destination file is gone: the channel was not asked"
    elif now - end > RECENT:
        row["note"] = "the day is past: the channel's size of now was not asked"
    else:
        try:
            bounds = size_of(settings, name)
        except CdpflowError as err:
            row["note"] = f"the channel's size could not be read: {err}"[:500]
            bounds = None
        if bounds is not None:
            low, high = bounds
            row["reported_low"], row["reported_high"] = low, high
            # signed: positive when the channel holds more than cdpflow acknowledged
            row["drift"] = low - acknowledged if acknowledged < low else min(0, high - acknowledged)
    failing = bool(runs) and row["succeeded_runs"] == 0
    drift = abs(int(row["drift"] or 0))  # type: ignore[call-overload]
    drifted = drift * 100 > settings.activation_drift_percent * max(acknowledged, 1)
    row["status"] = "failing" if failing else "drift" if drifted else "ok"
    return row


def members_at(tables: ActivationTables, moment: datetime) -> int:
    """Members acknowledged at `moment`: people whose last acknowledged action before it was an
    add or an update, not a removal (replayed from activation_log)."""
    log_rows = tables.read(LOG_TABLE).select(["global_user_id", "action", "status", "logged_at"])
    ok = log_rows.filter(
        pc.and_(pc.equal(log_rows["status"], "ok"), pc.less(log_rows["logged_at"], moment))
    )
    if not ok.num_rows:
        return 0
    removed = pc.equal(ok["action"], "remove")
    joined = _last(ok.filter(pc.invert(removed)), "joined")
    left = _last(ok.filter(removed), "left")
    both = joined.join(left, "global_user_id", join_type="left outer")
    still = pc.or_kleene(pc.is_null(both["left"]), pc.greater(both["joined"], both["left"]))
    return int(pc.sum(pc.cast(pc.fill_null(still, False), pa.int64())).as_py() or 0)


def _last(rows: pa.Table, name: str) -> pa.Table:
    grouped = rows.group_by("global_user_id").aggregate([("logged_at", "max")])
    return grouped.rename_columns(["global_user_id", name])


def _type_of(settings: Settings, name: str) -> str:
    try:
        return load_destination(settings, name).type
    except CdpflowError:
        return ""


def _read_all(lake: Lake, table: str, schema: pa.Schema) -> pa.Table:
    snapshot = TableStore(lake).current(table)
    if snapshot is None or not snapshot.files:
        return schema.empty_table()
    return pa.concat_tables(
        [lake.read_parquet(f"{table}/{f.path}", schema) for f in snapshot.files]
    )


def _replace_day(lake: Lake, day: date, rows: list[dict[str, object]]) -> None:
    """Make `rows` the whole of the day's partition, in one commit."""
    store = TableStore(lake)
    partition = {"day": day.isoformat()}
    add: list[DataFile] = []
    if rows:
        table = pa.Table.from_pylist(rows, schema=STATS)
        add.append(
            promote_rows(lake, STATS_TABLE, table, owner=day.isoformat(), partition=partition)
        )
    for _ in range(20):
        try:
            store.commit(
                STATS_TABLE,
                store.current(STATS_TABLE),
                operation=f"activation_stats {day}",
                add=add,
                remove=lambda f: f.partition.get("day") == day.isoformat(),
                columns=schema_columns(STATS),
            )
            return
        except ConcurrentCommitError:
            continue
    raise ConcurrentCommitError(STATS_TABLE, -1)


def _alert_text(day: date, flagged: list[dict[str, object]], percent: int) -> str:
    lines = [f"activation_stats for {day} flagged these destinations:", ""]
    for r in flagged:
        if r["status"] == "failing":
            lines.append(
                f"- {r['destination']} ({r['type']}): failing: all {r['runs']} run(s) of the day "
                f'failed; see `cdpflow sql "select * from activation_runs where destination = '
                f"'{r['destination']}'\"`"
            )
        else:
            lines.append(
                f"- {r['destination']} ({r['type']}): drift {r['drift']}: cdpflow acknowledged "
                f"{r['acknowledged']} members, the channel reports {r['reported_low']}"
                + (f"-{r['reported_high']}" if r["reported_high"] != r["reported_low"] else "")
                + f" (more than {percent}% apart)"
            )
    lines += ["", "Rows: cdpflow sql \"select * from activation_stats where day = "
              f"'{day}'\""]  # fmt: skip
    return "\n".join(lines)
