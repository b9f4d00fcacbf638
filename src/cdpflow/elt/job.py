"""`elt_<name>`: extract a pipeline's resources, check them all, then merge each into its table."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

from cdpflow.elt.config import Resource, Source, load_pipeline
from cdpflow.elt.land import Lander, Staged, check_rows, resource_state
from cdpflow.elt.registry import source_type
from cdpflow.engine import open_elt_merge
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.runs import Interval, job_lock
from cdpflow.secrets import open_secrets
from cdpflow.settings import Settings


@dataclass
class EltResult:
    pipeline: str
    dry_run: bool = False
    loaded: dict[str, int] = field(default_factory=dict)  # table -> rows extracted this run
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows after the merge
    rejected: dict[str, int] = field(default_factory=dict)
    synced: str = ""  # what the source's own sync did first (an Airbyte job), if it has one

    def summary(self) -> str:
        verb = "would load" if self.dry_run else "loaded"
        parts = [
            f"{table}: {verb} {n} rows"
            + ("" if self.dry_run else f", {self.rows.get(table, 0)} in the table")
            + (f", {self.rejected[table]} rejected" if self.rejected.get(table) else "")
            for table, n in self.loaded.items()
        ]
        rejects = " (see elt_rejects)" if any(self.rejected.values()) else ""
        synced = f"{self.synced}; " if self.synced else ""
        return f"elt_{self.pipeline}: {synced}" + "; ".join(parts) + rejects


def run(
    settings: Settings,
    interval: Interval,
    *,
    name: str,
    progress: Callable[[int, int], None] | None = None,
    dry_run: bool = False,
    sync_job: int | None = None,
) -> EltResult:
    """The interval does not bound a pipeline: each run reads what its state has not yet.

    A type with a sync of its own (airbyte) runs it first and extracts once it has succeeded;
    `sync_job` is the job the Airflow DAG's trigger and sensor tasks already followed. A dry
    run starts no sync: it reads what the source already has."""
    pipeline = load_pipeline(settings, name)
    job = f"elt_{name}"
    lake = Lake(settings.lake_url)
    tables = TableStore(lake)
    result = EltResult(name, dry_run)
    staging = settings.work_dir / job / uuid.uuid4().hex
    with job_lock(settings, job):
        try:
            module = source_type(pipeline.type)
            source = Source(settings, open_secrets(settings))
            if hasattr(module, "sync") and not dry_run:
                result.synced = module.sync(pipeline, source, job_id=sync_job)
            lander = Lander(lake, tables, staging, name)
            extracted = []
            for resource in pipeline.resources:
                table = pipeline.table(resource)
                base = tables.current(table)
                start = resource_state(base)
                staged = lander.stage(table, resource.name, base)
                state = module.extract(
                    pipeline, resource, start, source, _checker(resource, staged)
                )
                extracted.append((resource, base, start, staged, state))
                result.loaded[table] = staged.rows
                result.rejected[table] = len(staged.rejects)
            if dry_run:
                return result
            merger = open_elt_merge(settings, tables)
            try:
                for i, (resource, base, start, staged, state) in enumerate(extracted):
                    lander.commit_rejects(resource.name, start, staged.rejects)
                    snapshot = lander.merge(merger, base, resource, staged, state)
                    result.rows[staged.table] = snapshot.rows
                    if progress:
                        progress(i + 1, len(extracted))
            finally:
                merger.close()
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return result


def _checker(resource: Resource, staged: Staged) -> Callable[[pa.Table], None]:
    """What an extract hands each chunk of rows to: checked, then staged."""

    def emit(rows: pa.Table) -> None:
        rows, rejects = check_rows(rows, resource.primary_key, resource.columns)
        staged.rejects.extend(rejects)
        staged.add(rows)

    return emit
