"""Build analytics models and publish them to the lake: what the analytics jobs have in common.

The jobs events_unified_view, attribution, campaign and retention are each this build of the
dbt models tagged with their DAG id (`cdpflow/dbt/project/models`).

A build (1) points the warehouse's `lake` views at the current table versions, with the core_events
files not yet folded into unique_events as `lake.pending_events`; (2) runs `dbt build` on the
chosen models, tests included; (3) publishes each mart to the lake as a new table version. The
large marts are partitioned by day: a day that only gained rows gets a file of them, a day that
lost or changed rows is rewritten, the others are left alone, so an hourly run costs what its new
data touches. Runs of all analytics jobs take turns on one lock, as the warehouse file has one
writer.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from cdpflow.dbt.models import (
    PROJECT_DIR,
    marts,
    models_of,
    project_models,
    project_seeds,
    seeds_of,
)
from cdpflow.dbt.runner import NodeResult, dbt_build, dbt_vars, write_profile
from cdpflow.elt.config import role_tables
from cdpflow.elt.identity_sources import identity_config
from cdpflow.engine import Export, ExportedFile, Warehouse, open_warehouse
from cdpflow.errors import ConfigError, TerminalError
from cdpflow.jobs import Interval, job_lock
from cdpflow.lake.storage import Lake, staging_dir
from cdpflow.lake.tables import Snapshot, TableStore, promote
from cdpflow.roles import ROLES, RoleTable
from cdpflow.settings import Settings

log = logging.getLogger(__name__)

PENDING_MODEL = "stg_lake__pending_events"
FOLDING_MODEL = "unique_events"
# the warehouse has one writer: analytics runs of any job (and compression of the marts) take
# turns on this lock
ANALYTICS_LOCK = "analytics"
LOCK_WAIT_SECONDS = 3600.0
Progress = Callable[[int, int], None]


@dataclass
class AnalyticsResult:
    job: str
    models: list[NodeResult] = field(default_factory=list)
    tests: list[NodeResult] = field(default_factory=list)
    seeds: list[NodeResult] = field(default_factory=list)  # the seeds (re)loaded
    pending_files: int = 0
    folds: bool = False  # the run folded new core_events files into unique_events
    full_refresh: bool = False
    published: dict[str, tuple[int, int]] = field(default_factory=dict)  # mart -> (rows, files)
    seconds: float = 0.0

    def summary(self) -> str:
        kind = " (full build)" if self.full_refresh else ""
        lines = [
            f"{self.job}{kind}: {len(self.models)} model(s) built, "
            f"{sum(t.status == 'pass' for t in self.tests)}/{len(self.tests)} tests passed"
            + (f", {self.pending_files} new core_events file(s)" if self.folds else "")
            + f", {self.seconds:.1f}s"
        ]
        for mart, (rows, files) in self.published.items():
            lines.append(f"  {mart}: {rows:,} rows ({files} file(s) written)")
        return "\n".join(lines)


class UpstreamNotBuilt(TerminalError):
    def __init__(self, job: str, missing: Sequence[str]) -> None:
        self.job = job
        self.missing = list(missing)
        super().__init__(
            f"`{job}` reads {', '.join(missing)}, which no run has built yet. "
            "Run `cdpflow run events_unified_view` first."
        )


def job_run(job: str) -> Callable[..., AnalyticsResult]:
    """The `run` function of an analytics job: its models with their dbt tests, then publish."""

    def run(
        settings: Settings,
        interval: Interval | None = None,
        *,
        models: Sequence[str] | None = None,
        full_rebuild: bool = False,
        progress: Progress | None = None,
    ) -> AnalyticsResult:
        """Build the job's models (or just `models`) with their dbt tests and publish the marts.

        The models read whatever their inputs hold now, so `interval` is not used.
        """
        return build(settings, job, models=models, full_rebuild=full_rebuild, progress=progress)

    run.__qualname__ = run.__name__ = "run"
    run.__module__ = f"cdpflow.jobs.{job}"
    return run


def warehouse_path(settings: Settings) -> Path:
    return settings.work_dir / "analytics" / "warehouse.duckdb"


def analytics_jobs() -> tuple[str, ...]:
    """The DAG ids whose work is dbt models (the tags of the bundled project's models)."""
    return tuple(sorted({tag for m in project_models().values() for tag in m.tags}))


def build(
    settings: Settings,
    job: str | Sequence[str],
    *,
    models: Sequence[str] | None = None,
    full_rebuild: bool = False,
    progress: Progress | None = None,
) -> AnalyticsResult:
    """Build `models` (default: every model of `job`) with their tests, then publish the marts.

    Several jobs build as one: one dbt invocation over all their models, in dependency order,
    and one publish, so a chain such as the hourly events_unified_view, attribution, campaign
    and retention pays dbt's start-up and the warehouse's opening once.

    Raises:
        UpstreamNotBuilt: a model reads one another job builds, and it was never built.
        DbtBuildFailed: a model or test failed; nothing was published.
    """
    started = time.monotonic()
    jobs = [job] if isinstance(job, str) else list(job)
    if models is not None:
        chosen = list(models)
    else:
        chosen = list(dict.fromkeys(m.name for j in jobs for m in models_of(j)))
    label = " + ".join(jobs)
    result = AnalyticsResult(label)
    lake = Lake(settings.lake_url)
    tables = TableStore(lake)
    path = warehouse_path(settings)
    with job_lock(settings, ANALYTICS_LOCK, wait_seconds=LOCK_WAIT_SECONDS):
        warehouse = open_warehouse(settings, lake, path)
        try:
            seeds = seeds_of(chosen)
            code = {name: code_hash(name, settings) for name in [*seeds, *chosen]}
            stored = warehouse.code_hashes()
            # a model whose SQL, macros or settings changed (an upgrade, a new session timeout)
            # is rebuilt from scratch, with the models built with it
            changed = sorted(m for m in chosen if stored.get(m) != code[m])
            if changed and stored:
                log.info("rebuilding from scratch: %s changed since built", ", ".join(changed))
            full_rebuild = full_rebuild or bool(changed)
            # a seed is loaded when missing or changed (a full build reloads it), not hourly
            loads = [
                s
                for s in seeds
                if full_rebuild or stored.get(s) != code[s] or not warehouse.has_table(s)
            ]
            full = full_rebuild or not warehouse.has_table(FOLDING_MODEL)
            result.full_refresh = full and FOLDING_MODEL in chosen
            _check_upstream(label, chosen, warehouse.has_table)
            pending: list[str] | None = None
            if PENDING_MODEL in chosen or FOLDING_MODEL in chosen:
                core = tables.current("core_events")
                paths = [f.path for f in core.files] if core else []
                folded = set() if full else warehouse.folded_files()
                pending = [p for p in paths if p not in folded]
                result.pending_files = len(pending)
                result.folds = True
            warehouse.expose_sources(tables, pending, role_sources(settings))
            batch_id = warehouse.start_batch()
            profile = warehouse.dbt_profile()
        finally:
            warehouse.close()

        done = 0

        def on_node(node: NodeResult) -> None:
            nonlocal done
            done += 1
            log.info("%s %s: %s in %.1fs", node.kind, node.name, node.status, node.seconds)
            if progress:
                progress(done, done + 1)

        work = write_profile(path.parent, profile)
        built = dbt_build(
            work,
            [*loads, *chosen],
            dbt_vars(settings),
            full_refresh=full_rebuild,
            on_node=on_node,
        )
        result.models, result.tests, result.seeds = built.models, built.tests, built.seeds

        warehouse = open_warehouse(settings, lake, path)
        try:
            if FOLDING_MODEL in chosen and pending is not None:
                warehouse.mark_folded(pending, replace=full)
            published = [m for m in chosen if m in marts()]
            result.published = _publish(settings, tables, warehouse, published, batch_id)
            warehouse.record_batch(batch_id)
            warehouse.record_code(code)
        finally:
            warehouse.close()
    result.seconds = time.monotonic() - started
    return result


def code_hash(model: str, settings: Settings) -> str:
    """Fingerprint of what a model's (or a seed's) rows depend on besides data: its SQL (its
    CSV), the seeds it reads, every macro, the project file and the settings passed as vars."""
    digest = hashlib.sha256()
    files = [PROJECT_DIR / "dbt_project.yml", *sorted((PROJECT_DIR / "macros").glob("*.sql"))]
    seeds = project_seeds()
    if model in seeds:
        files.append(seeds[model])
    else:
        files += sorted((PROJECT_DIR / "models").rglob(f"{model}.sql"))
        files += [seeds[s] for s in seeds_of([model])]
    for path in files:
        digest.update(path.read_bytes())
    digest.update(orjson.dumps(dbt_vars(settings), option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()[:16]


def _check_upstream(job: str, chosen: Sequence[str], exists: Callable[[str], bool]) -> None:
    models = project_models()
    missing = sorted(
        {
            ref
            for name in chosen
            for ref in models[name].refs
            # the seeds a run reads it loads itself
            if ref not in chosen and ref not in project_seeds() and not exists(ref)
        }
    )
    if missing:
        raise UpstreamNotBuilt(job, missing)


@dataclass
class _Publication:
    """What one mart's new lake version needs: the rows to write and the partitions they
    replace (None: the whole table)."""

    mart: str
    base: Snapshot | None
    export: Export
    rewrite: set[str] | None


def _publish(
    settings: Settings, tables: TableStore, wh: Warehouse, marts: Sequence[str], batch_id: int
) -> dict[str, tuple[int, int]]:
    """Commit a new version of each mart's lake table; (rows, files written) per mart.

    A day partition whose stored rows are all still there unchanged only gains a file with its
    new rows; one that lost or changed rows is rewritten; the others are left alone. The files
    of all marts are written at once (their COPYs share the engine's threads), then each mart
    is committed.
    """
    staging = staging_dir(ANALYTICS_LOCK)
    published: dict[str, tuple[int, int]] = {}
    plans: list[_Publication] = []
    try:
        for mart in marts:
            base = tables.current(mart)
            needed = _plan(wh, mart, base, f"{staging}/{mart}")
            if needed:
                plans.extend(needed)
            elif base is not None:
                published[mart] = (base.rows, 0)
        written = wh.export([p.export for p in plans])
        by_mart: dict[str, list[ExportedFile]] = {}
        first: dict[str, _Publication] = {}  # a mart's publications share its base and rewrite
        for plan, files in zip(plans, written, strict=True):
            by_mart.setdefault(plan.mart, []).extend(files)
            first.setdefault(plan.mart, plan)
        for mart, plan in first.items():
            published[mart] = _commit(
                tables, wh, mart, plan.base, by_mart[mart], plan.rewrite, batch_id
            )
    finally:
        tables.lake.remove(staging)
    return {mart: published[mart] for mart in marts if mart in published}


def _plan(wh: Warehouse, mart: str, base: Snapshot | None, out: str) -> list[_Publication]:
    """The exports a mart needs: the whole table, or its changed days rewritten and its other
    new rows appended; none when nothing changed."""
    column = marts()[mart]
    if column is None:
        return [_Publication(mart, base, Export(mart, out), None)]
    since = int(base.properties.get("batch_id", -1)) if base else -1
    counts = wh.partition_counts(mart, column, since)
    stored: dict[str, int] = {}
    for f in base.files if base else ():
        key = f.partition.get(column, "")
        stored[key] = stored.get(key, 0) + f.rows
    rewrite = {v for v, (total, new) in counts.items() if stored.get(v, 0) != total - new}
    rewrite |= set(stored) - set(counts)
    append = {v for v, (_, new) in counts.items() if new and v not in rewrite}
    if not rewrite and not append and base is not None:
        return []
    return [
        _Publication(mart, base, Export(mart, f"{out}/rewrite", column, sorted(rewrite)), rewrite),
        _Publication(
            mart, base, Export(mart, f"{out}/append", column, sorted(append), since), rewrite
        ),
    ]


def _commit(
    tables: TableStore,
    wh: Warehouse,
    mart: str,
    base: Snapshot | None,
    written: Sequence[ExportedFile],
    rewrite: set[str] | None,
    batch_id: int,
) -> tuple[int, int]:
    column = marts()[mart]
    added = []
    for f in written:
        where = {column: f.partition} if column else {}
        added.append(
            promote(
                tables.lake,
                mart,
                f.path,
                f.rows,
                owner=f"batch:{batch_id}",
                partition=where,
                tag=str(batch_id),
            )
        )
    snapshot = tables.commit(
        mart,
        base,
        operation=f"dbt:{mart}",
        add=added,
        remove=lambda f: rewrite is None or f.partition.get(column or "") in rewrite,
        columns=wh.columns(mart),
        properties={"batch_id": batch_id},
    )
    # replaced files stay until cleanup_temp_tables, so queries reading them can finish
    return snapshot.rows, len(added)


def role_sources(settings: Settings) -> dict[str, list[RoleTable]]:
    """Every role with the tables declaring it (an empty list when none does), and the identifier
    type of each table's customer ids in identities (from the identity mapping)."""
    try:
        sources = identity_config(settings).sources
    except ConfigError as err:
        log.warning("offline orders and customers match people by email and phone only: %s", err)
        sources = ()
    types = {
        (s.table, column): ts[0] for s in sources if s.table for column, ts in s.columns.items()
    }
    out: dict[str, list[RoleTable]] = {}
    for role in ROLES:
        out[role] = [
            RoleTable(table, fields, types.get((table, fields["customer_id"])))
            for table, fields in role_tables(settings, role)
        ]
    return out
