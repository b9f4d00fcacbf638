"""The sync, the same for every channel: diff the segment against what the channel
acknowledged, guard removals, send adds and updates before removes, in the channel's batches,
recording each acknowledged batch before the next is sent.

Why against the acknowledged members and not the last extract: a person whose add failed is
still missing from the channel, so the next run adds them again; a person the channel refused
for good (a malformed address) is not sent again until their fields change. Who is sent what
is decided in `plan`; this module reads the lake, sends the batches and records them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from cdpflow.activation.channel import Channel, Member, Outcome, Person
from cdpflow.activation.destination import Destination
from cdpflow.activation.live_state import LiveState
from cdpflow.activation.plan import (
    MassRemovalRefused,
    Plan,
    guard_removals,
    plan_sync,
    select_people,
)
from cdpflow.activation.records import (
    LOG,
    LOG_TABLE,
    RUNS,
    RUNS_TABLE,
    STATE,
    STATE_TABLE,
    ActivationTables,
)
from cdpflow.activation.unchanged import latest_rows, unchanged_rows
from cdpflow.errors import CdpflowError, TerminalError
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.runs import job_lock
from cdpflow.settings import Settings

log = logging.getLogger(__name__)
SEGMENT_MEMBERS = "segment_members"
T = TypeVar("T")
SAMPLE = 10  # people listed per action by a dry run


class SegmentUnavailable(TerminalError):
    """The segment's extract could not be read: nothing is sent, in particular no removals."""


@dataclass
class SyncResult:
    destination: str
    run_id: str
    dry_run: bool = False
    status: str = "succeeded"
    extracted: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    unchanged: int = 0
    plan: Plan | None = None

    def summary(self) -> str:
        if self.dry_run and self.plan is not None:
            p = self.plan
            lines = [
                f"activation_{self.destination} (dry run, nothing sent): {p.extracted} in the "
                f"segment, {p.acknowledged} acknowledged; would add {len(p.adds)}, update "
                f"{len(p.updates)}, remove {len(p.removes)}; {len(p.skipped)} skipped, "
                f"{p.unchanged} unchanged"
            ]
            for action, ids in (
                ("add", [x.global_user_id for x in p.adds]),
                ("update", [x.global_user_id for x in p.updates]),
                ("remove", [x.global_user_id for x in p.removes]),
            ):
                if ids:
                    more = f" and {len(ids) - SAMPLE} more" if len(ids) > SAMPLE else ""
                    lines.append(f"  {action}: {', '.join(ids[:SAMPLE])}{more}")
            return "\n".join(lines)
        return (
            f"activation_{self.destination}: {self.status}; {self.extracted} in the segment, "
            f"added {self.added}, updated {self.updated}, removed {self.removed}, skipped "
            f"{self.skipped}, failed {self.failed}, retried {self.retried}, unchanged "
            f"{self.unchanged}"
        )


ChannelFactory = Callable[[Destination, Settings], Channel]


def read_segment(settings: Settings, destination: Destination) -> pa.Table:
    """The segment's members from segment_members (its newest snapshot)."""
    lake = Lake(settings.lake_url)
    snapshot = TableStore(lake).current(SEGMENT_MEMBERS)
    if snapshot is None:
        raise SegmentUnavailable(
            f"Destination `{destination.name}`: lake table segment_members does not exist yet, "
            "so nothing was sent. Run entity_creation first."
        )
    try:
        parts = [lake.read_parquet(f"{SEGMENT_MEMBERS}/{f.path}") for f in snapshot.files]
    except (OSError, pa.ArrowException) as err:
        raise SegmentUnavailable(
            f"Destination `{destination.name}`: segment_members could not be read ({err}); "
            "nothing was sent."
        ) from err
    if not parts:
        return pa.table({"segment": pa.array([], pa.string())})
    table = pa.concat_tables(parts, promote_options="default")
    if destination.consent_field and destination.consent_field not in table.column_names:
        raise TerminalError(
            f"`consent_field` in {destination.path}: segment_members has no column "
            f"`{destination.consent_field}` (columns: {', '.join(table.column_names)})"
        )
    return table.filter(pc.equal(table["segment"], destination.segment))


def sync(
    settings: Settings,
    destination: Destination,
    open_channel: ChannelFactory,
    *,
    dry_run: bool = False,
    allow_mass_removal: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SyncResult:
    """One run of the destination's sync. Raises the run's error after recording it in
    activation_runs (a dry run records nothing)."""
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    result = SyncResult(destination.name, run_id, dry_run=dry_run)
    tables = ActivationTables(Lake(settings.lake_url), destination.name)
    started = datetime.now(UTC)
    with job_lock(settings, destination.dag_id):
        refused = ""
        try:
            rows = read_segment(settings, destination)
            live = LiveState.read(tables)
            same = unchanged_rows(rows, live.narrow, destination.fields, destination.consent_field)
            kept = rows["global_user_id"].filter(same.rows)  # members whose fields did not change
            wanted, skipped = select_people(destination, rows.filter(pc.invert(same.rows)))
            others = live.members_except(same.members)
            plan = plan_sync(destination, wanted, skipped, others, rows.num_rows)
            plan.unchanged += len(kept)
            plan.acknowledged = live.acknowledged
            result.extracted, result.skipped = plan.extracted, len(plan.skipped)
            result.retried, result.unchanged = plan.retried, plan.unchanged
            try:
                guard_removals(destination, plan, allow_mass_removal)
            except MassRemovalRefused as err:
                refused = err.reason
                raise
            if dry_run:
                result.status, result.plan = "dry_run", plan
                return result
            _send(settings, destination, open_channel, plan, tables, result, progress)
            if _worth_compacting(tables, live.narrow.num_rows):
                in_segment = [kept.combine_chunks(), pa.array(list(wanted), pa.string())]
                _compact(tables, pa.concat_arrays(in_segment))
        except CdpflowError as err:
            if not dry_run:
                result.status = "refused" if refused else "failed"
                _record_run(tables, destination, result, started, refused, str(err))
            raise
        except Exception as err:
            if not dry_run:
                result.status = "failed"
                _record_run(tables, destination, result, started, "", type(err).__name__)
            raise
        _record_run(tables, destination, result, started, "", "")
    return result


def _send(
    settings: Settings,
    destination: Destination,
    open_channel: ChannelFactory,
    plan: Plan,
    tables: ActivationTables,
    result: SyncResult,
    progress: Callable[[int, int], None] | None,
) -> None:
    now = datetime.now(UTC)
    tables.append(
        LOG_TABLE,
        pa.Table.from_pylist(
            [_log_row(result.run_id, destination, gid, "skip", "skipped", None, why, now)
             for gid, why in plan.skipped],
            schema=LOG,
        ),
        "skip",
    )  # fmt: skip
    total = len(plan.adds) + len(plan.updates) + len(plan.removes)
    done = 0
    channel = open_channel(destination, settings)
    try:
        channel.prepare(create=True)
        for action, people in (("add", plan.adds), ("update", plan.updates)):
            if people:
                channel.begin(action, len(people), plan.replaced if action == "update" else {})
            for batch, last in _batches(people, channel.upsert_batch):
                outcomes = channel.send(action, batch, last)
                _record_batch(tables, destination, result, action, batch, outcomes, plan)
                done += len(batch)
                if progress:
                    progress(done, total)
        if plan.removes:
            channel.begin("remove", len(plan.removes), {})
        for members, last in _batches(plan.removes, channel.remove_batch):
            outcomes = channel.remove(members, last)
            _record_batch(tables, destination, result, "remove", members, outcomes, plan)
            done += len(members)
            if progress:
                progress(done, total)
    finally:
        channel.close()


def _batches(items: list[T], size: int) -> Iterator[tuple[list[T], bool]]:
    for start in range(0, len(items), size):
        yield items[start : start + size], start + size >= len(items)


def _record_batch(
    tables: ActivationTables,
    destination: Destination,
    result: SyncResult,
    action: str,
    batch: list[Person] | list[Member],
    outcomes: list[Outcome],
    plan: Plan,
) -> None:
    """Commit the batch's acknowledged state, then its log: the batch is never sent again."""
    now = datetime.now(UTC)
    by_id = {o.global_user_id: o for o in outcomes}
    state_rows, log_rows = [], []
    for item in batch:
        gid = item.global_user_id
        outcome = by_id.get(gid) or Outcome(gid, False, None, "no answer for this person", True)
        if isinstance(item, Person):
            fingerprint = plan.fingerprints.get(gid) or item.fingerprint(destination.fields)
            identity = item.identity_hash()
        else:
            identity, fingerprint = item.identity_hash, item.fingerprint
        known = item if isinstance(item, Member) else plan.replaced.get(gid)
        channel_id = outcome.channel_id or (known.channel_id if known else "")
        if outcome.ok:
            status = "removed" if action == "remove" else "member"
            setattr(result, _COUNTER[action], getattr(result, _COUNTER[action]) + 1)
        else:
            result.failed += 1
            status = {"add": "failed" if outcome.transient else "rejected"}.get(action, "")
        if status:
            state_rows.append(
                {
                    "destination": destination.name, "global_user_id": gid,
                    "identity_hash": identity, "channel_id": channel_id,
                    "fingerprint": fingerprint, "status": status, "acknowledged_at": now,
                    "run_id": result.run_id,
                }
            )  # fmt: skip
        log_status = "ok" if outcome.ok else ("failed" if outcome.transient else "rejected")
        log_rows.append(
            _log_row(
                result.run_id,
                destination,
                gid,
                action,
                log_status,
                outcome.code,
                outcome.error,
                now,
            )
        )
        if not outcome.ok:
            log.warning(
                "%s: %s of %s %s: %s", destination.name, action, gid, log_status, outcome.error
            )
    tables.append(STATE_TABLE, pa.Table.from_pylist(state_rows, schema=STATE), action)
    tables.append(LOG_TABLE, pa.Table.from_pylist(log_rows, schema=LOG), action)


_COUNTER = {"add": "added", "update": "updated", "remove": "removed"}


def _log_row(
    run_id: str, destination: Destination, gid: str, action: str, status: str,
    code: int | None, error: str, at: datetime,
) -> dict[str, object]:  # fmt: skip
    return {
        "run_id": run_id, "destination": destination.name, "global_user_id": gid,
        "action": action, "status": status, "response_code": code, "error": error[:500],
        "logged_at": at,
    }  # fmt: skip


COMPACT_SHARE = 0.1  # superseded state rows, as a share of the people it holds
COMPACT_FILES = 64


def _worth_compacting(tables: ActivationTables, live: int) -> bool:
    """Rewrite the state only once its superseded rows or its files have piled up: a day-to-day
    run of a million members changes a few thousand, and rewriting the million each time would
    cost more than the rest of the run. (Rows it would drop meanwhile change no plan.)"""
    snapshot = tables.tables.current(STATE_TABLE)
    files = [f for f in snapshot.files if tables.owned(f)] if snapshot else []
    superseded = sum(f.rows for f in files) - live
    return len(files) > 1 and (superseded > COMPACT_SHARE * live or len(files) > COMPACT_FILES)


def _compact(tables: ActivationTables, in_segment: pa.Array) -> None:
    """Fold this destination's state files into one: members, and the refused people still in
    the segment."""
    rows = latest_rows(tables.read(STATE_TABLE))
    status = rows["status"]
    kept = pc.or_(
        pc.equal(status, "member"),
        pc.and_(
            pc.not_equal(status, "removed"),
            pc.is_in(rows["global_user_id"], value_set=in_segment),
        ),
    )
    if not pc.all(kept).as_py():  # a first sync keeps everyone: no copy of the million
        rows = rows.filter(kept)
    tables.replace_own(STATE_TABLE, rows, "compact")


def _record_run(
    tables: ActivationTables,
    destination: Destination,
    result: SyncResult,
    started: datetime,
    refused: str,
    error: str,
) -> None:
    row = {
        "run_id": result.run_id, "destination": destination.name, "type": destination.type,
        "segment": destination.segment, "started_at": started, "finished_at": datetime.now(UTC),
        "status": result.status, "extracted": result.extracted, "added": result.added,
        "updated": result.updated, "removed": result.removed, "skipped": result.skipped,
        "failed": result.failed, "retried": result.retried, "refused_reason": refused,
        "error": error[:1000],
    }  # fmt: skip
    tables.append(RUNS_TABLE, pa.Table.from_pylist([row], schema=RUNS), result.status)
