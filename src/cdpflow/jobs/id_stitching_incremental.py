"""id_stitching_incremental: keep the identity graph that gives every person a global_user_id.

A run reads only what is new since the last one: core_events files not read yet, offline
files whose fingerprint changed, and the rows of offline lake tables (ELT pipelines') loaded
since the snapshot it last read. It loads from the stored graph only the people those new
identifiers belong to, recomputes just those people (joining them by the new links, or from all
their links when a cap is involved), and commits the rows that changed as identities' delta
with the read state in one snapshot. The ids come from a rule on the data (see
`cdpflow.identity.graph`), so the result equals a full rebuild over the same data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from cdpflow.elt.identity_sources import identity_config
from cdpflow.engine import Engine, IdentityIO, identity_io, open_engine
from cdpflow.identity.changes import Recomputed, recomputed
from cdpflow.identity.config import IdentityConfig
from cdpflow.identity.graph import CapFor, stitch
from cdpflow.identity.prepare import JUNK, OBSERVATIONS, Prepared, prepare
from cdpflow.identity.schema import IDENTITIES, IDENTITY_CONFLICTS, LINK_ENDS, TS
from cdpflow.identity.sources import pending_files, pending_tables, read_observations
from cdpflow.identity.store import (
    CONFLICTS_TABLE,
    EDGES_TABLE,
    IDENTITIES_TABLE,
    MERGES_TABLE,
    IdentityStore,
    ReadState,
)
from cdpflow.identity.unite import unite
from cdpflow.jobs import Interval, job_lock
from cdpflow.lake.merge_on_read import base_files, delta_files
from cdpflow.lake.storage import Lake, staging_dir
from cdpflow.lake.tables import Snapshot, TableStore
from cdpflow.settings import Settings

log = logging.getLogger(__name__)

JOB = "id_stitching_incremental"
CORE_EVENTS = "core_events"
MAP_PREFIX = "@map:"
# identities' delta is folded into a new base once it would hold this share of the base's rows:
# every reader pays for the delta (an anti-join), and every run rewrites it
FOLD_FRACTION = 0.2
Progress = Callable[[int, int], None]


@dataclass
class IdStitchingResult:
    """What a run read and changed."""

    core_files: int = 0
    offline_files: int = 0
    offline_tables: int = 0  # lake tables whose new snapshot was read
    records: int = 0
    identifiers_in_scope: int = 0
    people_in_scope: int = 0
    new_edges: int = 0
    merges: int = 0
    held_out: int = 0
    junk_values: int = 0
    identities: int = 0
    seconds: float = 0.0
    identities_version: int | None = None
    full_rebuild: bool = False
    joined_by_new_links: bool = False
    changed: int = 0
    folded: bool = False

    def summary(self) -> str:
        if not (self.core_files or self.offline_files or self.offline_tables):
            return f"{JOB}: nothing new to read."
        kind = "full rebuild" if self.full_rebuild else "incremental"
        how = "joined by the new links" if self.joined_by_new_links else "from all their links"
        where = "into a new base" if self.folded else "as the delta"
        return (
            f"{JOB} ({kind}): read {self.core_files} core_events file(s) and "
            f"{self.offline_files} offline file(s)"
            + (f" and {self.offline_tables} offline table(s)" if self.offline_tables else "")
            + f", {self.records:,} identifier records; "
            f"recomputed {self.identifiers_in_scope:,} identifiers in "
            f"{self.people_in_scope:,} people ({how}); {self.new_edges:,} new links, "
            f"{self.merges:,} merges, {self.held_out:,} held out, {self.junk_values:,} junk "
            f"values; wrote {self.changed:,} changed identifiers {where}; "
            f"now {self.identities:,} identifiers in {self.seconds:.1f}s"
        )


def run(
    settings: Settings,
    interval: Interval | None = None,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
    full_rebuild: bool = False,
) -> IdStitchingResult:
    """Fold new core_events files and changed offline files into the identity graph.

    The graph has no time window, so an explicit `interval` is not used: a run always reads
    whatever is new. `full_rebuild` forgets the stored graph and reads everything again.
    """
    started = time.monotonic()
    now = now or datetime.now(UTC)
    lake = Lake(settings.lake_url)
    tables = TableStore(lake)
    config = identity_config(settings)
    result = IdStitchingResult(full_rebuild=full_rebuild)
    if interval is not None and (interval.start or interval.end):
        log.info("%s reads whatever is new; the interval given is not used", JOB)
    staging = staging_dir(JOB)
    with job_lock(settings, JOB):
        snapshot = tables.current(IDENTITIES_TABLE)
        state = ReadState() if full_rebuild else ReadState.of(snapshot)
        core = tables.current(CORE_EVENTS)
        core_paths = [f.path for f in core.files] if core else []
        new_core = [p for p in core_paths if p not in state.core_files]
        offline = pending_files(config, dict(state.offline_files))
        offline_tables = pending_tables(config, dict(state.offline_files), tables)
        result.core_files, result.offline_files = len(new_core), len(offline)
        result.offline_tables = len(offline_tables)
        if not (new_core or offline or offline_tables) and not (
            full_rebuild and snapshot is not None
        ):
            result.identities_version = snapshot.version if snapshot else None
            result.identities = snapshot.rows if snapshot else 0
            return result
        engine = open_engine(settings, lake)
        try:
            io = identity_io(engine)
            _step(progress, 1)
            online = io.event_observations(
                [lake.uri(f"{CORE_EVENTS}/{p}") for p in new_core], config.click_ids
            )
            online = _resolve_map_types(online, config)
            offline_obs, tables_read = read_observations(
                offline, _next_record(online), offline_tables, tables
            )
            observations = pa.concat_tables([online, offline_obs.cast(OBSERVATIONS)])
            result.records = len(pc.unique(observations["record"]))
            _step(progress, 2)
            prepared = prepare(observations, config.blocklist)
            _step(progress, 3)
            done = recompute(io, tables, prepared, config.cap_for, now, full_rebuild=full_rebuild)
            stitched = done.stitched
            result.identifiers_in_scope = stitched.identities.num_rows
            result.people_in_scope = stitched.components
            result.joined_by_new_links = done.united
            result.new_edges = stitched.new_edges.num_rows
            result.merges = stitched.merges.num_rows
            result.held_out = stitched.conflicts.num_rows
            result.changed = done.changed.num_rows
            _step(progress, 4)

            store = IdentityStore(lake, tables)
            junk = _new_junk(engine, tables, prepared, now, full_rebuild)
            result.junk_values = junk.num_rows
            conflicts = pa.concat_tables([stitched.conflicts, junk])
            if full_rebuild:
                store.replace(EDGES_TABLE, stitched.new_edges, JOB)
                store.replace(CONFLICTS_TABLE, conflicts, JOB)
            else:
                store.append(EDGES_TABLE, stitched.new_edges, JOB)
                store.append(CONFLICTS_TABLE, conflicts, JOB)
            store.append(MERGES_TABLE, stitched.merges, JOB)
            # Every current core_events file has now been read; files no longer in the table
            # drop out of the state, so it stays as large as the table's file list.
            read = ReadState(
                frozenset(core_paths),
                {
                    **state.offline_files,
                    **{str(f.path): f.fingerprint for f in offline},
                    **tables_read,
                },
            )
            snapshot = publish_identities(
                io, store, tables, done, read, staging, full_rebuild=full_rebuild
            )
            result.folded = not delta_files(snapshot)
            result.identities_version = snapshot.version
            result.identities = snapshot.rows
            _step(progress, 5)
        finally:
            engine.close()
            lake.remove(staging)
    result.seconds = time.monotonic() - started
    log.info(result.summary())
    return result


def recompute(
    io: IdentityIO,
    tables: TableStore,
    prepared: Prepared,
    cap_for: CapFor,
    now: datetime,
    *,
    full_rebuild: bool,
) -> Recomputed:
    """Recompute the people `prepared`'s identifiers touch.

    Usually the new links only join stored people, and `unite` needs just the touched people's
    rows and the touched identifiers' own links. When a new link would take an identifier over
    a cap or touches a held-out one, people may split: then every link of the touched people is
    loaded and `stitch` recomputes them, as a full build would.
    """
    if full_rebuild or tables.current(IDENTITIES_TABLE) is None:
        nothing = IDENTITIES.empty_table()
        built = stitch(nothing, LINK_ENDS.empty_table(), prepared, cap_for, now, io.components)
        return recomputed(nothing, built)
    touched = prepared.sightings.select(["identifier_type", "identifier_value"])
    members = io.load_people(tables, touched)
    links = io.load_links(tables, touched)
    united = unite(members, links, prepared, cap_for, now, io.components)
    if united is not None:
        return united
    scope = pa.concat_tables([members.select(touched.column_names), touched])
    links = io.load_links(tables, scope)
    return recomputed(members, stitch(members, links, prepared, cap_for, now, io.components))


def publish_identities(
    io: IdentityIO,
    store: IdentityStore,
    tables: TableStore,
    done: Recomputed,
    state: ReadState,
    staging: str,
    *,
    full_rebuild: bool,
) -> Snapshot:
    """Commit the changed rows with the read state: as the new delta over the stored base, or
    folded with it into a new base once the delta would pass FOLD_FRACTION of the base's rows
    (and on a rebuild or the first run)."""
    snapshot = tables.current(IDENTITIES_TABLE)
    keep = snapshot is not None and not full_rebuild
    rows = (snapshot.rows if snapshot and keep else 0) + done.added
    out = f"{staging}/identities"
    if snapshot and keep:
        delta_rows = sum(f.rows for f in delta_files(snapshot)) + done.changed.num_rows
        if delta_rows <= FOLD_FRACTION * sum(f.rows for f in base_files(snapshot)):
            files = io.write_identities_delta(tables, done.changed, out)
            return store.commit_identities(files, delta=True, rows=rows, state=state, operation=JOB)
    files = io.write_identities(tables, done.changed, out, keep_old=keep)
    return store.commit_identities(files, delta=False, rows=rows, state=state, operation=JOB)


def fold_identities(settings: Settings, engine: Engine, tables: TableStore) -> Snapshot | None:
    """Fold identities' delta into a new base, keeping the read state; None when there is no
    delta. The daily compression run calls it, so that the stitching runs seldom pay for a fold
    themselves and readers seldom pay for a large delta."""
    with job_lock(settings, JOB):
        snapshot = tables.current(IDENTITIES_TABLE)
        if snapshot is None or not delta_files(snapshot):
            return None
        staging = staging_dir(JOB)
        try:
            store = IdentityStore(tables.lake, tables)
            files = identity_io(engine).write_identities(
                tables, IDENTITIES.empty_table(), f"{staging}/identities", keep_old=True
            )
            state = ReadState.of(snapshot)
            return store.commit_identities(
                files, delta=False, rows=snapshot.rows, state=state, operation="compression"
            )
        finally:
            tables.lake.remove(staging)


def _step(progress: Progress | None, done: int, total: int = 5) -> None:
    if progress:
        progress(done, total)


def _resolve_map_types(observations: pa.Table, config: IdentityConfig) -> pa.Table:
    """`@map:<provider>` types become the provider's identifier type (mapping or its name)."""
    types = observations["identifier_type"].combine_chunks()
    encoded = pc.dictionary_encode(types)
    names = [
        config.map_type(t.removeprefix(MAP_PREFIX)) if t.startswith(MAP_PREFIX) else t
        for t in encoded.dictionary.to_pylist()
    ]
    resolved = pa.array(names, pa.string()).take(encoded.indices)
    return observations.set_column(1, "identifier_type", resolved)


def _next_record(observations: pa.Table) -> int:
    if observations.num_rows == 0:
        return 0
    return int(pc.max(observations["record"]).as_py()) + 1


def _new_junk(
    engine: Engine, tables: TableStore, prepared: Prepared, now: datetime, full_rebuild: bool
) -> pa.Table:
    """Junk values as conflict rows, once each: those not reported by an earlier run."""
    junk = prepared.junk.cast(JUNK)
    if junk.num_rows and not full_rebuild and CONFLICTS_TABLE in tables.names():
        seen = engine.query(
            f"SELECT DISTINCT identifier_type, identifier_value FROM {CONFLICTS_TABLE} "
            "WHERE reason = 'junk_value'",
            tables,
        )
        known = pc.binary_join_element_wise(
            seen["identifier_type"], seen["identifier_value"], "\x1f"
        )
        keys = pc.binary_join_element_wise(
            junk["identifier_type"], junk["identifier_value"], "\x1f"
        )
        junk = junk.filter(pc.invert(pc.is_in(keys, value_set=known.combine_chunks())))
    n = junk.num_rows
    return pa.table(
        {
            "identifier_type": junk["identifier_type"],
            "identifier_value": junk["identifier_value"],
            "reason": pa.array(["junk_value"] * n, pa.string()),
            "linked_type": pa.nulls(n, pa.string()),
            "linked_count": junk["records"],
            "cap": pa.nulls(n, pa.int64()),
            "detected_at": pa.array([now] * n, TS),
        },
        schema=IDENTITY_CONFLICTS,
    )
