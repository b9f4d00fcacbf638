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
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from cdpflow.engine import Engine, open_query_engine
from cdpflow.entities.comparisons import literal
from cdpflow.entities.compile import PEOPLE, Compiler, step_labels
from cdpflow.entities.files import entity_folder
from cdpflow.entities.folder import Loaded, load_folder
from cdpflow.entities.members import change_rows, with_contacts
from cdpflow.entities.pack import install_pack
from cdpflow.entities.spec import EntityError, Funnel, Segment
from cdpflow.entities.summaries import sizes_sql, steps_sql
from cdpflow.entities.tables import (
    FUNNEL_PEOPLE,
    FUNNEL_STEPS,
    SCHEMAS,
    SEGMENT_CHANGES,
    SEGMENT_MEMBERS,
    SEGMENT_SIZES,
    TS,
    EntityTables,
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
E = TypeVar("E", Segment, Funnel)
PERSON_IDS = pa.schema([("global_user_id", pa.string())])  # what a segment's SELECT returns
PREVIEW_SAMPLE = 10  # people `cdpflow entity preview` shows


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
    """table -> column -> lake type, from each table's newest snapshot."""
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
    store = EntityTables(lake)
    result = EntityCreationResult()
    with job_lock(settings, JOB):
        result.predefined = install_pack(settings)
        loaded = load_folder(entity_folder(settings))
        if only is not None:
            _check_known(settings, loaded, only)
        result.broken = {name: str(err) for name, err in loaded.errors.items()}
        engine = open_query_engine(settings, lake)  # preview's: entities are DuckDB SQL
        try:
            _undo_unfinished_changes(store)
            compiler = Compiler(lake_schema(store.tables), as_of, loaded.segments)
            steps = _Run(engine, store, loaded, compiler, as_of, only, result)
            _segments(steps)
            if progress:
                progress(1, 2)
            _funnels(steps)
            if progress:
                progress(2, 2)
        finally:
            engine.close()
    for name, error in sorted(result.broken.items()):
        log.error("entity %s is broken: %s", name, error)
    result.seconds = time.monotonic() - started
    return result


def _check_known(settings: Settings, loaded: Loaded, name: str) -> None:
    if name not in loaded.entities and name not in loaded.errors:
        known = ", ".join(sorted([*loaded.entities, *loaded.errors])) or "none"
        raise TerminalError(f"No entity `{name}` in {entity_folder(settings)} (entities: {known})")


@dataclass
class Preview:
    """What a run would compute for one entity now, as `cdpflow entity preview` prints it."""

    name: str
    kind: str
    size: int  # a segment's members; a funnel's people who entered step 1
    sample: list[dict[str, object]]  # a segment: global_user_id and emails of up to ten members
    steps: list[tuple[int, str, int]]  # a funnel: step, label, people who reached it


def preview(settings: Settings, name: str, as_of: datetime | None = None) -> Preview:
    """Entity `name` computed from the current marts as a run at `as_of` (default now) would,
    writing nothing: not to the lake, not to the entities folder (the shop pack is not
    installed).

    Raises:
        EntityError: the file is broken, or names what the lake lacks.
        TerminalError: there is no such entity.
    """
    as_of = as_of or datetime.now(UTC)
    loaded = load_folder(entity_folder(settings))
    _check_known(settings, loaded, name)
    if name in loaded.errors:
        raise loaded.errors[name]
    entity = loaded.entities[name]
    lake = Lake(settings.lake_url)
    tables = TableStore(lake)
    schema = lake_schema(tables)
    compiler = Compiler(schema, as_of, loaded.segments)
    engine = open_query_engine(settings, lake)
    try:
        if isinstance(entity, Segment):
            ids = engine.query(compiler.segment_sql(entity), tables).cast(PERSON_IDS)
            people = schema.get(PEOPLE, {})
            members = with_contacts(engine, tables, people, {name: ids}, as_of)[name]
            first = members.sort_by("global_user_id").slice(0, PREVIEW_SAMPLE)
            sample = first.select(["global_user_id", "emails"]).to_pylist()
            return Preview(name, "segment", members.num_rows, sample, [])
        furthest = engine.query(
            f"SELECT furthest_step, count(*) AS people FROM ({compiler.funnel_sql(entity)}) "
            "GROUP BY furthest_step",
            tables,
        ).to_pylist()
    finally:
        engine.close()
    reached = {int(r["furthest_step"]): int(r["people"]) for r in furthest}
    steps = [
        (k, label, sum(n for step, n in reached.items() if step >= k))
        for k, label in step_labels(entity)
    ]
    return Preview(name, "funnel", steps[0][2], [], steps)


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


@dataclass
class _Run:
    """What one run's steps share."""

    engine: Engine
    store: EntityTables
    loaded: Loaded
    compiler: Compiler
    as_of: datetime
    only: str | None
    result: EntityCreationResult

    def compute(
        self, schema: pa.Schema, entities: Mapping[str, E], sql: Callable[[E], str]
    ) -> dict[str, pa.Table]:
        """The rows (of `schema`) of each entity this run computes (all, or the one `--only`
        names); one that names what the lake lacks, or whose query fails, is listed as broken."""
        rows: dict[str, pa.Table] = {}
        for name, entity in sorted(entities.items()):
            if self.only not in (None, name):
                continue
            try:
                rows[name] = self.engine.query(sql(entity), self.store.tables).cast(schema)
            except (EntityError, QueryError) as err:
                self.result.broken[name] = str(err)
        return rows

    def replace(
        self, table: str, rows: pa.Table, properties: Mapping[str, Any] | None = None
    ) -> None:
        if self.store.replace(table, rows, "recompute", properties):
            self.result.written.append(table)


def _rows_of(table: pa.Table, column: str, name: str) -> pa.Table:
    return table.filter(pc.equal(table[column], name))


def _names_in(table: pa.Table, column: str) -> set[str]:
    return set(pc.unique(table[column]).to_pylist())


def _segments(run: _Run) -> None:
    store, result, as_of = run.store, run.result, run.as_of
    previous = store.read(SEGMENT_MEMBERS)
    ids = run.compute(PERSON_IDS, run.loaded.segments, run.compiler.segment_sql)
    people = run.compiler.schema.get(PEOPLE, {})
    fresh = with_contacts(run.engine, store.tables, people, ids, as_of)
    kept_names = set(run.loaded.segments) | set(run.loaded.errors)
    if run.only is not None:
        kept_names = _names_in(previous, "segment") | set(fresh)
    run_id = f"{as_of:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    changes: list[pa.Table] = []
    parts: list[pa.Table] = []
    for name in sorted(_names_in(previous, "segment") | set(fresh)):
        before = _rows_of(previous, "segment", name)
        if name not in fresh:
            if name in kept_names:  # broken, or not asked for: previous rows stand
                parts.append(before)
            else:  # the file was removed: everyone exits
                changes.append(change_rows(name, before["global_user_id"], "exit", as_of, run_id))
            continue
        now = fresh[name]
        now_ids = now["global_user_id"]
        known = pc.index_in(now_ids, value_set=before["global_user_id"].combine_chunks())
        left = pc.filter(
            before["global_user_id"], pc.invert(pc.is_in(before["global_user_id"], now_ids))
        )
        changes.append(
            change_rows(name, pc.filter(now_ids, pc.is_null(known)), "enter", as_of, run_id)
        )
        changes.append(change_rows(name, left, "exit", as_of, run_id))
        # people who stay keep the time they entered
        since = pc.fill_null(before["entered_at"].take(known), pa.scalar(as_of, TS))
        parts.append(now.set_column(now.schema.get_field_index("entered_at"), "entered_at", since))
        result.segments[name] = now.num_rows
    rows = pa.concat_tables(changes) if changes else SCHEMAS[SEGMENT_CHANGES].empty_table()
    result.entered = pc.sum(pc.equal(rows["change"], "enter")).as_py() or 0
    result.exited = rows.num_rows - result.entered
    members_snapshot = store.tables.current(SEGMENT_MEMBERS)
    changes_run = members_snapshot.properties.get(CHANGES_RUN) if members_snapshot else None
    if rows.num_rows:
        add = [store.publish(SEGMENT_CHANGES, rows, owner=run_id)]
        store.commit(SEGMENT_CHANGES, "append changes", add, properties={LAST_RUN: run_id})
        result.written.append(SEGMENT_CHANGES)
        changes_run = run_id
    members = pa.concat_tables(parts) if parts else SCHEMAS[SEGMENT_MEMBERS].empty_table()
    run.replace(SEGMENT_MEMBERS, members, {CHANGES_RUN: changes_run})
    sizes = sizes_sql(sorted(kept_names | set(fresh)), sorted(fresh), as_of, store.tables)
    run.replace(SEGMENT_SIZES, run.engine.query(sizes, store.tables))


def _funnels(run: _Run) -> None:
    previous = run.store.read(FUNNEL_PEOPLE)
    computed = run.compute(
        SCHEMAS[FUNNEL_PEOPLE],
        run.loaded.funnels,
        lambda funnel: (
            f"SELECT {literal(funnel.name)} AS funnel, global_user_id, entered_at, "
            f"furthest_step, step_times, converted FROM ({run.compiler.funnel_sql(funnel)})"
        ),
    )
    run.result.funnels = {name: rows.num_rows for name, rows in computed.items()}
    keep = set(run.loaded.funnels) | set(run.loaded.errors) if run.only is None else None
    parts = [computed[n] for n in sorted(computed)]
    for name in sorted(_names_in(previous, "funnel") - set(computed)):
        if keep is None or name in keep:  # broken, or not asked for: previous rows stand
            parts.append(_rows_of(previous, "funnel", name))
    people = pa.concat_tables(parts) if parts else SCHEMAS[FUNNEL_PEOPLE].empty_table()
    run.replace(FUNNEL_PEOPLE, people)
    present = _names_in(people, "funnel")
    funnels = {n: f for n, f in run.loaded.funnels.items() if n in present}
    run.replace(FUNNEL_STEPS, run.engine.query(steps_sql(funnels), run.store.tables))
