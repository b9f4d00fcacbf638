"""entity_creation: the segments and funnels declared in $CDPFLOW_HOME/entities, materialized.

Each run recomputes every segment from the current marts and diffs it against the previous
segment_members: people new to a segment enter (entered_at is that run's time), people gone
exit, and both are appended to segment_changes; segment_sizes (segment x day) is derived from
that history. Funnels are recomputed whole into funnel_people and funnel_steps. A table whose
rows did not change gets no new version, so a run over unchanged data commits nothing.

A broken entity file (or one that names a column the lake lacks) is reported in the result and
keeps its previous rows; the other entities are computed as usual.

segment_changes is written before segment_members; the members snapshot records which run's
changes it matches, so a run killed between the two commits has its changes taken back by the
next run, which then records them again: never twice, never lost.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from cdpflow.engine import Engine, open_engine
from cdpflow.entities.compile import PEOPLE, Compiler, literal, quote, time_literal
from cdpflow.entities.pack import install_pack
from cdpflow.entities.spec import EntityError, Funnel, Loaded, Segment, load_folder
from cdpflow.entities.tables import (
    CONTACT_FIELDS,
    CONTACT_SOURCES,
    FUNNEL_PEOPLE,
    FUNNEL_STEPS,
    SCHEMAS,
    SEGMENT_CHANGES,
    SEGMENT_MEMBERS,
    SEGMENT_SIZES,
    EntityTables,
    sql_type,
)
from cdpflow.errors import QueryError, TerminalError
from cdpflow.jobs import Interval, job_lock
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.settings import Settings

log = logging.getLogger(__name__)
JOB = "entity_creation"
LAST_RUN = "last_run"  # segment_changes: the run that appended its newest file
CHANGES_RUN = "changes_run"  # segment_members: the segment_changes run it matches


@dataclass
class EntityCreationResult:
    segments: dict[str, int] = field(default_factory=dict)  # name -> size
    funnels: dict[str, int] = field(default_factory=dict)  # name -> people who entered step 1
    entered: int = 0
    exited: int = 0
    broken: dict[str, str] = field(default_factory=dict)  # name -> error
    written: list[str] = field(default_factory=list)  # tables that got a new version
    predefined: list[str] = field(default_factory=list)  # pack files written by this run
    seconds: float = 0.0

    def summary(self) -> str:
        text = (
            f"{JOB}: {len(self.segments)} segment(s), {len(self.funnels)} funnel(s); "
            f"{self.entered} entered, {self.exited} exited; "
            f"updated {', '.join(self.written) or 'nothing (no change)'}"
        )
        if self.predefined:
            text += f"; wrote predefined {', '.join(self.predefined)}"
        if self.broken:
            listed = "; ".join(f"{name}: {error}" for name, error in sorted(self.broken.items()))
            text += f"; {len(self.broken)} broken (kept their previous rows): {listed}"
        return text + f"; {self.seconds:.1f}s"


def lake_schema(tables: TableStore) -> dict[str, dict[str, str]]:
    """table -> column -> engine type, from each table's newest snapshot."""
    schema: dict[str, dict[str, str]] = {}
    for name in tables.names():
        snapshot = tables.current(name)
        if snapshot is not None:
            schema[name] = dict(snapshot.columns)
    return schema


def run(
    settings: Settings,
    interval: Interval | None = None,
    *,
    only: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EntityCreationResult:
    """Materialize the entities (only entity `only` when given; the others keep their rows).
    Relative days (within_days, within_last_days) count back from interval.end, else now."""
    started = time.monotonic()
    as_of = (interval.end if interval and interval.end else None) or datetime.now(UTC)
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    lake = Lake(settings.lake_url)
    store = EntityTables(lake, settings.work_dir / "staging" / JOB)
    result = EntityCreationResult()
    with job_lock(settings, JOB):
        result.predefined = install_pack(settings)
        loaded = load_folder(settings.home / "entities")
        if only is not None and only not in loaded.entities and only not in loaded.errors:
            raise TerminalError(
                f"No entity `{only}` in {settings.home / 'entities'} "
                f"(entities: {', '.join(sorted(loaded.entities)) or 'none'})"
            )
        result.broken = {name: str(err) for name, err in loaded.errors.items()}
        engine = open_engine(settings, lake)
        try:
            _undo_unfinished_changes(store)
            _segments(engine, store, loaded, as_of, only, result)
            if progress:
                progress(1, 2)
            _funnels(engine, store, loaded, as_of, only, result)
            if progress:
                progress(2, 2)
        finally:
            engine.close()
    for name, error in sorted(result.broken.items()):
        log.error("entity %s is broken: %s", name, error)
    result.seconds = time.monotonic() - started
    return result


def _undo_unfinished_changes(store: EntityTables) -> None:
    """Take back the segment_changes of a run killed before it committed segment_members."""
    changes = store.tables.current(SEGMENT_CHANGES)
    if changes is None or not changes.properties.get(LAST_RUN):
        return
    members = store.tables.current(SEGMENT_MEMBERS)
    matched = members.properties.get(CHANGES_RUN) if members else None
    unfinished = changes.properties[LAST_RUN]
    if unfinished != matched:
        log.warning("taking back segment_changes of unfinished run %s", unfinished)
        store.commit(
            SEGMENT_CHANGES,
            "undo unfinished run",
            remove=lambda f: f.owner == unfinished,
            properties={LAST_RUN: matched},
        )


def _segments(
    engine: Engine,
    store: EntityTables,
    loaded: Loaded,
    as_of: datetime,
    only: str | None,
    result: EntityCreationResult,
) -> None:
    tables = store.tables
    previous = store.read(SEGMENT_MEMBERS)
    compiler = Compiler(lake_schema(tables), as_of, loaded.segments)
    schema = lake_schema(tables)
    contact = _contact_columns(schema.get(PEOPLE, {}))
    had_members = SEGMENT_MEMBERS in schema
    fresh: dict[str, pa.Table] = {}
    for name, segment in sorted(loaded.segments.items()):
        if only is not None and name != only:
            continue
        try:
            fresh[name] = engine.query(
                _members_sql(compiler, segment, contact, as_of, had_members), tables
            )
        except (EntityError, QueryError) as err:
            result.broken[name] = str(err)
    kept_names = set(loaded.segments) | set(loaded.errors)
    if only is not None:
        kept_names = set(pc.unique(previous["segment"]).to_pylist()) | set(fresh)
    run_id = f"{as_of:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    changes: list[dict[str, object]] = []
    parts: list[pa.Table] = []
    for name in sorted(set(pc.unique(previous["segment"]).to_pylist()) | set(fresh)):
        before = previous.filter(pc.equal(previous["segment"], name))
        if name not in fresh:
            if name in kept_names:  # broken, or not asked for: previous rows stand
                parts.append(before)
            else:  # the file was removed: everyone exits
                changes += _change_rows(name, before["global_user_id"], "exit", as_of, run_id)
            continue
        now = fresh[name].cast(SCHEMAS[SEGMENT_MEMBERS])
        known = before.select(["global_user_id", "entered_at"])
        ids = now["global_user_id"]
        entered = now.filter(pc.invert(pc.is_in(ids, known["global_user_id"])))
        left = before.filter(pc.invert(pc.is_in(before["global_user_id"], ids)))
        changes += _change_rows(name, entered["global_user_id"], "enter", as_of, run_id)
        changes += _change_rows(name, left["global_user_id"], "exit", as_of, run_id)
        parts.append(now)
        result.segments[name] = now.num_rows
    result.entered = sum(1 for c in changes if c["change"] == "enter")
    result.exited = len(changes) - result.entered
    members_snapshot = tables.current(SEGMENT_MEMBERS)
    changes_run = members_snapshot.properties.get(CHANGES_RUN) if members_snapshot else None
    if changes:
        rows = pa.Table.from_pylist(changes, schema=SCHEMAS[SEGMENT_CHANGES])
        add = [store.publish(SEGMENT_CHANGES, rows, owner=run_id)]
        store.commit(SEGMENT_CHANGES, "append changes", add, properties={LAST_RUN: run_id})
        result.written.append(SEGMENT_CHANGES)
        changes_run = run_id
    members = pa.concat_tables(parts) if parts else SCHEMAS[SEGMENT_MEMBERS].empty_table()
    if store.replace(SEGMENT_MEMBERS, members, "recompute", {CHANGES_RUN: changes_run}):
        result.written.append(SEGMENT_MEMBERS)
    sizes = engine.query(_sizes_sql(sorted(kept_names | set(fresh)), as_of), tables)
    if store.replace(SEGMENT_SIZES, sizes, "recompute"):
        result.written.append(SEGMENT_SIZES)


def _contact_columns(people: Mapping[str, str]) -> str:
    """The contact fields from customer_360 where it has them, typed NULLs where not."""
    out = []
    for name, kind in CONTACT_FIELDS:
        column = CONTACT_SOURCES.get(name, name)
        source = f"c.{quote(column)}" if column in people else "NULL"
        out.append(f"CAST({source} AS {sql_type(kind)}) AS {quote(name)}")
    return ", ".join(out)


def _members_sql(
    compiler: Compiler, segment: Segment, contact: str, as_of: datetime, had_members: bool
) -> str:
    """The segment's people with their contact fields; those already in it keep entered_at."""
    entered = time_literal(as_of)
    previous = ""
    if had_members:
        entered = f"coalesce(p.entered_at, {entered})"
        previous = (
            f"LEFT JOIN (SELECT global_user_id, entered_at FROM {SEGMENT_MEMBERS} "
            f"WHERE segment = {literal(segment.name)}) AS p USING (global_user_id) "
        )
    return (
        f"SELECT {literal(segment.name)} AS segment, m.global_user_id, "
        f"{entered} AS entered_at, {contact} "
        f"FROM ({compiler.segment_sql(segment)}) AS m {previous}"
        f"LEFT JOIN (SELECT * FROM {PEOPLE} QUALIFY row_number() OVER "
        "(PARTITION BY global_user_id) = 1) AS c USING (global_user_id)"
    )


def _change_rows(
    segment: str, ids: pa.ChunkedArray | pa.Array, change: str, at: datetime, run_id: str
) -> list[dict[str, object]]:
    return [
        {"segment": segment, "global_user_id": gid, "change": change, "at": at, "run_id": run_id}
        for gid in ids.to_pylist()
    ]


def _sizes_sql(segments: list[str], as_of: datetime) -> str:
    """Per segment and UTC day from its first change to today: size at the day's end, entered
    and exited that day; from segment_changes, so days without a run are filled in."""
    if not segments:
        return "SELECT NULL AS segment, NULL AS day, 0 AS size, 0 AS entered, 0 AS exited LIMIT 0"
    names = ", ".join(literal(s) for s in segments)
    today = f"CAST(timezone('UTC', {time_literal(as_of)}) AS DATE)"
    return (
        "WITH daily AS (SELECT segment, CAST(timezone('UTC', \"at\") AS DATE) AS day, "
        "count(*) FILTER (WHERE change = 'enter') AS entered, "
        "count(*) FILTER (WHERE change = 'exit') AS exited "
        f"FROM {SEGMENT_CHANGES} WHERE segment IN ({names}) GROUP BY ALL), "
        "spans AS (SELECT segment, min(day) AS first_day FROM daily GROUP BY segment), "
        "days AS (SELECT segment, CAST(unnest(generate_series(first_day, "
        f"greatest(first_day, {today}), INTERVAL 1 DAY)) AS DATE) AS day FROM spans) "
        "SELECT segment, day, "
        "sum(coalesce(entered, 0) - coalesce(exited, 0)) OVER "
        "(PARTITION BY segment ORDER BY day) AS size, "
        "coalesce(entered, 0) AS entered, coalesce(exited, 0) AS exited "
        "FROM days LEFT JOIN daily USING (segment, day)"
    )


def _funnels(
    engine: Engine,
    store: EntityTables,
    loaded: Loaded,
    as_of: datetime,
    only: str | None,
    result: EntityCreationResult,
) -> None:
    tables = store.tables
    previous = store.read(FUNNEL_PEOPLE)
    compiler = Compiler(lake_schema(tables), as_of, loaded.segments)
    computed: dict[str, pa.Table] = {}
    for name, funnel in sorted(loaded.funnels.items()):
        if only is not None and name != only:
            continue
        sql = (
            f"SELECT {literal(name)} AS funnel, global_user_id, entered_at, furthest_step, "
            f"step_times, converted FROM ({compiler.funnel_sql(funnel)})"
        )
        try:
            computed[name] = engine.query(sql, tables).cast(SCHEMAS[FUNNEL_PEOPLE])
        except (EntityError, QueryError) as err:
            result.broken[name] = str(err)
    keep = set(loaded.funnels) | set(loaded.errors) if only is None else None
    parts = [computed[n] for n in sorted(computed)]
    for name in sorted(set(pc.unique(previous["funnel"]).to_pylist()) - set(computed)):
        if keep is None or name in keep:
            parts.append(previous.filter(pc.equal(previous["funnel"], name)))
    people = pa.concat_tables(parts) if parts else SCHEMAS[FUNNEL_PEOPLE].empty_table()
    for name, rows in computed.items():
        result.funnels[name] = rows.num_rows
    if store.replace(FUNNEL_PEOPLE, people, "recompute"):
        result.written.append(FUNNEL_PEOPLE)
    present = set(pc.unique(people["funnel"]).to_pylist())
    funnels = {n: f for n, f in loaded.funnels.items() if n in present}
    steps = engine.query(_steps_sql(funnels), tables)
    if store.replace(FUNNEL_STEPS, steps, "recompute"):
        result.written.append(FUNNEL_STEPS)


def _steps_sql(funnels: Mapping[str, Funnel]) -> str:
    """Per funnel, day of entry into step 1 and step: people who reached it, conversion from the
    step before and from the first, median seconds from the step before; from funnel_people."""
    labels = [
        f"({literal(name)}, {k:d}, {literal(step.label)})"
        for name, funnel in sorted(funnels.items())
        for k, step in enumerate(funnel.steps, 1)
    ]
    if not labels:
        return (
            "SELECT NULL AS funnel, NULL AS entry_day, NULL AS step, NULL AS step_label, "
            "0 AS users, NULL AS conversion_from_previous, NULL AS conversion_from_first, "
            "NULL AS median_seconds_from_previous WHERE false"
        )
    return (
        f"WITH labels(funnel, step, step_label) AS (VALUES {', '.join(labels)}), "
        "entries AS (SELECT funnel, CAST(timezone('UTC', entered_at) AS DATE) AS entry_day, "
        f"step_times FROM {FUNNEL_PEOPLE}), "
        "counted AS (SELECT e.funnel, e.entry_day, l.step, l.step_label, "
        "count(*) FILTER (WHERE len(e.step_times) >= l.step) AS users, "
        "median(epoch(e.step_times[l.step]) - epoch(e.step_times[l.step - 1])) "
        "FILTER (WHERE l.step > 1 AND len(e.step_times) >= l.step) AS median_seconds_from_previous "
        "FROM entries AS e JOIN labels AS l USING (funnel) GROUP BY ALL) "
        "SELECT funnel, entry_day, step, step_label, users, "
        "users / nullif(lag(users) OVER w, 0) AS conversion_from_previous, "
        "users / nullif(first_value(users) OVER w, 0) AS conversion_from_first, "
        "median_seconds_from_previous FROM counted "
        "WINDOW w AS (PARTITION BY funnel, entry_day ORDER BY step)"
    )
