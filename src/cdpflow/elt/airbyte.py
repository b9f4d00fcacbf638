"""Type `airbyte`: sync an existing Airbyte connection, then land what its destination wrote.

A run starts a sync job of `connection_id` through Airbyte's public API (attaching to the job
already running, if any), waits for it to end and, once it has succeeded, reads the files the
connection's destination wrote for each resource (stream) exactly as type `files` does: only
files whose fingerprint is new, so a second sync lands only what that sync added or changed. A
failed or cancelled job fails the run with the job's status and commits nothing.

Under Airflow the waiting is a sensor in reschedule mode between a trigger task and the landing
task (cdpflow.elt.dag), so no worker slot is held while Airbyte works; `cdpflow run elt_<name>`
does the same three steps in one process (`sync`).

Airbyte's file destinations write each record with its metadata columns (`_airbyte_raw_id`,
`_airbyte_extracted_at`, ...) and, without flattening, the record itself as the object
`_airbyte_data`: its fields become the table's columns.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa

from cdpflow.elt import files
from cdpflow.elt.airbyte_client import (
    ENDED_BADLY,
    SUCCEEDED,
    WAITING,
    AirbyteClient,
    Credentials,
    Job,
)
from cdpflow.elt.config import Check, Pipeline, Resource, Source
from cdpflow.errors import TerminalError, TransientError

log = logging.getLogger(__name__)

PIPELINE_KEYS = frozenset({"connection_id", "url", "client_id_secret", "client_secret_secret"})
RESOURCE_KEYS = files.RESOURCE_KEYS
RECORD = "_airbyte_data"  # a destination's record object when it does not flatten
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class SyncFailed(TerminalError):
    """The Airbyte job ended failed or cancelled: nothing of it is landed."""

    def __init__(self, pipeline: str, job: Job) -> None:
        self.job = job
        super().__init__(
            f"Pipeline `{pipeline}`: Airbyte job {job.id} of connection `{job.connection_id}` "
            f"ended `{job.status}` ({', '.join(job.facts()) or 'no details'}); nothing was "
            "landed. See the job's logs in Airbyte, fix the connection and re-run."
        )


class SyncStillRunning(TransientError):
    def __init__(self, pipeline: str, job: Job, waited: float) -> None:
        self.job = job
        super().__init__(
            f"Pipeline `{pipeline}`: {job.describe()} has not ended after {waited:.0f} s "
            "(CDPFLOW_AIRBYTE_TIMEOUT_SECONDS); it is left running and the next run attaches "
            "to it."
        )


def check_pipeline(data: Mapping[str, Any], check: Check) -> dict[str, Any]:
    connection_id = data.get("connection_id")
    if not isinstance(connection_id, str) or not _UUID.fullmatch(connection_id.strip()):
        raise check.fail(
            "connection_id",
            f"must be the UUID of an Airbyte connection (its page's URL ends with it), "
            f"got {connection_id!r}",
        )
    url = data.get("url")
    if url is not None and (not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url)):
        raise check.fail(
            "url",
            "must be the http(s) URL of Airbyte's public API, such as "
            f"http://localhost:8000/api/public/v1 (default: AIRBYTE_URL), got {url!r}",
        )
    named = [k for k in ("client_id_secret", "client_secret_secret") if data.get(k) is not None]
    if len(named) == 1:
        other = ({"client_id_secret", "client_secret_secret"} - set(named)).pop()
        raise check.fail(other, f"is needed with `{named[0]}` (or leave both out: no auth)")
    options: dict[str, Any] = {
        "connection_id": connection_id.strip().lower(),
        "url": url.rstrip("/") if url else None,
    }
    for key in named:
        options[key] = check.secret_name(key, data[key])
    return options


def check_resource(item: Mapping[str, Any], key: str, check: Check) -> dict[str, Any]:
    if not item.get("path"):
        raise check.fail(
            f"{key}.path",
            "an airbyte resource needs the path or glob where the connection's destination "
            f"writes this stream (local or URL), got {item.get('path')!r}",
        )
    return files.check_resource(item, key, check)


def extract(
    pipeline: Pipeline,
    resource: Resource,
    state: Mapping[str, Any],
    source: Source,
    emit: Callable[[pa.Table], None],
) -> dict[str, Any]:
    """Emits the records of the stream's files that are new since `state`, unwrapped."""
    return files.extract(pipeline, resource, state, source, lambda rows: emit(unwrap_records(rows)))


def unwrap_records(rows: pa.Table) -> pa.Table:
    """Columns from the fields of `_airbyte_data` (when the destination nests records); the
    metadata columns stay."""
    if RECORD not in rows.column_names or not pa.types.is_struct(rows.schema.field(RECORD).type):
        return rows
    record = rows[RECORD].combine_chunks()
    out = rows.drop_columns([RECORD])
    for i in range(record.type.num_fields):
        name = record.type.field(i).name
        if name not in out.column_names:
            out = out.append_column(name, record.field(i))
    return out


# -- the sync (the three steps of the DAG, or all of them in `sync`) ---------------------


def client(pipeline: Pipeline, source: Source, **kwargs: Any) -> AirbyteClient:
    """A client of the pipeline's Airbyte, with its credentials read from the secrets store."""
    url = pipeline.options.get("url") or source.settings.airbyte_url
    if not url:
        raise TerminalError(
            f"Pipeline `{pipeline.name}` has no Airbyte URL: set AIRBYTE_URL (such as "
            f"http://localhost:8000/api/public/v1) or `url` in {pipeline.path}."
        )
    credentials = None
    id_name = pipeline.options.get("client_id_secret")
    secret_name = pipeline.options.get("client_secret_secret")
    if id_name and secret_name:
        names = (str(id_name), str(secret_name))
        values = [source.secrets.get(n) for n in names]
        missing = [n for n, v in zip(names, values, strict=True) if not v]
        if missing:
            raise TerminalError(
                f"Pipeline `{pipeline.name}`: secret `{missing[0]}` is not in the secrets store; "
                f"store the Airbyte application's credentials with `cdpflow secrets set "
                f"{names[0]}` and `cdpflow secrets set {names[1]}`."
            )
        credentials = Credentials(str(values[0]), str(values[1]), names)
    return AirbyteClient(
        pipeline.name, url, credentials, attempts=source.settings.airbyte_http_attempts, **kwargs
    )


def start_sync(pipeline: Pipeline, source: Source) -> int:
    """The id of the connection's sync job this run follows: a new one, or the running one."""
    with client(pipeline, source) as airbyte:
        job, attached = airbyte.start_sync(pipeline.options["connection_id"])
    log.info(
        "%s: %s Airbyte job %d", pipeline.name, "attached to" if attached else "started", job.id
    )
    return job.id


def sync_done(pipeline: Pipeline, source: Source, job_id: int) -> bool:
    """True once the job has succeeded, False while it waits or runs.

    Raises:
        SyncFailed: it ended failed or cancelled.
    """
    with client(pipeline, source) as airbyte:
        return _ended(pipeline, airbyte.job(job_id))


def sync(
    pipeline: Pipeline,
    source: Source,
    *,
    job_id: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Start (or attach to) a sync, or follow job `job_id`, until it has succeeded; returns
    what happened, for the run's summary. Raises SyncFailed, or SyncStillRunning after
    CDPFLOW_AIRBYTE_TIMEOUT_SECONDS."""
    settings = source.settings
    with client(pipeline, source, sleep=sleep, clock=clock) as airbyte:
        attached = False
        if job_id is None:
            job, attached = airbyte.start_sync(pipeline.options["connection_id"])
        else:
            job = airbyte.job(job_id)
        started = clock()
        while not _ended(pipeline, job):
            waited = clock() - started
            if waited >= settings.airbyte_timeout_seconds:
                raise SyncStillRunning(pipeline.name, job, waited)
            sleep(settings.airbyte_poll_seconds)
            job = airbyte.job(job.id)
    how = "attached to a running sync, " if attached else ""
    return f"{how}{job.describe()}"


def _ended(pipeline: Pipeline, job: Job) -> bool:
    if job.status == SUCCEEDED:
        return True
    if job.status in ENDED_BADLY:
        raise SyncFailed(pipeline.name, job)
    if job.status in WAITING:
        return False
    raise TerminalError(
        f"Pipeline `{pipeline.name}`: {job.describe()} is in a state cdpflow does not know; "
        f"expected one of {', '.join(sorted(WAITING | ENDED_BADLY | {SUCCEEDED}))}."
    )
